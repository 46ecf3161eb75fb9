"""S3 ObjectCreated records: detect on each uploaded image, write the result JSON beside it.

Records arrive straight from S3 (handle_s3_event) or inside SQS messages (app/events/sqs.py);
both call process_record. A job's image ({JOBS_PREFIX}{id}/image) gets its result written as
the job's result.json (app/events/jobs.py); any other key gets {RESULTS_PREFIX}{key}.json.

Every record is processed, whatever happens to the others. Permanent failures (not an image,
too large, gone) are written as an error result; transient AWS failures make the invocation
fail at the end so that Lambda retries the event. Results are idempotent (same key, same
body apart from timings_ms), so re-processing the records that had succeeded is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..config import S3_MAX_KEY_BYTES, Settings
from ..detector import DetectOptions, Model, detect_bytes
from ..detector.errors import DetectionError, InvalidRequest
from ..schemas.annotated import add_annotated_image
from ..schemas.detect import detection_response, parse_detect_request
from . import aws, jobs
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
class Worker:
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
    worker = Worker(model, settings, options, s3 or aws.client("s3"))
    outcomes = [process_record(record, worker) for record in S3Event(event).records]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        keys = ", ".join(f"s3://{o.bucket}/{o.key}" for o in failed)[:1000]
        raise RetryLater(f"{len(failed)} of {len(outcomes)} record(s) failed, retry: {keys}")
    return {"records": [o.as_dict() for o in outcomes]}


def result_key(key: str, settings: Settings) -> str:
    """Where the result of object `key` goes: {RESULTS_PREFIX}{key}.json."""
    return f"{settings.results_prefix}{key}.json"


def process_record(record: S3EventRecord, worker: Worker) -> RecordOutcome:
    """Detect on one record's object and write its result. Never raises: a failure to retry
    (transient, or the result could not be written) comes back as status "failed"."""
    try:
        bucket, key = record.bucket_name, record.key
    except (KeyError, TypeError, AttributeError):
        log.error("malformed S3 record skipped: %.300r", record)
        return RecordOutcome("", "", "skipped", code="malformed_record")
    skip = _skip_reason(record, worker.settings)
    if skip:
        log.info("skipped s3://%s/%s: %s", bucket, key, skip)
        return RecordOutcome(bucket, key, "skipped", code=skip)
    job_id = _job_of(bucket, key, worker.settings)
    try:
        if job_id is not None:
            target, code = _process_job_image(record, job_id, worker)
        else:
            target, code = _process_upload(record, worker)
    except Exception as exc:  # one record never stops the others
        if isinstance(exc, RetryLater) or aws.is_transient(exc):
            log.warning("transient failure on s3://%s/%s: %s", bucket, key, exc)
        else:
            log.exception("failed on s3://%s/%s", bucket, key)
        return RecordOutcome(bucket, key, "failed", code=getattr(exc, "code", "unexpected"))
    if target is None:
        return RecordOutcome(bucket, key, "skipped", code=code)
    return RecordOutcome(bucket, key, "error" if code else "ok", result_key=target, code=code)


def _process_upload(record: S3EventRecord, worker: Worker) -> tuple[str, str | None]:
    """(result key, error code or None): {RESULTS_PREFIX}{key}.json in the results bucket."""
    results_bucket = worker.settings.results_bucket or record.bucket_name
    target = result_key(record.key, worker.settings)
    body, code = _detect_record(record, worker)
    # The source's ETag as metadata: `python -m app enqueue` skips up-to-date results by HEAD.
    etag = body["source"].get("etag") or ""
    jobs.put_json(worker.s3, results_bucket, target, body, Metadata={"source-etag": etag})
    return target, code


def _process_job_image(
    record: S3EventRecord, job_id: str, worker: Worker
) -> tuple[str | None, str | None]:
    """(result key, error code or None) for a job's image; (None, reason) when no such job."""
    settings, bucket = worker.settings, record.bucket_name
    keys = jobs.JobKeys(settings.jobs_prefix, job_id)
    request = _read_job_request(worker.s3, bucket, keys)
    if request is None:
        log.warning("image s3://%s/%s has no job request: skipped", bucket, record.key)
        return None, "unknown_job"
    try:
        obj = aws.read_object(
            worker.s3,
            bucket,
            keys.image,
            # A job's image answers as POST /detect would for an image over its limit.
            max_bytes=aws.SizeCap(
                settings.job_max_image_bytes, "JOB_MAX_IMAGE_BYTES", "image_too_large"
            ),
            known_size=record.size_bytes,
        )
        result = job_result(obj.data, request.get("options") or {}, worker)
        outcome, code = jobs.outcome_body(result=result), None
    except RetryLater:
        raise
    except DetectionError as exc:
        log.info("job %s failed: %s", job_id, exc.code)
        outcome, code = jobs.outcome_body(error=exc), exc.code
    jobs.put_json(worker.s3, bucket, keys.result, outcome)
    return keys.result, code


def job_result(data: bytes, options: dict, worker: Worker) -> dict:
    """The POST /detect answer for a job's image and its stored options."""
    settings, model = worker.settings, worker.model
    max_bytes = settings.job_max_image_bytes
    parsed = parse_detect_request(
        dict(options), settings, model.info, max_image_bytes=max_bytes, image_bytes=data
    )
    result = detect_bytes(model, data, parsed.options, max_pixels=settings.max_image_pixels)
    body = detection_response(result, model.info)
    if parsed.annotate:
        add_annotated_image(body, data, result, model, settings)
    return body


def _read_job_request(s3: Any, bucket: str, keys: jobs.JobKeys) -> dict | None:
    try:
        return jobs.get_json(s3, bucket, keys.request)
    except Exception as exc:
        if aws.is_client_error(exc) or aws.is_transient(exc):
            raise aws.source_error(exc, bucket, keys.request) from exc
        raise


def _job_of(bucket: str, key: str, settings: Settings) -> str | None:
    if bucket != settings.jobs_bucket:
        return None
    return jobs.job_of_image(key, settings.jobs_prefix)


def _skip_reason(record: S3EventRecord, settings: Settings) -> str | None:
    """Why this record gets no result at all, or None to process it."""
    key, bucket = record.key, record.bucket_name
    results_bucket = settings.results_bucket or bucket
    if not record.is_object_created:
        return "not_object_created"
    if bucket == settings.jobs_bucket and key.startswith(settings.jobs_prefix):
        # A job's own image is processed; its job.json and result.json never are.
        return None if jobs.job_of_image(key, settings.jobs_prefix) else "job_state_object"
    if record.bucket_name == results_bucket and key.startswith(settings.results_prefix):
        return "result_object"  # the recursion guard: never process our own output
    if key.endswith("/"):
        return "folder_marker"  # what "Create folder" in the console makes: no image
    if len(result_key(key, settings).encode()) > S3_MAX_KEY_BYTES:
        return "result_key_too_long"  # S3 could not store the result
    return None


def _detect_record(record: S3EventRecord, job: Worker) -> tuple[dict, str | None]:
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
