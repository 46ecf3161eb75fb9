"""The HTTP blueprint: thin views that parse, detect and serialise."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, request

from ..config import Settings
from ..detector import Model, ModelError, UnsupportedMediaType, detect_bytes
from ..schemas.annotated import add_annotated_image
from ..schemas.detect import (
    DetectRequest,
    detection_response,
    model_description,
    parse_detect_request,
    parse_json_body,
)
from .uploads import is_upload, query_payload, read_upload, with_query_options

bp = Blueprint("api", __name__)


def _settings() -> Settings:
    return current_app.extensions["settings"]


def current_model() -> Model:
    """The loaded model, or 503 model_unavailable."""
    model = current_app.extensions.get("model")
    if model is None:
        raise ModelError(
            "The model is not loaded, so detection is unavailable; see the server log."
        )
    return model


@bp.post("/detect")
def detect():
    started = time.perf_counter()
    if not (request.is_json or is_upload(request)):
        raise UnsupportedMediaType(
            'POST /detect takes Content-Type: application/json with a base64 "image" field, '
            "a raw image/* or application/octet-stream body, or multipart/form-data with an "
            '"image" file.'
        )
    settings, model = _settings(), current_model()
    parsed = _parse_request(settings, model)
    parse_ms = (time.perf_counter() - started) * 1000
    result = detect_bytes(
        model, parsed.image_bytes, parsed.options, max_pixels=settings.max_image_pixels
    )
    body = detection_response(result, model.info)
    if parsed.annotate:
        add_annotated_image(body, parsed.image_bytes, result, model, settings)
    g.detection_count = body["count"]  # for the metrics (app/observability.py)
    timings = body["timings_ms"]
    timings["decode"] = round(timings.get("decode", 0.0) + parse_ms, 2)
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    return jsonify(body)


def _parse_request(settings: Settings, model: Model) -> DetectRequest:
    """A JSON body or an upload; options in the body and/or the query string."""
    image_bytes = None
    if request.is_json:
        body = parse_json_body(request.get_data(cache=False))
        payload = with_query_options(body, query_payload(request.args))
    else:
        payload, image_bytes = read_upload(request, settings.max_image_bytes)
    return parse_detect_request(
        payload,
        settings,
        model.info,
        max_image_bytes=settings.max_image_bytes,
        image_bytes=image_bytes,
    )


@bp.get("/health")
def health():
    model = current_app.extensions.get("model")
    if model is None:
        return jsonify({"status": "unavailable", "model": None}), 503
    return jsonify({"status": "ok", "model": model.info.name})


@bp.get("/model")
def model_info():
    return jsonify(model_description(current_model().info))
