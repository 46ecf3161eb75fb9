"""Job state in S3, shared by POST /jobs (app/http/jobs.py) and the worker (app/events/s3.py):
the key layout, the status, create and read, the presigned upload, the result, and the errors.

Neither side imports the other; both import this. Nothing here imports boto3 at import time
(clients come from app/aws.py when a job is first used).
May import: `app.aws`, `app.config`, `app.schemas`, `app.detector`; never Flask.
"""

from .errors import JobNotFound, JobsUnavailable
from .keys import IMAGE_NAME, JOB_ID, REQUEST_NAME, RESULT_NAME, JobKeys, job_of_image, new_job_id
from .store import (
    JobStatus,
    create_job,
    outcome_body,
    read_job,
    read_request,
    require_bucket,
    result_exists,
    write_result,
)

__all__ = [
    "IMAGE_NAME",
    "JOB_ID",
    "REQUEST_NAME",
    "RESULT_NAME",
    "JobKeys",
    "JobNotFound",
    "JobStatus",
    "JobsUnavailable",
    "create_job",
    "job_of_image",
    "new_job_id",
    "outcome_body",
    "read_job",
    "read_request",
    "require_bucket",
    "result_exists",
    "write_result",
]
