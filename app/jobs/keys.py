"""Where a job lives in S3: one folder per job under JOBS_PREFIX, found by its id, never listed.

{prefix}{job_id}/job.json      POST /jobs: created_at, expires_at, options, notify, upload expiry
{prefix}{job_id}/image         the client's upload (the presigned POST pins this key)
{prefix}{job_id}/result.json   the worker, written once: {"status": "done", "result"} or "failed"
{prefix}{job_id}/notified.json the worker, once the completion notification is published

The bucket's lifecycle rule deletes the whole folder JOBS_RETENTION_DAYS after it was written.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

JOB_ID = re.compile(r"[0-9a-f]{32}")  # 128 random bits, lowercase hex
REQUEST_NAME, IMAGE_NAME, RESULT_NAME = "job.json", "image", "result.json"
NOTIFIED_NAME = "notified.json"


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

    @property
    def notified(self) -> str:
        return f"{self.prefix}{self.job_id}/{NOTIFIED_NAME}"


def job_path(job_id: str) -> str:
    """GET /jobs/<id>'s path under the API's root: what "links.self" says where no request is
    at hand to build the URL from (the worker's notifications)."""
    return f"/jobs/{job_id}"


def new_job_id() -> str:
    return secrets.token_hex(16)


def job_of_image(key: str, prefix: str) -> str | None:
    """The job id when `key` is a job's uploaded image ({prefix}{job_id}/image), else None."""
    if not key.startswith(prefix):
        return None
    job_id, _, name = key[len(prefix) :].partition("/")
    return job_id if name == IMAGE_NAME and JOB_ID.fullmatch(job_id) else None
