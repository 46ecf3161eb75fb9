"""The API contract as JSON Schemas (2020-12): the one source the OpenAPI document is built from.

The request schemas are derived from the Structs of `request.py`, the same declarations the
validation uses (a new request option is one field there). The answers are written here: a new
response field is one entry in DETECT_RESPONSE_PROPERTIES. Tests hold the app to them all
(tests/test_openapi.py; schemathesis fuzzes the live app against the document).
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from ..config import Settings
from ..detector import ModelInfo
from .job_contract import JOB_SCHEMAS, NOTIFY_OPTION
from .parts import object_schema, ref
from .request import DetectOptionsRequest, DetectRequestBody

_UNIT = {"type": "number", "minimum": 0, "maximum": 1}


def request_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """A request Struct's JSON Schema, self-contained: nested objects inline, as a client and
    the API reference read them; required fields first; no msgspec titles."""
    (top,), defs = msgspec.json.schema_components([struct], ref_template="{name}")
    return _inline(top, defs)


_SUBSCHEMA_MAPS = ("properties", "$defs")  # name -> schema
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _inline(schema: dict, defs: dict[str, dict]) -> dict:
    if "$ref" in schema:  # a field's own description wins over its Struct's docstring
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        return _inline({**defs[schema["$ref"]], **rest}, defs)
    inlined = {}
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS:
            inlined[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            inlined[key] = [_inline(sub, defs) for sub in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            inlined[key] = _inline(value, defs)
        elif key not in ("title", "required"):
            inlined[key] = value
    required = schema.get("required", [])
    if "properties" in inlined:
        properties = inlined.pop("properties")
        first = {name: properties[name] for name in required}
        inlined["properties"] = {**first, **properties}
    if required:
        inlined["required"] = required
    return inlined


def __getattr__(name: str) -> Any:
    """DETECT_OPTIONS: every POST /detect option besides "image", by JSON field name.

    Derived on use, as all request schemas are: at import it would lengthen every cold start.
    """
    if name == "DETECT_OPTIONS":
        return request_schema(DetectOptionsRequest)["properties"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


_SIZE = {"type": "integer", "minimum": 1}
_PX = {"type": "number", "minimum": 0}
_INT_PX = {"type": "integer", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}

# The schemas that do not depend on the server; component_schemas() adds the rest.
FIXED_SCHEMAS: dict[str, dict] = {
    "DetectResponse": object_schema(DETECT_RESPONSE_PROPERTIES, REQUIRED_RESPONSE_FIELDS),
    "Detection": object_schema(
        {
            "label": {"type": "string"},
            "class_id": {"type": "integer", "minimum": 0},
            "confidence": _UNIT,
            "box": ref("Box"),
        }
    ),
    "Box": object_schema({name: _PX for name in ("x1", "y1", "x2", "y2")}),
    "ImageSize": object_schema({"width": _SIZE, "height": _SIZE}),
    "Health": object_schema(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "model": {"type": ["string", "null"]},
        }
    ),
    "Error": object_schema({"error": ref("ErrorDetail")}),
    "ErrorDetail": object_schema(
        {
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string", "minLength": 1},
        }
    ),
    "DeepStackPrediction": object_schema(
        {"label": {"type": "string"}, "confidence": _UNIT}
        | {name: _INT_PX for name in ("x_min", "y_min", "x_max", "y_max")}
    ),
    "DeepStackResponse": object_schema(
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
    "DeepStackError": object_schema(
        {
            "success": {"const": False},
            "error": {"type": "string", "minLength": 1},
            "code": {"type": "integer", "minimum": 400, "maximum": 599},
        }
    ),
}


def component_schemas(
    layouts: list[str],
    settings: Settings,
    model: ModelInfo | None,
    names: list[str] | tuple[str, ...] = (),
) -> dict[str, dict]:
    """Every named schema of the document (a fresh copy), with this server's option defaults
    and (if loaded) its model's class ids; layouts: the model formats known; names: the
    models served by name (the enum of "model")."""
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
        "recommended_settings": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The settings the model's metadata recommends (environment "
            "variable names and values); the server applies each one the environment does "
            "not set.",
        },
    }
    listed = _listed(summary, description["recommended_settings"])
    schemas = {
        "ModelSummary": object_schema(summary),
        "ModelDescription": object_schema(description),
        "ModelList": object_schema({"models": {"type": "array", "items": listed}}),
    }
    schemas = {**_request_schemas(), **copy.deepcopy({**FIXED_SCHEMAS, **schemas})}
    job_options = schemas["JobRequest"]["properties"]["options"]["properties"]
    for options in (schemas["DetectRequest"]["properties"], job_options):
        _with_server_values(options, settings, model)
        if names:
            options["model"]["enum"] = list(names)
    return schemas


def _listed(summary: dict, recommended: dict) -> dict:
    """A GET /models entry: what the model's file says, read without loading it."""
    or_null = {
        "format": {"anyOf": [summary["format"], {"type": "null"}]},
        "input": {"anyOf": [summary["input"], {"type": "null"}]},
        "labels": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
    }
    return object_schema(
        {
            "name": {"type": "string"},
            **or_null,
            "recommended_settings": recommended,
            "default": {"type": "boolean"},
            "loaded": {"type": "boolean"},
        },
        description="A model not loaded yet is described from its file's metadata and graph "
        "(read once at start-up, without loading it). format and labels are null where the "
        "file does not say (a symbolic output dimension), and format, input and labels where "
        "the file cannot be read.",
    )


def _request_schemas() -> dict[str, dict]:
    """DetectRequest and JobRequest, derived from the request's declaration (fresh each time)."""
    options = request_schema(DetectOptionsRequest)
    # The job's own option (app/jobs/notify.py).
    options["properties"]["notify"] = dict(NOTIFY_OPTION)
    options["description"] = (
        'Any POST /detect field except image; validated now. And "notify", the job\'s own.'
    )
    return {
        "DetectRequest": request_schema(DetectRequestBody),
        "JobRequest": object_schema({"options": options}, []),
    }


def _with_server_values(options: dict, settings: Settings, model: ModelInfo | None) -> None:
    options["confidence"]["default"] = settings.default_confidence
    options["iou"]["default"] = settings.default_iou
    options["max_detections"]["default"] = settings.default_max_detections
    options["flip"]["default"] = settings.default_flip
    if model is not None:
        class_id = options["classes"]["items"]["anyOf"][1]
        class_id["maximum"] = len(model.class_names) - 1
        options["classes"]["examples"] = [[model.class_names[0]]]
