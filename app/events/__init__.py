"""S3 and IoT event adapters around the detector: typed event wrappers, handlers, dispatch.

Nothing here imports boto3 at import time: the HTTP path (which never needs it) must not pay
for it at cold start. boto3 is imported when the first S3 or IoT event arrives.
"""

from .dispatch import EventKind, event_kind, unsupported_event
from .iot import handle_iot_event
from .s3 import handle_s3_event

__all__ = [
    "EventKind",
    "event_kind",
    "handle_iot_event",
    "handle_s3_event",
    "unsupported_event",
]
