"""S3, SQS and IoT event adapters around the detector: typed event wrappers, handlers,
dispatch, and the job state that POST /jobs and the worker share (jobs.py).

Nothing here imports boto3 at import time: the HTTP path (which never needs it) must not pay
for it at cold start. boto3 is imported when the first event (or job request) needs it.
May import: `app.config`, `app.schemas`, `app.detector`; never Flask.
"""

from .dispatch import EventKind, event_kind, unsupported_event
from .iot import handle_iot_event
from .s3 import handle_s3_event
from .sqs import handle_sqs_event

__all__ = [
    "EventKind",
    "event_kind",
    "handle_iot_event",
    "handle_s3_event",
    "handle_sqs_event",
    "unsupported_event",
]
