"""The JSON Schemas of the jobs routes and of their completion notifications."""

from __future__ import annotations

from .parts import object_schema, ref

_SIZE = {"type": "integer", "minimum": 1}
_JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "128 random bits, hex."}
_TIME = {"type": "string", "format": "date-time"}
_LINKS = object_schema({"self": {"type": "string", "description": "The path of the job."}})
NOTIFY_OPTION = {
    "type": "boolean",
    "default": True,
    "description": "false: publish no completion notification for this job (the stack's "
    "JobsTopicArn topic, when the worker has JOBS_TOPIC_ARN).",
}
_EXPIRES = {
    **_TIME,
    "description": "From this moment the job is deleted (JOBS_RETENTION_DAYS after it was "
    "created, rounded up to midnight UTC as S3 lifecycle rules count) and GET answers 404.",
}
JOB_STATUSES = ("awaiting_upload", "queued", "done", "failed")
JOB_SCHEMAS: dict[str, dict] = {  # and JobRequest, from the request's declaration
    "JobUpload": object_schema(
        {
            "method": {"const": "POST"},
            "url": {"type": "string", "format": "uri"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "max_bytes": _SIZE,
            "expires_in": _SIZE,
        },
        description="An S3 presigned POST: send multipart/form-data with every entry of "
        "fields, then the image in a field named file.",
    ),
    "JobCreated": object_schema(
        {
            "job_id": _JOB_ID,
            "status": {"const": "awaiting_upload"},
            "expires_at": _EXPIRES,
            "upload": ref("JobUpload"),
            "links": _LINKS,
        }
    ),
    "Job": object_schema(
        {
            "job_id": _JOB_ID,
            "status": {"enum": list(JOB_STATUSES)},
            "created_at": _TIME,
            "expires_at": _EXPIRES,
            "upload_expires_at": _TIME,
            "finished_at": _TIME,
            "result": ref("DetectResponse"),
            "error": ref("ErrorDetail"),
            "links": _LINKS,
        },
        ["job_id", "status", "created_at", "links"],
    ),
    "JobNotification": object_schema(
        {
            "job_id": _JOB_ID,
            "status": {"enum": ["done", "failed"]},
            "created_at": _TIME,
            "finished_at": _TIME,
            "links": _LINKS,
            "error": ref("ErrorDetail"),
        },
        ["job_id", "status", "created_at", "finished_at", "links"],
        description="The SNS message the worker publishes once a job is finished (message "
        "attributes status and job_id); the result itself is at links.self.",
    ),
}
