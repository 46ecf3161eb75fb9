"""A job's life in S3: created with a presigned upload, read back, finished with a result.

The status is derived, never stored twice: result.json decides it when present; else an
uploaded image means `queued`; else `awaiting_upload`. Every write is a whole object, so a
re-delivered notification simply writes the same result again.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import aws
from ..config import Settings
from ..detector.errors import DetectionError
from ..schemas.errors import error_of
from .errors import JobNotFound, JobsUnavailable
from .keys import JOB_ID, JobKeys, new_job_id

log = logging.getLogger(__name__)


class JobStatus(enum.StrEnum):
    """What GET /jobs/<id> answers as "status"."""

    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def require_bucket(settings: Settings) -> str:
    if not settings.jobs_bucket:
        raise JobsUnavailable(
            "Jobs are not configured on this server: set JOBS_BUCKET to the S3 bucket that "
            "holds job uploads and results."
        )
    return settings.jobs_bucket


def create_job(s3: Any, settings: Settings, options: dict) -> tuple[str, dict]:
    """Store a new job's request; (job_id, presigned upload)."""
    bucket = require_bucket(settings)
    keys = JobKeys(settings.jobs_prefix, new_job_id())
    now = datetime.now(UTC)
    expires_s = settings.job_upload_expires_s
    request = {
        "job_id": keys.job_id,
        "created_at": utc_iso(now),
        "upload_expires_at": utc_iso(now + timedelta(seconds=expires_s)),
        "options": options,
    }
    with _storage_errors():
        aws.put_json(s3, bucket, keys.request, request)
        post = s3.generate_presigned_post(
            Bucket=bucket,
            Key=keys.image,
            Conditions=[["content-length-range", 1, settings.job_max_image_bytes]],
            ExpiresIn=expires_s,
        )
    upload = {
        "method": "POST",
        "url": post["url"],
        "fields": post["fields"],
        "max_bytes": settings.job_max_image_bytes,
        "expires_in": expires_s,
    }
    return keys.job_id, upload


def read_job(s3: Any, settings: Settings, job_id: str) -> dict:
    """The job as GET /jobs/<id> shows it (without links). Raises JobNotFound."""
    bucket = require_bucket(settings)
    if not JOB_ID.fullmatch(job_id):
        raise JobNotFound(f"There is no job {job_id[:64]!r}: job ids are 32 lowercase hex digits.")
    keys = JobKeys(settings.jobs_prefix, job_id)
    with _storage_errors():
        request = read_request(s3, bucket, keys)
        if request is None:
            raise JobNotFound(f"There is no job {job_id}.")
        view = {"job_id": job_id, "created_at": request.get("created_at")}
        outcome = aws.get_json(s3, bucket, keys.result)
        if outcome is not None:
            return {**view, **outcome}
        if aws.head(s3, bucket, keys.image) is not None:
            return {**view, "status": JobStatus.QUEUED.value}
    return {
        **view,
        "status": JobStatus.AWAITING_UPLOAD.value,
        "upload_expires_at": request.get("upload_expires_at"),
    }


def read_request(s3: Any, bucket: str, keys: JobKeys) -> dict | None:
    """job.json (created_at, options, ...), or None when there is no such job."""
    return aws.get_json(s3, bucket, keys.request)


def result_exists(s3: Any, bucket: str, keys: JobKeys) -> bool:
    return aws.head(s3, bucket, keys.result) is not None


def outcome_body(result: dict | None = None, error: DetectionError | None = None) -> dict:
    """result.json: done with the POST /detect body, or failed with the error."""
    finished_at = utc_iso(datetime.now(UTC))
    if error is not None:
        return {"status": JobStatus.FAILED.value, "finished_at": finished_at, **error_of(error)}
    return {"status": JobStatus.DONE.value, "finished_at": finished_at, "result": result}


def write_result(
    s3: Any,
    bucket: str,
    keys: JobKeys,
    result: dict | None = None,
    error: DetectionError | None = None,
) -> None:
    """Finish the job: result.json with the answer body, or with the error."""
    aws.put_json(s3, bucket, keys.result, outcome_body(result, error))


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """AWS failures on the HTTP path become 503 jobs_unavailable; the detail goes to the log."""
    try:
        yield
    except DetectionError:
        raise
    except Exception as exc:
        if aws.is_transient(exc):
            log.warning("job storage failed transiently: %s", exc)
            raise JobsUnavailable("Job storage is busy; retry in a few seconds.") from exc
        if aws.is_client_error(exc):
            log.error("job storage refused the request: %s", exc)
            raise JobsUnavailable(
                "Job storage cannot be used right now; the cause is in the server log."
            ) from exc
        raise
