"""POST /jobs and GET /jobs/<job_id>: big images through a presigned S3 upload, the result by id.

The views validate and delegate; where a job's state lives is app/jobs/, and the worker that
fills in the result is app/events/s3.py (neither side imports the other).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import aws
from ..config import Settings
from ..detector import InvalidRequest, UnsupportedMediaType
from ..jobs import JobStatus, create_job, job_path, read_job, require_bucket, split_notify
from ..schemas.detect import parse_json_body
from .api import detection_service
from .pages import public_root

bp = Blueprint("jobs", __name__)

JOB_FIELDS = ("options",)


def _settings() -> Settings:
    return current_app.extensions["settings"]


@bp.post("/jobs")
def post_job():
    settings = _settings()
    require_bucket(settings)  # 503 jobs_unavailable, naming JOBS_BUCKET, before anything else
    options, notify = _parse_job_request(settings)
    job, upload = create_job(aws.client("s3"), settings, options, notify=notify)
    link = _link(job["job_id"])
    body = {
        "job_id": job["job_id"],
        "status": JobStatus.AWAITING_UPLOAD.value,
        "expires_at": job["expires_at"],
        "upload": upload,
        "links": {"self": link},
    }
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = link
    return response


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    job = read_job(aws.client("s3"), _settings(), job_id)
    return jsonify({**job, "links": {"self": _link(job_id)}})


def _link(job_id: str) -> str:
    """GET /jobs/<id> as the client reaches it: under a REST API's stage ("/dev/jobs/..."),
    but not under an HTTP API's $default stage, which serverless-wsgi also makes the script
    root though it is no part of the URL (a "/$default/jobs/..." link answers 404)."""
    return public_root() + job_path(job_id)


def _parse_job_request(settings: Settings) -> tuple[dict, bool]:
    """(the body's "options", validated exactly as POST /detect validates its fields; whether
    to notify): "notify" is the one option that is the job's, not detection's."""
    raw = request.get_data(cache=False)
    if raw.strip() == b"":
        payload: object = {}
    elif request.is_json:
        payload = parse_json_body(raw)
    else:
        raise UnsupportedMediaType(
            'POST /jobs takes Content-Type: application/json, e.g. {"options": {...}}, or no '
            "body; the image itself goes to the upload URL it answers with."
        )
    if not isinstance(payload, dict):
        raise InvalidRequest('The JSON body must be an object such as {"options": {...}}.')
    unknown = sorted(set(payload) - set(JOB_FIELDS))
    if unknown:
        named = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise InvalidRequest(
            f'Unknown field(s): {named}. POST /jobs takes only "options".', code="unknown_field"
        )
    options = payload.get("options", {})
    if not isinstance(options, dict):
        raise InvalidRequest('The field "options" must be an object.', code="invalid_field")
    if "image" in options:
        raise InvalidRequest(
            'A job\'s image is not sent in "options": upload it to the URL this answer gives.',
            code="invalid_field",
        )
    options, notify = split_notify(options)
    detection_service().options(options)  # the codes POST /detect answers, before the upload
    return options, notify
