"""Read-only typed views of raw Lambda event dicts (S3 notifications, IoT rule messages).

Raw dicts stop here: handlers read one small property per field. S3 keys arrive URL-encoded
(spaces as '+', UTF-8 as %XX) and are decoded with unquote_plus; IoT messages carry raw keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

S3_EVENT_SOURCE = "aws:s3"
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
        records = raw.get("Records") if isinstance(raw, Mapping) else None
        return (
            isinstance(records, list)
            and bool(records)
            and all(
                isinstance(r, Mapping) and r.get("eventSource") == S3_EVENT_SOURCE for r in records
            )
        )

    @property
    def records(self) -> tuple[S3EventRecord, ...]:
        return tuple(S3EventRecord(record) for record in self._raw.get("Records", ()))


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
