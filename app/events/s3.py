"""S3 ObjectCreated trigger: detect on each uploaded image, write the result JSON beside it.

Every record is processed, whatever happens to the others. Permanent failures (not an image,
too large, gone) are written as an error result; transient AWS failures make the invocation
fail at the end so that Lambda retries the event. Results are idempotent (same key, same
body apart from timings_ms), so re-processing the records that had succeeded is harmless.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..config import S3_MAX_KEY_BYTES, Settings
from ..detector import DetectOptions, Model
from ..detector.errors import DetectionError, InvalidRequest
from . import aws
from .detection import detect_body, error_result, parse_options, require_model
from .errors import RetryLater
from .records import S3Event, S3EventRecord

log = logging.getLogger(__name__)

# SLICING: S3 uploads carry no options: they take POST /detect's defaults from configuration
# (DEFAULT_*, and the SLICING_* settings once sliced inference lands). Set fields here to pin them.
S3_DETECT_FIELDS: dict[str, Any] = {}


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record: ok, error (an error result was written), skipped, failed."""

    bucket: str
    key: str
    status: str
    result_key: str | None = None
    code: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class _Job:
    """What every record of one event is processed with."""

    model: Model
    settings: Settings
    options: DetectOptions
    s3: Any


def handle_s3_event(
    event: dict, model: Model | None, settings: Settings, *, s3: Any = None
) -> dict:
    """Process every record; raise RetryLater after the last one if any failed transiently."""
    if not S3Event.matches(event):
        raise InvalidRequest("Not an S3 event notification: no Records from aws:s3.")
    model = require_model(model)
    options = parse_options(S3_DETECT_FIELDS, settings, model)
    job = _Job(model, settings, options, s3 or aws.client("s3"))
    outcomes = [_process(record, job) for record in S3Event(event).records]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        keys = ", ".join(f"s3://{o.bucket}/{o.key}" for o in failed)[:1000]
        raise RetryLater(f"{len(failed)} of {len(outcomes)} record(s) failed, retry: {keys}")
    return {"records": [o.as_dict() for o in outcomes]}


def result_key(key: str, settings: Settings) -> str:
    """Where the result of object `key` goes: {RESULTS_PREFIX}{key}.json."""
    return f"{settings.results_prefix}{key}.json"


def _process(record: S3EventRecord, job: _Job) -> RecordOutcome:
    try:
        bucket, key = record.bucket_name, record.key
    except (KeyError, TypeError, AttributeError):
        log.error("malformed S3 record skipped: %.300r", record)
        return RecordOutcome("", "", "skipped", code="malformed_record")
    results_bucket = job.settings.results_bucket or bucket
    skip = _skip_reason(record, results_bucket, job.settings)
    if skip:
        log.info("skipped s3://%s/%s: %s", bucket, key, skip)
        return RecordOutcome(bucket, key, "skipped", code=skip)
    target = result_key(key, job.settings)
    try:
        body, code = _detect_record(record, job)
        _write(job.s3, results_bucket, target, body)
    except Exception as exc:  # one record never stops the others
        if isinstance(exc, RetryLater) or aws.is_transient(exc):
            log.warning("transient failure on s3://%s/%s: %s", bucket, key, exc)
        else:
            log.exception("failed on s3://%s/%s", bucket, key)
        return RecordOutcome(bucket, key, "failed", code=getattr(exc, "code", "unexpected"))
    return RecordOutcome(bucket, key, "error" if code else "ok", result_key=target, code=code)


def _skip_reason(record: S3EventRecord, results_bucket: str, settings: Settings) -> str | None:
    """Why this record gets no result at all, or None to process it."""
    key = record.key
    if not record.is_object_created:
        return "not_object_created"
    if record.bucket_name == results_bucket and key.startswith(settings.results_prefix):
        return "result_object"  # the recursion guard: never process our own output
    if key.endswith("/"):
        return "folder_marker"  # what "Create folder" in the console makes: no image
    if len(result_key(key, settings).encode()) > S3_MAX_KEY_BYTES:
        return "result_key_too_long"  # S3 could not store the result
    return None


def _detect_record(record: S3EventRecord, job: _Job) -> tuple[dict, str | None]:
    """(result body, error code or None). Permanent failures give an error body."""
    bucket, key = record.bucket_name, record.key
    source = {"bucket": bucket, "key": key, "etag": record.etag, "version_id": record.version_id}
    try:
        obj = aws.read_object(
            job.s3,
            bucket,
            key,
            max_bytes=job.settings.s3_max_object_bytes,
            known_size=record.size_bytes,
        )
        # What was actually read wins over what the notification said.
        source.update(etag=obj.etag or record.etag, version_id=obj.version_id or record.version_id)
        body = detect_body(job.model, obj.data, job.options, job.settings)
    except RetryLater:
        raise
    except DetectionError as exc:
        log.info("error result for s3://%s/%s: %s", bucket, key, exc.code)
        return {**error_result(exc), "source": source}, exc.code
    return {**body, "source": source}, None


def _write(s3: Any, bucket: str, key: str, body: dict) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
