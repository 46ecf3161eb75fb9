"""The HTTP blueprint: thin views that parse, detect and serialise."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, request

from ..detector import UnsupportedMediaType
from ..schemas.detect import DetectRequest, parse_json_body
from ..schemas.models import model_description
from ..service import DetectionService
from .uploads import is_upload, query_payload, read_upload, with_query_options

bp = Blueprint("api", __name__)


def detection_service() -> DetectionService:
    """The app's detection service (create_app builds it with the settings and the model)."""
    return current_app.extensions["service"]


@bp.post("/detect")
def detect():
    started = time.perf_counter()
    if not (request.is_json or is_upload(request)):
        raise UnsupportedMediaType(
            'POST /detect takes Content-Type: application/json with a base64 "image" field, '
            "a raw image/* or application/octet-stream body, or multipart/form-data with an "
            '"image" file.'
        )
    service = detection_service()
    parsed = _parse_request(service)
    parse_ms = (time.perf_counter() - started) * 1000
    body = service.detect(parsed.image_bytes, parsed)
    g.detection_count = body["count"]  # for the metrics (app/http/observability.py)
    timings = body["timings_ms"]
    timings["decode"] = round(timings.get("decode", 0.0) + parse_ms, 2)
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    return jsonify(body)


def _parse_request(service: DetectionService) -> DetectRequest:
    """A JSON body or an upload; options in the body and/or the query string."""
    image_bytes = None
    if request.is_json:
        body = parse_json_body(request.get_data(cache=False))
        payload = with_query_options(body, query_payload(request.args))
    else:
        payload, image_bytes = read_upload(request, service.settings.max_image_bytes)
    return service.request(payload, image_bytes=image_bytes)


@bp.get("/health")
def health():
    model = detection_service().loaded
    if model is None:
        return jsonify({"status": "unavailable", "model": None}), 503
    return jsonify({"status": "ok", "model": model.info.name})


@bp.get("/model")
def model_info():
    return jsonify(model_description(detection_service().model().info))


@bp.get("/models")
def models():
    """Every model served, by name; one not yet loaded is not loaded to answer this."""
    return jsonify({"models": detection_service().listing()})
