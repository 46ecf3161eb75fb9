"""The API contract as JSON Schemas (2020-12): the one source the OpenAPI document is built from.

`app/schemas/detect.py` does the validating; tests hold it to these schemas (tests/test_openapi.py
runs the same payloads through both, and schemathesis fuzzes the live app against the document).
A new request option is one entry in DETECT_OPTIONS; a new response field is one entry in
DETECT_RESPONSE_PROPERTIES.
"""

from __future__ import annotations

import copy
from typing import Any

from ..detector.slicing import (
    MATCH_METRICS,
    MAX_OVERLAP,
    MAX_TILE_PX,
    MERGE_METHODS,
    MIN_TILE_PX,
    SLICING_MODES,
)
from .detect import MAX_DETECTIONS_LIMIT

_UNIT = {"type": "number", "minimum": 0, "maximum": 1}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


IMAGE_FIELD = {
    "type": "string",
    "minLength": 1,
    "description": "The image, base64 (standard or URL-safe, padding optional, whitespace "
    "ignored, optional data:image/...;base64, prefix). JPEG, PNG, WebP, BMP, GIF or TIFF.",
}

_TILE_SIDE = {"type": "integer", "minimum": MIN_TILE_PX, "maximum": MAX_TILE_PX}

# Every POST /detect option besides "image", by JSON field name.
DETECT_OPTIONS: dict[str, dict[str, Any]] = {
    "confidence": {**_UNIT, "description": "Minimum score (server default DEFAULT_CONFIDENCE)."},
    "iou": {**_UNIT, "description": "NMS IoU threshold (server default DEFAULT_IOU)."},
    "max_detections": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_DETECTIONS_LIMIT,
        "description": "Most detections returned (server default DEFAULT_MAX_DETECTIONS).",
    },
    "classes": {
        "type": "array",
        "minItems": 1,
        "items": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
        "description": "Keep only these labels (case-insensitive) and/or class ids; "
        "GET /model lists them.",
    },
    "multi_label": {
        "type": "boolean",
        "default": False,
        "description": "Report a box once per class that passes, as COCO mAP is measured "
        "(false: one label per object, its best class).",
    },
    "agnostic": {"type": "boolean", "default": False, "description": "NMS across classes."},
    "annotate": {
        "type": "boolean",
        "default": False,
        "description": 'Add "annotated_image": the image as JPEG with the boxes drawn.',
    },
    "slicing": {
        "type": "object",
        "additionalProperties": False,
        "description": "Small-object mode: tiles at native resolution merged with a whole-image "
        "pass (server defaults SLICING_*).",
        "properties": {
            "mode": {"enum": list(SLICING_MODES)},
            "tile": {
                "anyOf": [
                    _TILE_SIDE,
                    {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {
                            "type": "integer",
                            "minimum": MIN_TILE_PX,
                            "maximum": MAX_TILE_PX,
                        },
                    },
                ]
            },
            "overlap": {"type": "number", "minimum": 0, "maximum": MAX_OVERLAP},
            "whole_image": {"type": "boolean"},
            "merge": {"enum": list(MERGE_METHODS)},
            "match_metric": {"enum": list(MATCH_METRICS)},
            "match_threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "class_agnostic": {"type": "boolean"},
        },
    },
}

# Every POST /detect 200 field, by name; REQUIRED_RESPONSE_FIELDS are always present.
DETECT_RESPONSE_PROPERTIES: dict[str, dict[str, Any]] = {
    "detections": {"type": "array", "items": ref("Detection")},
    "count": {"type": "integer", "minimum": 0},
    "image": ref("ImageSize"),
    "model": ref("ModelSummary"),
    "timings_ms": {
        "type": "object",
        "required": ["total"],
        "additionalProperties": {"type": "number", "minimum": 0},
    },
    "annotated_image": {
        "type": "string",
        "contentEncoding": "base64",
        "contentMediaType": "image/jpeg",
        "description": 'With "annotate": the image with boxes and labels drawn, base64 JPEG '
        "(scaled down to at most 2048 px on its longer side).",
    },
    "slicing": {
        "type": "object",
        "required": ["tiles", "tile", "overlap", "whole_image"],
        "properties": {
            "tiles": {"type": "integer", "minimum": 0},
            "tile": {
                "type": "object",
                "properties": {
                    "width": {"type": "integer", "minimum": 1},
                    "height": {"type": "integer", "minimum": 1},
                },
            },
            "overlap": {"type": "number", "minimum": 0},
            "whole_image": {"type": "boolean"},
        },
    },
}
REQUIRED_RESPONSE_FIELDS = ["detections", "count", "image", "model", "timings_ms"]


def _object(properties: dict, required: list[str] | None = None, **extra: Any) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    schema["required"] = list(properties) if required is None else required
    return {**schema, **extra}


_SIZE = {"type": "integer", "minimum": 1}
_PX = {"type": "number", "minimum": 0}
_INT_PX = {"type": "integer", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}

_JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "128 random bits, hex."}
_TIME = {"type": "string", "format": "date-time"}
_LINKS = _object({"self": {"type": "string", "description": "The path of the job."}})
_NOTIFY = {
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
JOB_SCHEMAS: dict[str, dict] = {
    "JobRequest": _object(
        {
            "options": {
                "type": "object",
                "properties": {**DETECT_OPTIONS, "notify": _NOTIFY},
                "additionalProperties": False,
                "description": "Any POST /detect field except image; validated now. And "
                '"notify", the one option that is the job\'s own.',
            }
        },
        [],
    ),
    "JobUpload": _object(
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
    "JobCreated": _object(
        {
            "job_id": _JOB_ID,
            "status": {"const": "awaiting_upload"},
            "expires_at": _EXPIRES,
            "upload": ref("JobUpload"),
            "links": _LINKS,
        }
    ),
    "Job": _object(
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
    "JobNotification": _object(
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

# The schemas that do not depend on the server; component_schemas() adds the rest.
FIXED_SCHEMAS: dict[str, dict] = {
    "DetectRequest": _object({"image": IMAGE_FIELD, **DETECT_OPTIONS}, ["image"]),
    "DetectResponse": _object(DETECT_RESPONSE_PROPERTIES, REQUIRED_RESPONSE_FIELDS),
    "Detection": _object(
        {
            "label": {"type": "string"},
            "class_id": {"type": "integer", "minimum": 0},
            "confidence": _UNIT,
            "box": ref("Box"),
        }
    ),
    "Box": _object({name: _PX for name in ("x1", "y1", "x2", "y2")}),
    "ImageSize": _object({"width": _SIZE, "height": _SIZE}),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "model": {"type": ["string", "null"]},
        }
    ),
    "Error": _object({"error": ref("ErrorDetail")}),
    "ErrorDetail": _object(
        {
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string", "minLength": 1},
        }
    ),
    "DeepStackPrediction": _object(
        {"label": {"type": "string"}, "confidence": _UNIT}
        | {name: _INT_PX for name in ("x_min", "y_min", "x_max", "y_max")}
    ),
    "DeepStackResponse": _object(
        {
            "success": {"const": True},
            "predictions": {"type": "array", "items": ref("DeepStackPrediction")},
            "count": _COUNT,
            "inferenceMs": _COUNT,
            "processMs": _COUNT,
            "code": {"const": 200},
        }
    ),
    **JOB_SCHEMAS,
    "DeepStackError": _object(
        {
            "success": {"const": False},
            "error": {"type": "string", "minLength": 1},
            "code": {"type": "integer", "minimum": 400, "maximum": 599},
        }
    ),
}


def component_schemas(layouts: list[str]) -> dict[str, dict]:
    """Every named schema of the document (a fresh copy); layouts: the model formats known."""
    summary = {
        "name": {"type": "string"},
        "format": {"type": "string", "enum": layouts},
        "input": ref("ImageSize"),
    }
    description = {
        **summary,
        "dynamic_batch": {"type": "boolean"},
        "num_classes": {"type": "integer", "minimum": 1},
        "labels": {"type": "array", "items": {"type": "string"}},
    }
    schemas = {"ModelSummary": _object(summary), "ModelDescription": _object(description)}
    return copy.deepcopy({**FIXED_SCHEMAS, **schemas})
