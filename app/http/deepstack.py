"""POST /v1/vision/detection: the DeepStack / CodeProject.AI object detection API, so that Blue
Iris, Agent DVR and Home Assistant's DeepStack integration can use this server unchanged.

POST /v1/vision/custom/<name> (DeepStack's custom-model route) is answered by the model of that
name (GET /models); /v1/vision/detection by the default model. A name that is not served answers
404, as DeepStack does: it registers one route per custom model at start-up, so any other name
is a route it does not have (deepstack-python then raises its "Bad url" DeepstackException).
Every error under /v1/vision/ is DeepStack-shaped: {"success": false, "error": "<sentence>",
"code": <status>}, 401 included, and routing errors too (a name with %2f or a trailing slash is
a name not served, 404; GET is 405): the blueprint gives app/http/errors.py its shape for the
prefix, and the one error table answers in it.
"""

from __future__ import annotations

import math
import re
import time

from flask import Blueprint, g, jsonify, request

from ..detector import Detections, InvalidRequest, UnsupportedMediaType
from ..detector.labels import label_for
from ..schemas.detect import DetectRequest
from ..service import DetectionService
from .api import detection_service
from .errors import add_error_shape
from .uploads import multipart_file

bp = Blueprint("deepstack", __name__)
PATH_PREFIX = "/v1/vision/"

DEFAULT_MIN_CONFIDENCE = 0.4  # DeepStack's documented default
# The decimal spellings of [0, 1]; empty means the default. The OpenAPI document uses it too.
MIN_CONFIDENCE_PATTERN = r"^(|0(\.[0-9]*)?|1(\.0*)?|\.[0-9]+)$"


@bp.post("/v1/vision/detection")
def detection():
    return _detect()


@bp.post("/v1/vision/custom/<path:name>")  # a path: "a/b" (%2f) is a name not served, too
def custom_detection(name: str):
    names = detection_service().names
    if name not in names:
        return _deepstack_error(
            404,
            f"No custom model named {name[:64]!r}; available: {', '.join(names)}.",
        )
    return _detect(name)


def _detect(model_name: str | None = None):
    started = time.perf_counter()
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f'POST {request.path[:100]} takes multipart/form-data with an "image" file.'
        )
    service = detection_service()
    parsed = _parse_request(service, model_name)
    service = service.using(parsed.model)
    result = service.run(parsed.image_bytes, parsed.options)
    predictions = deepstack_predictions(result.detections, service.model().info.class_names)
    g.detection_count = len(predictions)  # for the metrics (app/http/observability.py)
    return jsonify(
        {
            "success": True,
            "predictions": predictions,
            "count": len(predictions),
            "inferenceMs": round(result.timings_ms.get("inference", 0.0)),
            "processMs": round((time.perf_counter() - started) * 1000),
            "code": 200,
        }
    )


def _parse_request(service: DetectionService, model_name: str | None) -> DetectRequest:
    """The form, as a POST /detect payload through the same validation.

    Slicing is deliberately not set: like an omitted "slicing" field, it then follows the
    server's configuration (the SLICING_* settings).
    """
    payload = {
        "confidence": _min_confidence(request.form.get("min_confidence")),
        "multi_label": False,  # one label per box: NVR software counts objects
    }
    if model_name is not None:
        payload["model"] = model_name
    return service.request(payload, image_bytes=multipart_file(request.files, "image"))


def _min_confidence(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_MIN_CONFIDENCE
    if not re.fullmatch(MIN_CONFIDENCE_PATTERN, raw):
        raise InvalidRequest('The form field "min_confidence" must be a number between 0 and 1.')
    return float(raw)


def deepstack_predictions(found: Detections, class_names: tuple[str, ...]) -> list[dict]:
    """Detections in image px -> DeepStack predictions: integer px, rounded outwards, so the
    integer box always contains the detected one."""
    boxes = found.xyxy.tolist()
    return [
        {
            "label": label_for(class_names, class_id),
            "confidence": round(confidence, 4),
            "x_min": math.floor(box[0]),
            "y_min": math.floor(box[1]),
            "x_max": math.ceil(box[2]),
            "y_max": math.ceil(box[3]),
        }
        for box, confidence, class_id in zip(
            boxes, found.confidence.tolist(), found.class_id.tolist(), strict=True
        )
    ]


def _deepstack_error(status: int, message: str, headers=()):
    response = jsonify({"success": False, "error": message, "code": status})
    response.status_code = status
    response.headers.extend(headers)
    return response


@bp.record_once
def _answer_errors_deepstack_style(state) -> None:
    add_error_shape(state.app, PATH_PREFIX, _deepstack_error)
