"""S3, SQS and IoT event adapters around the detection service: typed event wrappers,
handlers, dispatch, which S3 keys are inputs (inputs.py) and bounded S3 reads (objects.py).

Nothing here imports boto3 at import time: the HTTP path (which never needs it) must not pay
for it at cold start. boto3 is imported when the first event needs it (app/aws.py).
May import: `app.service`, `app.jobs`, `app.aws`, `app.config`, `app.schemas`, `app.detector`;
never Flask, never `app.http` (a sibling; import-linter checks both).
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
