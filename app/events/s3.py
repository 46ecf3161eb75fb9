"""S3 ObjectCreated records: detect on each uploaded image, write the result JSON beside it.

Records arrive straight from S3 (handle_s3_event) or inside SQS messages (app/events/sqs.py);
both call process_record. Which keys are inputs is app/events/inputs.py's rule. A job's image
({JOBS_PREFIX}{id}/image) gets its result written once as the job's result.json, then its
completion notification published (app/jobs/); a re-delivery of a finished job detects
nothing again and publishes only what was not published. Any other key gets
{RESULTS_PREFIX}{key}.json.

Every record is processed, whatever happens to the others. Permanent failures (not an image,
too large, gone) are written as an error result; transient AWS failures make the invocation
fail at the end so that Lambda retries the event. Results are idempotent (same key, same
body apart from timings_ms), so re-processing the records that had succeeded is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import aws, jobs
from ..config import Settings
from ..detector.errors import DetectionError, InvalidRequest
from ..observability import loggable
from ..schemas.detect import DetectParams
from ..schemas.errors import error_of
from ..service import DetectionService
from . import objects
from .errors import RetryLater
from .inputs import job_of, model_of_key, result_key, skip_reason
from .options import trigger_options
from .records import S3Event, S3EventRecord

log = logging.getLogger(__name__)

# SLICING: S3 uploads carry no options: they take POST /detect's defaults from configuration
# (DEFAULT_* and SLICING_*, or the model's recommended settings). Set fields here to pin them.
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

    service: DetectionService
    params: DetectParams
    s3: Any
    sns: Any = None  # None: app/aws.py's, made when the first notification is published

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def params_for(self, key: str) -> DetectParams:
        """The trigger's options for an upload, with the model its key names (if any)."""
        name = model_of_key(key, self.service.names)
        if name is None:
            return self.params
        return self.service.options({**S3_DETECT_FIELDS, "model": name})

    @classmethod
    def start(cls, service: DetectionService, s3: Any, sns: Any = None) -> Worker:
        """Check the model and the trigger's options once, before any record: without a model
        nothing can be processed (ModelError), and a bad option fails every record alike.
        service: the app's (every model by name; its settings name the buckets and limits)."""
        params = trigger_options(service, S3_DETECT_FIELDS)
        return cls(service, params, s3 or aws.client("s3"), sns)


def handle_s3_event(
    event: dict, service: DetectionService, *, s3: Any = None, sns: Any = None
) -> dict:
    """Process every record; raise RetryLater after the last one if any failed transiently."""
    if not S3Event.matches(event):
        raise InvalidRequest("Not an S3 event notification: no Records from aws:s3.")
    worker = Worker.start(service, s3, sns)
    outcomes = [process_record(record, worker) for record in S3Event(event).records]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        keys = ", ".join(f"s3://{o.bucket}/{o.key}" for o in failed)[:1000]
        raise RetryLater(f"{len(failed)} of {len(outcomes)} record(s) failed, retry: {keys}")
    return {"records": [o.as_dict() for o in outcomes]}


def process_record(record: S3EventRecord, worker: Worker) -> RecordOutcome:
    """Detect on one record's object and write its result. Never raises: a failure to retry
    (transient, or the result could not be written) comes back as status "failed"."""
    try:
        bucket, key = record.bucket_name, record.key
    except (KeyError, TypeError, AttributeError):
        log.error("malformed S3 record skipped: %.300r", record)
        return RecordOutcome("", "", "skipped", code="malformed_record")
    skip = "not_object_created" if not record.is_object_created else None
    skip = skip or skip_reason(bucket, key, worker.settings)
    if skip:
        log.info("skipped s3://%s/%s: %s", bucket, loggable(key), skip)
        return RecordOutcome(bucket, key, "skipped", code=skip)
    job_id = job_of(bucket, key, worker.settings)
    try:
        if job_id is not None:
            target, code = _process_job_image(record, job_id, worker)
        else:
            target, code = _process_upload(record, worker)
    except Exception as exc:  # one record never stops the others
        if isinstance(exc, RetryLater) or aws.is_transient(exc):
            log.warning("transient failure on s3://%s/%s: %s", bucket, loggable(key), exc)
        else:
            log.exception("failed on s3://%s/%s", bucket, loggable(key))
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
    aws.put_json(worker.s3, results_bucket, target, body, Metadata={"source-etag": etag})
    return target, code


def _process_job_image(
    record: S3EventRecord, job_id: str, worker: Worker
) -> tuple[str | None, str | None]:
    """(result key, error code or None) for a job's image; (None, reason) when no such job."""
    settings, bucket = worker.settings, record.bucket_name
    keys = jobs.JobKeys(settings.jobs_prefix, job_id)
    request = _read_job_request(worker.s3, bucket, keys)
    if request is None:
        log.warning("image s3://%s/%s has no job request: skipped", bucket, loggable(record.key))
        return None, "unknown_job"
    outcome = jobs.read_result(worker.s3, bucket, keys)  # finished: a re-delivery
    if outcome is None:
        result, error = _detect_job_image(record, keys, request, worker)
        outcome, _ = jobs.finish_job(worker.s3, bucket, keys, result, error)
    jobs.notify_finished(settings, worker.s3, bucket, keys, request, outcome, sns=worker.sns)
    return keys.result, outcome.get("error", {}).get("code")


def _detect_job_image(
    record: S3EventRecord, keys: jobs.JobKeys, request: dict, worker: Worker
) -> tuple[dict | None, DetectionError | None]:
    """(the POST /detect body, None), or (None, the error) when the image cannot be used."""
    settings = worker.settings
    try:
        obj = objects.read_object(
            worker.s3,
            record.bucket_name,
            keys.image,
            # A job's image answers as POST /detect would for an image over its limit.
            max_bytes=objects.SizeCap(
                settings.job_max_image_bytes, "JOB_MAX_IMAGE_BYTES", "image_too_large"
            ),
            known_size=record.size_bytes,
        )
        # The stored options were validated by POST /jobs; the image came by upload.
        params = worker.service.options(dict(request.get("options") or {}))
        return worker.service.detect(obj.data, params), None
    except RetryLater:
        raise
    except DetectionError as exc:
        log.info("job %s failed: %s", keys.job_id, exc.code)
        return None, exc


def _read_job_request(s3: Any, bucket: str, keys: jobs.JobKeys) -> dict | None:
    try:
        return jobs.read_request(s3, bucket, keys)
    except Exception as exc:
        if aws.is_client_error(exc) or aws.is_transient(exc):
            raise objects.source_error(exc, bucket, keys.request) from exc
        raise


def _detect_record(record: S3EventRecord, worker: Worker) -> tuple[dict, str | None]:
    """(result body, error code or None). Permanent failures give an error body."""
    bucket, key = record.bucket_name, record.key
    source = {"bucket": bucket, "key": key, "etag": record.etag, "version_id": record.version_id}
    try:
        obj = objects.read_object(
            worker.s3,
            bucket,
            key,
            max_bytes=worker.settings.s3_max_object_bytes,
            known_size=record.size_bytes,
        )
        # What was actually read wins over what the notification said.
        source.update(etag=obj.etag or record.etag, version_id=obj.version_id or record.version_id)
        body = worker.service.detect(obj.data, worker.params_for(key))
    except RetryLater:
        raise
    except DetectionError as exc:
        log.info("error result for s3://%s/%s: %s", bucket, loggable(key), exc.code)
        return {**error_of(exc), "source": source}, exc.code
    return {**body, "source": source}, None
