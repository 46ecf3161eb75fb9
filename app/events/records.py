"""Read-only typed views of raw Lambda event dicts (S3 notifications, SQS batches, IoT rule
messages).

Raw dicts stop here: handlers read one small property per field. S3 keys arrive URL-encoded
(spaces as '+', UTF-8 as %XX) and are decoded with unquote_plus; IoT messages carry raw keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

S3_EVENT_SOURCE = "aws:s3"
SQS_EVENT_SOURCE = "aws:sqs"
S3_TEST_EVENT = "s3:TestEvent"
OBJECT_CREATED_PREFIX = "ObjectCreated:"


class S3EventRecord:
    """One record of an S3 event notification (eventVersion 2.x)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def event_name(self) -> str:
        return str(self._raw.get("eventName", ""))

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith(OBJECT_CREATED_PREFIX)

    @property
    def bucket_name(self) -> str:
        return str(self._raw["s3"]["bucket"]["name"])

    @property
    def raw_key(self) -> str:
        return str(self._raw["s3"]["object"]["key"])

    @property
    def key(self) -> str:
        """The object key as stored in S3 (decoded from the notification's URL encoding)."""
        return unquote_plus(self.raw_key)

    @property
    def size_bytes(self) -> int | None:
        size = self._raw["s3"]["object"].get("size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    @property
    def etag(self) -> str | None:
        return self._raw["s3"]["object"].get("eTag")

    @property
    def version_id(self) -> str | None:
        return self._raw["s3"]["object"].get("versionId")


class S3Event:
    """An S3 event notification: one or more records."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @staticmethod
    def matches(raw: Any) -> bool:
        return _all_from(raw, S3_EVENT_SOURCE)

    @property
    def records(self) -> tuple[S3EventRecord, ...]:
        return tuple(S3EventRecord(record) for record in self._raw.get("Records", ()))


def _all_from(raw: Any, source: str) -> bool:
    records = raw.get("Records") if isinstance(raw, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == source for r in records)
    )


def is_s3_test_event(raw: Any) -> bool:
    """The message S3 sends once when a bucket's notifications are set up (nothing to do)."""
    return isinstance(raw, Mapping) and raw.get("Event") == S3_TEST_EVENT


class SqsMessage:
    """One record of an SQS batch: the message id (what a partial batch response names) and
    its body, here an S3 event notification as JSON."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def message_id(self) -> str | None:
        value = self._raw.get("messageId")
        return value if isinstance(value, str) and value else None

    @property
    def body(self) -> str:
        return str(self._raw.get("body", ""))

    @property
    def receive_count(self) -> int:
        """ApproximateReceiveCount: 1 on the first delivery."""
        try:
            return int(self._raw.get("attributes", {}).get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError, AttributeError):
            return 1


class SqsEvent:
    """A batch of SQS messages delivered by an event source mapping."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @staticmethod
    def matches(raw: Any) -> bool:
        return _all_from(raw, SQS_EVENT_SOURCE)

    @property
    def messages(self) -> tuple[SqsMessage, ...]:
        return tuple(SqsMessage(record) for record in self._raw.get("Records", ()))


@dataclass(frozen=True)
class S3ObjectRef:
    """An S3 object named in an IoT message: raw (not URL-encoded) key."""

    bucket: str
    key: str


class IotMessage:
    """An IoT rule delivery (`SELECT * FROM ...`): the device's JSON message itself.

    `device_id` and `s3` belong to the trigger; every other field is a POST /detect field.
    """

    TRIGGER_FIELDS = ("device_id", "s3")

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @property
    def device_id(self) -> Any:
        return self._raw.get("device_id")

    @property
    def s3(self) -> Any:
        """The raw "s3" field (validated by the handler), or None."""
        return self._raw.get("s3")

    @property
    def detect_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self._raw.items() if k not in self.TRIGGER_FIELDS}
