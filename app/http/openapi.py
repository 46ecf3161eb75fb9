"""GET /openapi.json: the OpenAPI 3.1 document, built from app/schemas/contract.py."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, current_app, jsonify

from ..config import Settings
from ..detector import ModelInfo
from ..detector.decode import LAYOUTS
from ..schemas.contract import component_schemas, ref
from .deepstack import MIN_CONFIDENCE_PATTERN
from .errors import codes_by_status
from .pages import public_root
from .uploads import QUERY_OPTIONS

bp = Blueprint("openapi", __name__)

API_VERSION = "0.1.0"
# A 4x4 grey PNG: the smallest request that gets a 200, for the docs and schemathesis' examples.
EXAMPLE_IMAGE_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAFElEQVR42mMsKipigAEmBiSAmwMAQ9ABXrEIB6EAAAAA"
    "SUVORK5CYII="
)
# Statuses every operation may answer, besides its own (a hook that refuses requests adds here).
COMMON_ERROR_STATUSES = ("500",)
# What each error status means; its `error.code` values come from app/http/errors.py's table.
STATUS_MEANINGS = {
    400: "The request is malformed; the message says which field and why.",
    401: "API keys are configured and no valid key was sent (`X-Api-Key: <key>`, "
    "`Authorization: Bearer <key>`, or on the DeepStack routes the form field `api_key`); "
    "the answer carries `WWW-Authenticate: Bearer`.",
    404: "There is no such job (never created, or past its expires_at), custom model "
    "(DeepStack route) or route.",
    413: "The body or the image is over a configured limit (checked before decoding).",
    415: "The body is in a content type this route does not take.",
    422: "The data is not an image that can be decoded.",
    500: "An unexpected error; the detail is in the server log.",
    503: "The model asked for (or the default) failed to load, API keys are configured but "
    "could not be loaded, or jobs are "
    "not configured (JOBS_BUCKET) or their storage is unavailable.",
}
ERROR_STATUSES = {
    str(status): (STATUS_MEANINGS[status], codes) for status, codes in codes_by_status().items()
}
SECURITY_SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    "bearer": {"type": "http", "scheme": "bearer"},
}
# contentMediaType is OpenAPI 3.1's way; "format": "binary" is what generators read as a file.
_BINARY = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}


def _errors(*statuses: str, schema: str = "Error") -> dict[str, dict]:
    return {
        status: {
            "description": _describe(status),
            "content": {"application/json": {"schema": ref(schema)}},
        }
        for status in (*statuses, *COMMON_ERROR_STATUSES)
    }


def _describe(status: str) -> str:
    meaning, codes = ERROR_STATUSES[status]
    return f"{meaning} Codes: {', '.join(f'`{code}`' for code in codes)}."


def _protected(operation: dict, schema: str = "Error") -> dict:
    """An operation behind the API keys: either scheme, and its 401."""
    responses = {**operation["responses"], **_errors("401", schema=schema)}
    return {**operation, "security": [{"apiKey": []}, {"bearer": []}], "responses": responses}


def _ok(description: str, schema: dict, media_type: str = "application/json") -> dict:
    return {"200": {"description": description, "content": {media_type: {"schema": schema}}}}


def _query_parameters(options: dict[str, dict]) -> list[dict]:
    """Query options: the JSON field's schema unless QUERY_OPTIONS spells it differently.

    Without "default": generated clients send a parameter's default whenever it is left unset,
    which would put every option in the query string next to the same one in a JSON body.
    """
    parameters = []
    for name, option in QUERY_OPTIONS.items():
        schema = copy.deepcopy(option.schema or options[name])
        schema.pop("default", None)
        parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
    return parameters


def _detect_operation(options: dict[str, dict]) -> dict:
    upload = {"type": "object", "required": ["image"], "additionalProperties": False}
    upload["properties"] = {"image": _BINARY}
    return {
        "summary": "Detect objects in an image",
        "description": "JSON with a base64 image, or an upload: a raw image/* or "
        "application/octet-stream body, or a multipart `image` file. Options go in the JSON "
        "body or as query parameters (an option given in both with different values is a 400).",
        "operationId": "detect",
        "parameters": _query_parameters(options),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": ref("DetectRequest"),
                    "example": {"image": EXAMPLE_IMAGE_B64, "confidence": 0.25},
                },
                # The bytes decide the format; octet-stream is what generators and raw-byte
                # tools send (a wildcard is no content type a client can choose).
                "application/octet-stream": {"schema": _BINARY},
                "image/*": {"schema": _BINARY},
                "multipart/form-data": {
                    "schema": upload,
                    "encoding": {"image": {"contentType": "image/*"}},
                },
            },
        },
        "responses": {
            **_ok("Detections in original-image pixels.", ref("DetectResponse")),
            **_errors("400", "413", "415", "422", "503"),
        },
    }


def _deepstack_operation(operation_id: str = "deepstackDetection") -> dict:
    form = {"type": "object", "required": ["image"]}
    # Form fields are text: documented as the exact decimal spellings of [0, 1] the route
    # accepts; empty means the default, as DeepStack treats it (NVR clients send it empty).
    min_confidence = {"type": "string", "pattern": MIN_CONFIDENCE_PATTERN, "default": "0.4"}
    api_key = {
        "type": "string",
        "description": "The API key, where DeepStack clients send it (when keys are on).",
    }
    form["properties"] = {"image": _BINARY, "min_confidence": min_confidence, "api_key": api_key}
    return {
        "summary": "DeepStack / CodeProject.AI compatible object detection",
        "description": "For Blue Iris, Agent DVR and Home Assistant's DeepStack integration. "
        "Integer pixel boxes, one label per box; errors are {success: false, error, code}. "
        "Other form fields are ignored, as DeepStack does.",
        "operationId": operation_id,
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": form,
                    "encoding": {"image": {"contentType": "image/*"}},
                }
            },
        },
        "responses": {
            **_ok("Detections, DeepStack style.", ref("DeepStackResponse")),
            **_errors("400", "413", "415", "422", "503", schema="DeepStackError"),
        },
    }


def _job_operations() -> tuple[dict, dict]:
    """POST /jobs and GET /jobs/{job_id}."""
    job_id = {"name": "job_id", "in": "path", "required": True}
    job_id["schema"] = {"type": "string"}
    created = {
        "description": "The job, and where to upload its image (an S3 presigned POST).",
        "headers": {"Location": {"schema": {"type": "string"}, "description": "The job."}},
        "content": {"application/json": {"schema": ref("JobCreated")}},
    }
    post = {
        "summary": "Create a job for a big image: upload it, then poll for the result",
        "description": "Options are validated now, with the codes POST /detect uses. Upload "
        "the image as multipart/form-data to upload.url: every entry of upload.fields, then "
        "the image in a field named file. When it is finished, the stack's jobs topic gets "
        'a JobNotification message unless options say "notify": false.',
        "operationId": "createJob",
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": ref("JobRequest")}},
        },
        "responses": {"201": created, **_errors("400", "413", "415", "503")},
    }
    get = {
        "summary": "A job's status, and its result when done",
        "operationId": "getJob",
        "parameters": [job_id],
        "responses": {**_ok("The job.", ref("Job")), **_errors("404", "503")},
    }
    return post, get


def _deepstack_custom_operation(names: list[str]) -> dict:
    operation = _deepstack_operation("deepstackCustomDetection")
    operation["summary"] = "DeepStack custom-model route: the model of that name answers"
    schema = {"type": "string", "enum": names} if names else {"type": "string"}
    operation["parameters"] = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": schema,
            "description": "A model name (GET /models); another name answers 404, as "
            "DeepStack does for a custom model it does not have.",
        }
    ]
    operation["responses"].update(_errors("404", schema="DeepStackError"))
    return operation


def _get(summary: str, responses: dict, operation_id: str) -> dict:
    return {"get": {"summary": summary, "operationId": operation_id, "responses": responses}}


def _paths(options: dict[str, dict], *, keys: bool, names: list[str]) -> dict[str, dict]:
    """keys: API keys are on, so every route but the open ones documents them and 401."""
    html = {"type": "string"}
    unavailable = {**_ok("", ref("Health"))["200"], "description": "The model is not loaded."}
    detect, deepstack = _detect_operation(options), _deepstack_operation()
    post_job, get_job = _job_operations()
    custom = _deepstack_custom_operation(names)
    model = _get(
        "The default model: format, input size, labels",
        {**_ok("The model.", ref("ModelDescription")), **_errors("503")},
        "model",
    )
    models = _get("Every model served, by name", _ok("The models.", ref("ModelList")), "models")
    if keys:
        detect, deepstack = _protected(detect), _protected(deepstack, "DeepStackError")
        custom = _protected(custom, "DeepStackError")
        model, models = {"get": _protected(model["get"])}, {"get": _protected(models["get"])}
        post_job, get_job = _protected(post_job), _protected(get_job)
    return {
        "/detect": {"post": detect},
        "/jobs": {"post": post_job},
        "/jobs/{job_id}": {"get": get_job},
        "/v1/vision/detection": {"post": deepstack},
        "/v1/vision/custom/{name}": {"post": custom},
        "/health": _get(
            "Liveness and model status",
            {**_ok("The model is loaded.", ref("Health")), "503": unavailable, **_errors()},
            "health",
        ),
        "/model": model,
        "/models": models,
        "/openapi.json": _get(
            "This document", {**_ok("OpenAPI 3.1.", {"type": "object"}), **_errors()}, "openapi"
        ),
        "/docs": _get("API docs page", {**_ok("HTML.", html, "text/html"), **_errors()}, "docs"),
        "/": _get("Demo page", {**_ok("HTML.", html, "text/html"), **_errors()}, "demo"),
    }


def openapi_document(
    settings: Settings,
    model: ModelInfo | None,
    *,
    keys: bool = False,
    root: str = "",
    names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with this server's defaults and (if loaded) its model's ids;
    keys: this server requires API keys (documented as security schemes and 401s);
    root: the public path prefix (an API Gateway stage such as "/dev"), the servers URL;
    names: the models served by name (the enum of "model")."""
    schemas = component_schemas(list(LAYOUTS), settings, model, list(names))
    options = schemas["DetectRequest"]["properties"]
    components: dict[str, Any] = {"schemas": schemas}
    if keys:
        components["securitySchemes"] = SECURITY_SCHEMES
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Small-object detection API",
            "version": API_VERSION,
            "description": "YOLO ONNX models on the CPU; boxes in original-image pixels.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        # Relative to where this document is served: right behind a stage or a proxy too.
        "servers": [{"url": root or "/"}],
        "paths": _paths(options, keys=keys, names=list(names)),
        "components": components,
    }


@bp.get("/openapi.json")
def openapi_json():
    model = current_app.extensions.get("model")
    settings = current_app.extensions["settings"]
    keys = settings.api_keys is not None or settings.api_keys_ssm_parameter is not None
    info = model.info if model else None
    names = current_app.extensions["service"].names
    return jsonify(openapi_document(settings, info, keys=keys, root=public_root(), names=names))
