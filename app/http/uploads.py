"""Direct uploads on POST /detect (a raw image/* or application/octet-stream body, or a multipart
`image` file) and options in the query string, converted to typed values and then validated by
the same code as JSON bodies."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.datastructures import MultiDict

from ..detector import InvalidRequest, PayloadTooLarge

_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_BOOLEANS = {"true": True, "false": False}


def _number(text: str) -> Any:
    return float(text) if _NUMBER.fullmatch(text) else text


def _integer(text: str) -> Any:
    return int(text) if _INTEGER.fullmatch(text) else text


def _boolean(text: str) -> Any:
    return _BOOLEANS.get(text, text)


def _class_list(text: str) -> list:
    items = [item.strip() for item in text.split(",")]
    return [int(item) if item.isascii() and item.isdigit() else item for item in items]


@dataclass(frozen=True)
class QueryOption:
    """How one query parameter becomes the JSON value the request validator expects.

    convert never raises: what it cannot convert it passes on as the string, which the
    validator then rejects with the same message and code as a bad JSON value.
    schema: the parameter's schema when it differs from the JSON field's
    (declared in app/schemas/request.py).
    """

    convert: Callable[[str], Any]
    schema: dict | None = None


# Options accepted as query parameters on uploads, by the JSON field they stand for.
QUERY_OPTIONS: dict[str, QueryOption] = {
    "confidence": QueryOption(_number),
    "iou": QueryOption(_number),
    "max_detections": QueryOption(_integer),
    "classes": QueryOption(
        _class_list,
        {"type": "string", "minLength": 1, "description": "Comma-separated labels and/or ids."},
    ),
    "multi_label": QueryOption(_boolean),
    "agnostic": QueryOption(_boolean),
    "flip": QueryOption(_boolean),
    "annotate": QueryOption(_boolean),
    "model": QueryOption(str),
    # slicing: add QueryOption(lambda mode: {"mode": mode}, {"type": "string", "enum": [...]})
}


# Raw bytes as many tools label them (curl -H, mobile HTTP stacks): the bytes decide the format.
RAW_TYPES = frozenset({"application/octet-stream"})


def is_upload(request: Request) -> bool:
    mimetype = request.mimetype
    return mimetype.startswith("image/") or mimetype in RAW_TYPES | {"multipart/form-data"}


def query_payload(args: MultiDict) -> dict[str, Any]:
    """Query parameters -> the JSON-shaped options dict that parse_detect_request validates."""
    payload = {}
    for name in args:
        option = QUERY_OPTIONS.get(name)
        if option is None:
            raise InvalidRequest(
                f"Unknown query parameter {name[:50]!r}. Allowed: {', '.join(QUERY_OPTIONS)}.",
                code="unknown_field",
            )
        values = args.getlist(name)
        if len(values) > 1:
            raise InvalidRequest(
                f'The query parameter "{name}" is given {len(values)} times; give it once.',
                code="invalid_field",
            )
        payload[name] = option.convert(values[0])
    return payload


def with_query_options(payload: Any, query: dict[str, Any]) -> Any:
    """A JSON body's options plus those from the query string.

    An option in both places must have the same value there (clients generated from the
    OpenAPI document may send it twice); two different values are a 400.
    """
    if not query or not isinstance(payload, dict):
        return payload  # a non-object body is refused by the validator, with its own message
    both = set(query) & set(payload)
    clash = sorted(name for name in both if not _same(query[name], payload[name]))
    if clash:
        raise InvalidRequest(
            f"Option(s) {', '.join(clash)} given both in the query string and in the JSON body, "
            "with different values; give each once.",
            code="invalid_request",
        )
    return {**payload, **query}


def _same(left: Any, right: Any) -> bool:
    """Equal as the validator reads them: 1 and 1.0 are, true and 1 are not."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return left == right


def read_upload(request: Request, max_image_bytes: int) -> tuple[dict[str, Any], bytes]:
    """(options payload, image bytes) from a raw body or a multipart `image` file."""
    payload = query_payload(request.args)
    if request.mimetype == "multipart/form-data":
        data = _multipart_image(request.files, request.form)
    else:
        data = request.get_data(cache=False)
    if len(data) > max_image_bytes:
        raise PayloadTooLarge(
            f"The image is larger than the limit of {max_image_bytes:,} bytes.",
            code="image_too_large",
        )
    return payload, data


def multipart_file(files: MultiDict, name: str) -> bytes:
    """The one file part called `name`; its absence or repetition is a 400.

    Every part is closed here: large parts are spooled to temporary files, which otherwise
    stay open until garbage collection (a ResourceWarning, and a file descriptor held).
    """
    parts = files.getlist(name)
    try:
        if len(parts) != 1:
            problem = "is missing" if not parts else f"is given {len(parts)} times"
            raise InvalidRequest(
                f'The multipart file field "{name}" {problem}; send the image once as a file '
                f'part (curl -F "{name}=@photo.jpg").',
                code="missing_field" if not parts else "invalid_field",
            )
        return parts[0].read()
    finally:
        for part in files.values():
            part.close()


def _multipart_image(files: MultiDict, form: MultiDict) -> bytes:
    extra = sorted((set(files) | set(form)) - {"image"})
    if extra:
        raise InvalidRequest(
            f"Unknown multipart field(s): {', '.join(name[:50] for name in extra)}. Send only "
            'the file "image"; options go in the query string.',
            code="unknown_field",
        )
    return multipart_file(files, "image")
