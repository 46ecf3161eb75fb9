"""Which S3 objects are inputs: the one rule that the worker (app/events/s3.py) applies to each
notification and `python -m app enqueue` applies to each listed object, and where a result goes.

An object is skipped, for the reason named, when it is
    job_state_object     under JOBS_PREFIX in JOBS_BUCKET, and not a job's image
                         ({JOBS_PREFIX}{job_id}/image is processed, as that job's result);
    result_object        under RESULTS_PREFIX in the bucket results are written to
                         (RESULTS_BUCKET, or the object's own bucket): never our own output;
    folder_marker        a key ending in "/" (the console's "Create folder"): no image;
    result_key_too_long  its result key would be over S3's key limit.
The prefixes count only in their own bucket: elsewhere, "jobs/..." or "detections/..." are
ordinary uploads, and the worker processes them.

Which model answers an upload: the key names it as uploads/<model>/... when <model> is a model
served by name (GET /models); any other key (uploads/2024/..., cam-7/..., a name not served)
gets the default model, as every key did before models were named.
"""

from __future__ import annotations

from ..config import S3_MAX_KEY_BYTES, Settings
from ..jobs import job_of_image

UPLOADS_PREFIX = "uploads/"


def model_of_key(key: str, names: tuple[str, ...]) -> str | None:
    """The model an upload's key names (uploads/<model>/...), or None: the default model."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    name, sep, _ = key[len(UPLOADS_PREFIX) :].partition("/")
    return name if sep and name in names else None


def result_key(key: str, settings: Settings) -> str:
    """Where the result of object `key` goes: {RESULTS_PREFIX}{key}.json."""
    return f"{settings.results_prefix}{key}.json"


def job_of(bucket: str, key: str, settings: Settings) -> str | None:
    """The job id when s3://bucket/key is a job's uploaded image, else None."""
    if bucket != settings.jobs_bucket:
        return None
    return job_of_image(key, settings.jobs_prefix)


def skip_reason(bucket: str, key: str, settings: Settings) -> str | None:
    """Why s3://bucket/key is not an input (see the module docstring), or None for an input."""
    if bucket == settings.jobs_bucket and key.startswith(settings.jobs_prefix):
        return None if job_of_image(key, settings.jobs_prefix) else "job_state_object"
    if bucket == (settings.results_bucket or bucket) and key.startswith(settings.results_prefix):
        return "result_object"
    if key.endswith("/"):
        return "folder_marker"
    if len(result_key(key, settings).encode()) > S3_MAX_KEY_BYTES:
        return "result_key_too_long"
    return None


def is_input(bucket: str, key: str, settings: Settings) -> bool:
    return skip_reason(bucket, key, settings) is None
