"""A job's life in S3: created with a presigned upload, read back, finished with a result,
expired after JOBS_RETENTION_DAYS.

The status is derived, never stored twice: result.json decides it when present; else an
uploaded image means `queued`; else `awaiting_upload`. result.json is written once, with S3's
conditional write (If-None-Match: *): the first result is final, so a re-delivered
notification (or a second upload to the same key) cannot change a finished job.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
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


def expires_at(created: datetime, retention_days: int) -> datetime:
    """When the lifecycle rule deletes what was written at `created`: S3 adds the rule's days
    and rounds up to the next midnight UTC (removal itself may lag; the API stops here)."""
    moment = created.astimezone(UTC) + timedelta(days=retention_days)
    return datetime.combine(moment.date() + timedelta(days=1), time.min, UTC)


def kept_for(settings: Settings) -> str:
    days = settings.jobs_retention_days
    return f"jobs are kept {days} day{'' if days == 1 else 's'} after they are created"


def require_bucket(settings: Settings) -> str:
    if not settings.jobs_bucket:
        raise JobsUnavailable(
            "Jobs are not configured on this server: set JOBS_BUCKET to the S3 bucket that "
            "holds job uploads and results."
        )
    return settings.jobs_bucket


def create_job(
    s3: Any, settings: Settings, options: dict, *, notify: bool = True
) -> tuple[dict, dict]:
    """Store a new job's request (job.json); (that request, the presigned upload)."""
    bucket = require_bucket(settings)
    keys = JobKeys(settings.jobs_prefix, new_job_id())
    now = datetime.now(UTC)
    expires_s = settings.job_upload_expires_s
    request = {
        "job_id": keys.job_id,
        "created_at": utc_iso(now),
        "expires_at": utc_iso(expires_at(now, settings.jobs_retention_days)),
        "upload_expires_at": utc_iso(now + timedelta(seconds=expires_s)),
        "options": options,
        "notify": notify,
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
    return request, upload


def read_job(s3: Any, settings: Settings, job_id: str) -> dict:
    """The job as GET /jobs/<id> shows it (without links). Raises JobNotFound, also for a job
    past its expires_at that S3 has not removed yet: the answer does not wait on S3's lag."""
    bucket = require_bucket(settings)
    if not JOB_ID.fullmatch(job_id):
        raise JobNotFound(f"There is no job {job_id[:64]!r}: job ids are 32 lowercase hex digits.")
    keys = JobKeys(settings.jobs_prefix, job_id)
    gone = JobNotFound(
        f"There is no job {job_id}: either it never existed or it expired ({kept_for(settings)})."
    )
    with _storage_errors():
        request = read_request(s3, bucket, keys)
        if request is None:
            raise gone
        expiry = _expiry(request, settings)
        if expiry is not None and datetime.now(UTC) >= expiry:
            raise gone
        view = {"job_id": job_id, "created_at": request.get("created_at")}
        if expiry is not None:
            view["expires_at"] = utc_iso(expiry)
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


def _expiry(request: dict, settings: Settings) -> datetime | None:
    """From created_at and today's JOBS_RETENTION_DAYS: a changed lifecycle rule applies to the
    objects already there too, so the expires_at stored at creation may be out of date."""
    try:
        created = datetime.fromisoformat(str(request.get("created_at")))
    except ValueError:
        return None
    created = created if created.tzinfo else created.replace(tzinfo=UTC)  # ours are UTC
    return expires_at(created, settings.jobs_retention_days)


def read_request(s3: Any, bucket: str, keys: JobKeys) -> dict | None:
    """job.json (created_at, options, ...), or None when there is no such job."""
    return aws.get_json(s3, bucket, keys.request)


def result_exists(s3: Any, bucket: str, keys: JobKeys) -> bool:
    return aws.head(s3, bucket, keys.result) is not None


def read_result(s3: Any, bucket: str, keys: JobKeys) -> dict | None:
    """result.json (the outcome), or None while the job is not finished."""
    return aws.get_json(s3, bucket, keys.result)


def outcome_body(result: dict | None = None, error: DetectionError | None = None) -> dict:
    """result.json: done with the POST /detect body, or failed with the error."""
    finished_at = utc_iso(datetime.now(UTC))
    if error is not None:
        return {"status": JobStatus.FAILED.value, "finished_at": finished_at, **error_of(error)}
    return {"status": JobStatus.DONE.value, "finished_at": finished_at, "result": result}


def finish_job(
    s3: Any,
    bucket: str,
    keys: JobKeys,
    result: dict | None = None,
    error: DetectionError | None = None,
) -> tuple[dict, bool]:
    """Write result.json unless it exists: (the job's outcome, whether this call wrote it).

    When another delivery finished the job first, its outcome is the job's and is returned.
    """
    outcome = outcome_body(result, error)
    try:
        aws.put_json(s3, bucket, keys.result, outcome, IfNoneMatch="*")
    except Exception as exc:
        if aws.error_code(exc) != "PreconditionFailed":
            raise  # ConditionalRequestConflict (a write in flight) is transient: retried
        existing = read_result(s3, bucket, keys)
        if existing is None:
            raise  # gone again in between (expired): this delivery is retried
        return existing, False
    return outcome, True


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """AWS failures on the HTTP path become 503 jobs_unavailable; the detail goes to the log."""
    try:
        yield
    except DetectionError:
        raise
    except Exception as exc:
        if aws.is_transient(exc):
            cause = aws.transient_cause(exc, "storage")
            log.warning("job storage failed transiently (%s): %s", cause, exc)
            raise JobsUnavailable(
                f"Job storage cannot be used right now: {cause}; retry in a few seconds."
            ) from exc
        if aws.is_client_error(exc):
            log.error("job storage refused the request: %s", exc)
            raise JobsUnavailable(
                "Job storage cannot be used right now; the cause is in the server log."
            ) from exc
        raise
