"""Where a job lives in S3: one folder per job under JOBS_PREFIX, found by its id, never listed.

{prefix}{job_id}/job.json      POST /jobs: created_at, options, when the upload expires
{prefix}{job_id}/image         the client's upload (the presigned POST pins this key)
{prefix}{job_id}/result.json   the worker: {"status": "done", "result"} or "failed", "error"
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

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
