"""The errors of job state: jobs not configured (or their storage unreachable), no such job."""

from __future__ import annotations

from ..detector.errors import DetectionError


class JobsUnavailable(DetectionError):
    """Jobs are not configured (no JOBS_BUCKET) or their storage cannot be reached."""

    code = "jobs_unavailable"


class JobNotFound(DetectionError):
    """No job with this id was ever created (or the id is malformed)."""

    code = "not_found"
