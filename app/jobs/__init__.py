"""Job state in S3, shared by POST /jobs (app/http/jobs.py) and the worker (app/events/s3.py):
the key layout, the status, create and read, the presigned upload, the result written once,
when a job expires, its completion notification (notify.py), and the errors.

Neither side imports the other; both import this. Nothing here imports boto3 at import time
(clients come from app/aws.py when a job is first used).
May import: `app.aws`, `app.config`, `app.schemas`, `app.detector`; never Flask.
"""

from .errors import JobNotFound, JobsUnavailable
from .keys import (
    IMAGE_NAME,
    JOB_ID,
    REQUEST_NAME,
    RESULT_NAME,
    JobKeys,
    job_of_image,
    job_path,
    new_job_id,
)
from .notify import notification, notify_finished, split_notify
from .store import (
    JobStatus,
    create_job,
    expires_at,
    finish_job,
    outcome_body,
    read_job,
    read_request,
    read_result,
    require_bucket,
    result_exists,
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
    "expires_at",
    "finish_job",
    "job_of_image",
    "job_path",
    "new_job_id",
    "notification",
    "notify_finished",
    "outcome_body",
    "read_job",
    "read_request",
    "read_result",
    "require_bucket",
    "result_exists",
    "split_notify",
]
