"""Request parsing (strict JSON, the declared fields of request.py, base64), and JSON results.

The only place where numpy values become Python types and class ids become labels.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET, UnsetType

from ..config import Settings
from ..detector import DetectionResult, DetectOptions, InvalidRequest, ModelInfo, PayloadTooLarge
from ..detector.labels import label_for
from .models import model_summary
from .request import DETECT_FIELDS, MAX_DETECTIONS_LIMIT, DetectOptionsRequest, DetectRequestBody
from .slicing import slicing_options, slicing_summary
from .validation import expected, field_type, struct_info, validated

__all__ = ["DETECT_FIELDS", "MAX_DETECTIONS_LIMIT", "parse_detect_options", "parse_detect_request"]

# The deepest valid body is 2 levels ({"classes": [...]}); the margin leaves room for new options
# while keeping every later walk over the payload far from Python's recursion limit.
MAX_JSON_DEPTH = 16


@dataclass(frozen=True)
class DetectRequest:
    image_bytes: bytes
    options: DetectOptions
    annotate: bool = False
    model: str | None = None  # the model asked for by name; None: the default


@dataclass(frozen=True)
class DetectParams:
    """A request's options without its image (jobs, triggers and the CLI validate them first)."""

    options: DetectOptions
    annotate: bool = False
    model: str | None = None  # the model asked for by name; None: the default


def parse_json_body(raw: bytes) -> Any:
    """Strict JSON: UTF-8 (a leading BOM is tolerated), no NaN/Infinity, no duplicate keys,
    numbers that fit a double, nesting at most MAX_JSON_DEPTH deep."""
    try:
        payload = json.loads(
            raw.decode("utf-8-sig"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except _DuplicateKey as exc:
        raise InvalidRequest(
            f"The key {exc.args[0]!r} appears more than once in a JSON object.",
            code="duplicate_key",
        ) from None
    except RecursionError:  # deeper than the parser goes: Python's own words are no answer
        raise _too_deep() from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(
            f"The body is not valid UTF-8 JSON: {_short(exc)}", code="invalid_json"
        ) from None
    if _depth(payload) > MAX_JSON_DEPTH:
        raise _too_deep()
    return payload


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.", code="invalid_json"
    )


class _DuplicateKey(Exception):
    """A JSON object repeats a key (args[0], truncated): parsers disagree on which one wins."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key[:50])
            seen.add(key)
    return result


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:30]} is out of range")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, iteratively (a deep structure must not recurse here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


def _short(exc: Exception) -> str:
    return str(exc).split("\n")[0][:200]


def parse_detect_request(
    payload: Any,
    settings: Settings,
    model: ModelInfo | None,
    *,
    max_image_bytes: int,
    image_bytes: bytes | None = None,
) -> DetectRequest:
    """Validate a POST /detect body into image bytes and DetectOptions.

    image_bytes: an uploaded image (app/http/uploads.py); payload then holds only the options.
    """
    if image_bytes is not None:
        params = parse_detect_options(payload, settings, model)
        return DetectRequest(image_bytes, params.options, params.annotate, params.model)
    body = validated(_object(payload), DetectRequestBody, entry_errors=_entry_errors(model))
    params = _params(body, settings, model)
    image_bytes = decode_base64_image(body.image, max_image_bytes)
    return DetectRequest(image_bytes, params.options, params.annotate, params.model)


def parse_detect_options(payload: Any, settings: Settings, model: ModelInfo | None) -> DetectParams:
    """Validate a POST /detect body's options; an "image" in it is neither required nor read."""
    options = {name: value for name, value in _object(payload).items() if name != "image"}
    body = validated(options, DetectOptionsRequest, entry_errors=_entry_errors(model))
    return _params(body, settings, model)


def _object(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise InvalidRequest('The JSON body must be an object with an "image" field.')
    return payload


def _params(
    body: DetectOptionsRequest, settings: Settings, model: ModelInfo | None
) -> DetectParams:
    """The validated fields over the server's defaults (an UNSET field takes the setting)."""
    options = DetectOptions(
        confidence=_given(body.confidence, settings.default_confidence),
        iou=_given(body.iou, settings.default_iou),
        max_detections=_given(body.max_detections, settings.default_max_detections),
        class_ids=_class_ids(body.classes, model),
        multi_label=body.multi_label,
        agnostic=body.agnostic,
        slicing=slicing_options(body.slicing, settings.slicing_defaults()),
        flip=_given(body.flip, settings.default_flip),
    )
    return DetectParams(options, annotate=body.annotate, model=_given(body.model, None))


def _given(value: Any, default: Any) -> Any:
    return default if value is UNSET else value


def _entry_errors(model: ModelInfo | None) -> dict[str, Callable[[Any], InvalidRequest]]:
    """A "classes" entry that is neither a label nor a class id (-1, 1.5, [2]) is unknown."""
    names = model.class_names if model else ()
    return {"classes": lambda item: _unknown_class(item, names)}


def _unknown_class(item: Any, names: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f'Unknown class {str(item)[:50]!r} in "classes"; GET /model lists the '
        f"{len(names)} labels (ids 0-{len(names) - 1}).",
        code="unknown_class",
    )


def _class_ids(classes: list | UnsetType, model: ModelInfo | None) -> frozenset[int] | None:
    """Labels (case-insensitive) and/or ids -> ids; unknown labels and ids are errors."""
    if classes is UNSET:
        return None
    names = model.class_names if model else ()
    by_name = {name.lower(): i for i, name in enumerate(names)}
    ids = set()
    for item in classes:
        if isinstance(item, str) and item.strip().lower() in by_name:
            ids.add(by_name[item.strip().lower()])
        elif isinstance(item, int) and 0 <= item < len(names):
            ids.add(item)
        else:
            raise _unknown_class(item, names)
    return frozenset(ids)


def decode_base64_image(value: Any, max_image_bytes: int) -> bytes:
    """Standard or URL-safe base64, padding optional, whitespace and a data-URI prefix allowed:
    `data:image/...;base64,` (an omitted media type is taken as the image's; any other type,
    such as text/plain, is refused)."""
    if not isinstance(value, str) or not value:
        kind = field_type(struct_info(DetectRequestBody), "image")
        raise InvalidRequest(f'The field "image" must be {expected(kind)}.', code="invalid_field")
    text = value
    if text[:5].lower() == "data:":
        header, sep, text = text.partition(",")
        if not sep or ";base64" not in header.lower():
            raise InvalidRequest(
                'A data URI in "image" must be base64 (data:image/...;base64,...).',
                code="invalid_base64",
            )
        media_type = header[5:].split(";")[0].strip().lower()
        if media_type and not media_type.startswith("image/"):
            raise InvalidRequest(
                f'The data URI in "image" declares {media_type[:40]!r}; it must be an image '
                "(data:image/...;base64,...).",
                code="invalid_field",
            )
    if len(text) * 3 // 4 > max_image_bytes + 3:
        raise PayloadTooLarge(
            f"The decoded image is larger than the limit of {max_image_bytes:,} bytes.",
            code="image_too_large",
        )
    try:
        return base64.b64decode(text, validate=True)  # fast path: canonical base64
    except (binascii.Error, ValueError):
        pass
    text = "".join(text.split()).replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            'The field "image" is not valid base64.', code="invalid_base64"
        ) from None


def detection_response(result: DetectionResult, model: ModelInfo) -> dict:
    """The POST /detect 200 body."""
    found = result.detections
    boxes = found.xyxy.tolist()
    detections = [
        {
            "label": label_for(model.class_names, class_id),
            "class_id": class_id,
            "confidence": round(confidence, 4),
            "box": {
                "x1": round(box[0], 2), "y1": round(box[1], 2),
                "x2": round(box[2], 2), "y2": round(box[3], 2),
            },
        }
        for box, confidence, class_id in zip(
            boxes, found.confidence.tolist(), found.class_id.tolist(), strict=True
        )
    ]  # fmt: skip
    body = {
        "detections": detections,
        "count": len(detections),
        "image": {"width": result.image_wh[0], "height": result.image_wh[1]},
        "model": model_summary(model),
        "timings_ms": {name: round(ms, 2) for name, ms in result.timings_ms.items()},
    }
    if result.slicing is not None:  # absent when the image was not sliced
        body["slicing"] = slicing_summary(result.slicing)
    return body
