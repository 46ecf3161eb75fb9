"""Job state in S3: where a job's request, image and result live, and how they are read.

One folder per job under JOBS_PREFIX in JOBS_BUCKET, found by its id, never listed:

    {prefix}{job_id}/job.json      POST /jobs: created_at, options, when the upload expires
    {prefix}{job_id}/image         the client's upload (the presigned POST pins this key)
    {prefix}{job_id}/result.json   the worker: {"status": "done", "result"} or "failed", "error"

The status is derived, never stored twice: result.json decides it when present; else an
uploaded image means `queued`; else `awaiting_upload`. Every write is a whole object, so a
re-delivered notification simply writes the same result again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Settings
from ..detector.errors import DetectionError
from . import aws
from .errors import JobNotFound, JobsUnavailable

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"[0-9a-f]{32}")  # 128 random bits, lowercase hex
REQUEST_NAME, IMAGE_NAME, RESULT_NAME = "job.json", "image", "result.json"


@dataclass(frozen=True)
class JobKeys:
    """The S3 keys of one job."""

    prefix: str
    job_id: str

    @property
    def request(self) -> str:
        return f"{self.prefix}{self.job_id}/{REQUEST_NAME}"

    @property
    def image(self) -> str:
        return f"{self.prefix}{self.job_id}/{IMAGE_NAME}"

    @property
    def result(self) -> str:
        return f"{self.prefix}{self.job_id}/{RESULT_NAME}"


def new_job_id() -> str:
    return secrets.token_hex(16)


def job_of_image(key: str, prefix: str) -> str | None:
    """The job id when `key` is a job's uploaded image ({prefix}{job_id}/image), else None."""
    if not key.startswith(prefix):
        return None
    job_id, _, name = key[len(prefix) :].partition("/")
    return job_id if name == IMAGE_NAME and JOB_ID.fullmatch(job_id) else None


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
        put_json(s3, bucket, keys.request, request)
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
        request = get_json(s3, bucket, keys.request)
        if request is None:
            raise JobNotFound(f"There is no job {job_id}.")
        view = {"job_id": job_id, "created_at": request.get("created_at")}
        outcome = get_json(s3, bucket, keys.result)
        if outcome is not None:
            return {**view, **outcome}
        if head(s3, bucket, keys.image) is not None:
            return {**view, "status": "queued"}
    return {
        **view,
        "status": "awaiting_upload",
        "upload_expires_at": request.get("upload_expires_at"),
    }


def outcome_body(result: dict | None = None, error: DetectionError | None = None) -> dict:
    """result.json: done with the POST /detect body, or failed with the error."""
    finished_at = utc_iso(datetime.now(UTC))
    if error is not None:
        failed = {"code": error.code, "message": error.message}
        return {"status": "failed", "finished_at": finished_at, "error": failed}
    return {"status": "done", "finished_at": finished_at, "result": result}


def put_json(s3: Any, bucket: str, key: str, body: dict, **extra: Any) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", **extra)


def get_json(s3: Any, bucket: str, key: str) -> dict | None:
    """The object parsed as JSON, or None when it does not exist."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) in aws.NOT_FOUND_CODES:
            return None
        raise
    with response["Body"] as body:
        return json.loads(body.read())


def head(s3: Any, bucket: str, key: str) -> dict | None:
    """HeadObject's answer, or None when the object does not exist."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) in aws.NOT_FOUND_CODES:
            return None
        raise


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
