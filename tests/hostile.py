"""The hostile corpus: image bombs, refused formats, broken bytes and bad requests, generated
(never committed), each with the exact status and error code the API must answer with.

Used by tests/test_hostile.py and by bench/soak.py; importing this module builds nothing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.image_makers import (
    bmp_header,
    first_half,
    gif_header,
    jpeg_claiming,
    many_scan_jpeg,
    noisy,
    pillow_blank,
    png,
    png_chunk,
    tiff_header,
    webp_claiming,
    ztxt_bomb_png,
)

# Limits of the app the corpus is run against (see corpus_settings()).
CORPUS_MAX_BODY_BYTES = 1_000_000
CORPUS_MAX_IMAGE_BYTES = 700_000
JSON = "application/json"


@dataclass(frozen=True)
class Hostile:
    """One request and the error it must get: (status, code)."""

    name: str
    body: bytes
    status: int
    code: str
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/detect"
    content_length: str | None = None  # a Content-Length header that lies about the body


def corpus_settings() -> dict:
    """create_app() test config matching the corpus' expectations (small body limits)."""
    return {"max_body_bytes": CORPUS_MAX_BODY_BYTES, "max_image_bytes": CORPUS_MAX_IMAGE_BYTES}


def image_request(data: bytes, **options) -> bytes:
    return json.dumps({"image": base64.b64encode(data).decode("ascii"), **options}).encode()


TOO_LARGE = (413, "image_too_large")
CORRUPT = (422, "corrupt_image")
UNSUPPORTED = (422, "unsupported_image_format")

# (name, bytes maker, (status, code)); the image travels as base64 in a valid JSON body.
IMAGE_CASES: list[tuple[str, Callable[[], bytes], tuple[int, str]]] = [
    # Decompression bombs: refused from the header. Past Pillow's own guard (2 x 89.5 M px)...
    ("png_50000x50000", lambda: png(50_000, 50_000), TOO_LARGE),
    ("png_2147483647x1", lambda: png(2**31 - 1, 1), TOO_LARGE),
    ("gif_65535x65535", lambda: gif_header(65_535, 65_535), TOO_LARGE),
    ("tiff_100000x100000", lambda: tiff_header(100_000, 100_000), TOO_LARGE),
    ("jpeg_65000x65000", lambda: jpeg_claiming(65_000, 65_000), TOO_LARGE),
    ("bmp_50000x50000", lambda: bmp_header(50_000, 50_000), TOO_LARGE),
    ("webp_16384x16384", lambda: webp_claiming(16_384, 16_384), TOO_LARGE),
    # ...and between MAX_IMAGE_PIXELS (100 M) and Pillow's guard, where only ours stands.
    ("png_11000x10000", lambda: png(11_000, 10_000), TOO_LARGE),
    ("gif_12000x9000", lambda: gif_header(12_000, 9_000), TOO_LARGE),
    ("tiff_10500x10000", lambda: tiff_header(10_500, 10_000), TOO_LARGE),
    ("jpeg_10500x10000", lambda: jpeg_claiming(10_500, 10_000), TOO_LARGE),
    ("bmp_10500x10000", lambda: bmp_header(10_500, 10_000), TOO_LARGE),
    ("webp_10500x10000", lambda: webp_claiming(10_500, 10_000), TOO_LARGE),
    ("jpeg_1000_scans", lambda: many_scan_jpeg(1000), TOO_LARGE),
    ("decoded_over_max_image_bytes", lambda: b"\x89PNG" + b"\0" * 720_000, TOO_LARGE),
    # Damaged files in accepted formats.
    ("png_ztxt_bomb", ztxt_bomb_png, CORRUPT),
    ("png_signature_only", lambda: b"\x89PNG\r\n\x1a\n", CORRUPT),
    ("png_zero_width", lambda: png(0, 10), CORRUPT),
    ("png_bad_ihdr_crc", lambda: png(8, 8)[:29] + b"\0\0\0\0" + png(8, 8)[33:], CORRUPT),
    ("png_garbage_idat", lambda: png(8, 8)[:33] + png_chunk(b"IDAT", b"\x01" * 40), CORRUPT),
    ("png_truncated", first_half(noisy("PNG")), CORRUPT),
    ("jpeg_soi_only", lambda: b"\xff\xd8\xff", CORRUPT),
    ("jpeg_truncated", first_half(noisy("JPEG", quality=95)), CORRUPT),
    ("jpeg_progressive_truncated", first_half(noisy("JPEG", progressive=True)), CORRUPT),
    ("gif_header_only", lambda: b"GIF89a\x10\x00\x10\x00", CORRUPT),
    ("gif_truncated", first_half(noisy("GIF")), CORRUPT),
    ("tiff_truncated", first_half(noisy("TIFF")), CORRUPT),
    ("tiff_header_only", lambda: b"II*\x00\x08\x00\x00\x00", CORRUPT),
    ("webp_truncated", first_half(noisy("WEBP", quality=90)), CORRUPT),
    ("webp_riff_only", lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 ", CORRUPT),
    ("bmp_header_only", lambda: b"BM" + b"\0" * 12, CORRUPT),
    # Image formats Pillow knows but we never hand it (EPS would go to Ghostscript).
    ("eps", pillow_blank("EPS"), UNSUPPORTED),
    ("pdf_from_pillow", pillow_blank("PDF"), UNSUPPORTED),
    ("ico", pillow_blank("ICO", "RGBA"), UNSUPPORTED),
    ("psd_header", lambda: b"8BPS\x00\x01" + b"\0" * 6 + b"\x00\x03" + b"\0" * 16, UNSUPPORTED),
    ("jpeg2000", pillow_blank("JPEG2000"), UNSUPPORTED),
    ("pcx", pillow_blank("PCX"), UNSUPPORTED),
    ("ppm", pillow_blank("PPM"), UNSUPPORTED),
    ("tga", pillow_blank("TGA"), UNSUPPORTED),
    ("sgi", pillow_blank("SGI"), UNSUPPORTED),
    ("dds", pillow_blank("DDS"), UNSUPPORTED),
    ("qoi", pillow_blank("QOI"), UNSUPPORTED),
    ("icns", pillow_blank("ICNS", "RGBA"), UNSUPPORTED),
    ("xbm", pillow_blank("XBM", "1"), UNSUPPORTED),
    ("avif", pillow_blank("AVIF"), UNSUPPORTED),
    ("heic_header", lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", UNSUPPORTED),
    ("fits_header", lambda: b"SIMPLE  =                    T" + b" " * 50, UNSUPPORTED),
    # Not images at all.
    ("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9"/>', UNSUPPORTED),
    ("svg_with_prolog", lambda: b'<?xml version="1.0"?>\n<svg width="10000000"/>', UNSUPPORTED),
    ("html", lambda: b"<!DOCTYPE html><html><body><img src=x></body></html>", UNSUPPORTED),
    ("pdf_text", lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", UNSUPPORTED),
    ("postscript", lambda: b"%!PS-Adobe-3.0\n/Helvetica findfont\nshowpage\n", UNSUPPORTED),
    ("xml", lambda: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', UNSUPPORTED),
    ("json_text", lambda: b'{"image": "nested"}', UNSUPPORTED),
    ("plain_text", lambda: "hello, world — not a picture\n".encode(), UNSUPPORTED),
    ("zip", lambda: b"PK\x03\x04" + b"\0" * 26, UNSUPPORTED),
    ("gzip", lambda: b"\x1f\x8b\x08" + b"\0" * 20, UNSUPPORTED),
    ("elf", lambda: b"\x7fELF\x02\x01\x01" + b"\0" * 57, UNSUPPORTED),
    ("random_bytes", lambda: bytes((i * 7919 + 13) % 251 for i in range(4096)), UNSUPPORTED),
    ("zeros", lambda: b"\0" * 1024, UNSUPPORTED),
    ("one_byte", lambda: b"\x01", UNSUPPORTED),
]


# --- bad requests: JSON, types, numbers, encodings, content types, routes ----------------------

TINY_PNG = png(16, 16, raw_rows=b"".join(b"\x00" + b"\x80" * 48 for _ in range(16)))
TINY_B64 = base64.b64encode(TINY_PNG).decode("ascii")


def _json(text: str) -> bytes:
    return text.replace("$IMG", TINY_B64).encode("utf-8")


def _with(options: str) -> Callable[[], bytes]:
    """A valid request plus the given JSON members, e.g. '"iou": NaN'."""
    return lambda: _json('{"image": "$IMG", ' + options + "}")


def _raw(body: bytes) -> Callable[[], bytes]:
    return lambda: body


def _nested(depth: int) -> Callable[[], bytes]:
    return _with('"classes": ' + "[" * depth + "2" + "]" * depth)


def _many_unknown_keys(count: int) -> Callable[[], bytes]:
    return _with(", ".join(f'"unknown_{i}": {i}' for i in range(count)))


def _encoded(encoding: str) -> Callable[[], bytes]:
    return lambda: _json('{"image": "$IMG"}').decode().encode(encoding)


BAD_JSON = (400, "invalid_json")
BAD_REQUEST = (400, "invalid_request")
BAD_FIELD = (400, "invalid_field")
BAD_CLASS = (400, "unknown_class")
BAD_BASE64 = (400, "invalid_base64")
DUPLICATE = (400, "duplicate_key")
UNKNOWN = (400, "unknown_field")
MEDIA = (415, "unsupported_media_type")
VALID = '{"image": "$IMG"}'
MULTIPART = b"--b\r\nContent-Disposition: form-data; name=image\r\n\r\nQUJD\r\n--b--\r\n"

# (name, body maker, content type, (status, code)); POST /detect.
BODY_CASES: list[tuple[str, Callable[[], bytes], str | None, tuple[int, str]]] = [
    ("empty_body", _raw(b""), JSON, BAD_JSON),
    ("whitespace_body", _raw(b" \r\n\t "), JSON, BAD_JSON),
    ("unterminated_object", _raw(b'{"image": "'), JSON, BAD_JSON),
    ("trailing_garbage", lambda: _json(VALID + " x"), JSON, BAD_JSON),
    ("two_documents", lambda: _json(VALID * 2), JSON, BAD_JSON),
    ("single_quotes", _raw(b"{'image': 'QUJD'}"), JSON, BAD_JSON),
    ("json_null", _raw(b"null"), JSON, BAD_REQUEST),
    ("json_number", _raw(b"123"), JSON, BAD_REQUEST),
    ("json_string", _raw(b'"image"'), JSON, BAD_REQUEST),
    ("json_true", _raw(b"true"), JSON, BAD_REQUEST),
    ("json_array_of_object", lambda: _json(f"[{VALID}]"), JSON, BAD_REQUEST),
    ("nan_literal", _with('"iou": NaN'), JSON, BAD_JSON),
    ("minus_infinity", _with('"iou": -Infinity'), JSON, BAD_JSON),
    ("float_overflow_1e309", _with('"confidence": 1e309'), JSON, BAD_JSON),
    ("float_overflow_negative", _with('"iou": -1e400'), JSON, BAD_JSON),
    ("int_beyond_double", _with('"confidence": 1' + "0" * 400), JSON, BAD_FIELD),
    ("int_5000_digits", _with('"max_detections": 9' + "9" * 5000), JSON, BAD_JSON),
    ("max_detections_1e30", _with('"max_detections": 1' + "0" * 30), JSON, BAD_FIELD),
    ("max_detections_negative", _with('"max_detections": -5'), JSON, BAD_FIELD),
    ("max_detections_string", _with('"max_detections": "10"'), JSON, BAD_FIELD),
    ("confidence_list", _with('"confidence": [0.5]'), JSON, BAD_FIELD),
    ("iou_object", _with('"iou": {"value": 0.5}'), JSON, BAD_FIELD),
    ("agnostic_number", _with('"agnostic": 1'), JSON, BAD_FIELD),
    ("multi_label_null", _with('"multi_label": null'), JSON, BAD_FIELD),
    ("classes_object", _with('"classes": {"car": 1}'), JSON, BAD_FIELD),
    ("classes_bool_item", _with('"classes": [true]'), JSON, BAD_CLASS),
    ("classes_float_item", _with('"classes": [2.5]'), JSON, BAD_CLASS),
    ("classes_null_item", _with('"classes": [null]'), JSON, BAD_CLASS),
    ("classes_huge_id", _with('"classes": [1' + "0" * 300 + "]"), JSON, BAD_CLASS),
    ("image_null", _raw(b'{"image": null}'), JSON, BAD_FIELD),
    ("image_list", _raw(b'{"image": ["QUJD"]}'), JSON, BAD_FIELD),
    ("image_object", _raw(b'{"image": {"data": "QUJD"}}'), JSON, BAD_FIELD),
    ("image_bool", _raw(b'{"image": true}'), JSON, BAD_FIELD),
    ("image_non_ascii", _raw('{"image": "ÿÿÿÿ"}'.encode()), JSON, BAD_BASE64),
    ("image_lone_surrogate", _raw(b'{"image": "QUJD\\ud800"}'), JSON, BAD_BASE64),
    ("image_nul_escape", _raw(b'{"image": "QU\\u0000JD"}'), JSON, BAD_BASE64),
    ("image_data_uri_not_base64", _raw(b'{"image": "data:image/png,abc"}'), JSON, BAD_BASE64),
    ("image_data_uri_empty", _raw(b'{"image": "data:;base64,"}'), JSON, (422, "empty_image")),
    ("image_data_uri_text_plain", lambda: _json('{"image": "data:text/plain;base64,$IMG"}'), JSON,
     BAD_FIELD),
    ("image_data_uri_html", lambda: _json('{"image": "data:TEXT/HTML;base64,$IMG"}'), JSON,
     BAD_FIELD),
    ("nesting_100000", _raw(b"[" * 100_000 + b"]" * 100_000), JSON, BAD_JSON),
    ("nesting_900_in_classes", _nested(900), JSON, BAD_JSON),
    ("nesting_20_in_classes", _nested(20), JSON, BAD_JSON),
    ("duplicate_image_key", _with('"image": "QUJD"'), JSON, DUPLICATE),
    ("duplicate_option_key", _with('"iou": 0.1, "iou": 0.9'), JSON, DUPLICATE),
    ("duplicate_nested_key", _with('"classes": [{"a": 1, "a": 2}]'), JSON, DUPLICATE),
    ("unknown_field_fullwidth", _raw('{"ｉｍａｇｅ": "QUJD"}'.encode()), JSON, UNKNOWN),
    ("unknown_fields_10000", _many_unknown_keys(10_000), JSON, UNKNOWN),
    ("unknown_field_100k_name", _with('"' + "k" * 100_000 + '": 1'), JSON, UNKNOWN),
    ("latin1_body", _raw('{"image": "QUJD", "é": 1}'.encode("latin-1")), JSON, BAD_JSON),
    ("utf16_body", _encoded("utf-16"), JSON, BAD_JSON),
    ("utf32_body", _encoded("utf-32"), JSON, BAD_JSON),
    ("over_max_body_bytes", _with('"x": "' + "A" * CORPUS_MAX_BODY_BYTES + '"'), JSON,
     (413, "payload_too_large")),
    ("text_plain", lambda: _json(VALID), "text/plain", MEDIA),
    ("text_json", lambda: _json(VALID), "text/json", MEDIA),
    ("form_urlencoded", _raw(b"image=QUJD"), "application/x-www-form-urlencoded", MEDIA),
    # Not image/* or multipart/form-data: the API takes direct uploads, so those are not refusals.
    ("multipart_mixed", _raw(MULTIPART), "multipart/mixed; boundary=b", MEDIA),
    # Raw bytes: an upload, so a truncated JPEG is a corrupt image, not a refusal.
    ("octet_stream", _raw(b"\xff\xd8\xff\xe0" + b"\0" * 100), "application/octet-stream",
     CORRUPT),
    ("xml_body", _raw(b"<detect><image>QUJD</image></detect>"), "application/xml", MEDIA),
    ("no_content_type", lambda: _json(VALID), None, MEDIA),
]  # fmt: skip

# (name, method, path, (status, code)): routing refusals.
ROUTE_CASES: list[tuple[str, str, str, tuple[int, str]]] = [
    ("get_detect", "GET", "/detect", (405, "method_not_allowed")),
    ("put_detect", "PUT", "/detect", (405, "method_not_allowed")),
    ("delete_model", "DELETE", "/model", (405, "method_not_allowed")),
    ("post_health", "POST", "/health", (405, "method_not_allowed")),
    ("unknown_route", "GET", "/admin", (404, "not_found")),
    ("trailing_slash", "POST", "/detect/", (404, "not_found")),
    ("upper_case_route", "POST", "/DETECT", (404, "not_found")),
    ("dot_dot_path", "GET", "/../../etc/passwd", (404, "not_found")),
    ("long_path", "GET", "/" + "a" * 8000, (404, "not_found")),
]


# (name, Content-Length sent with a valid 1 KB body, (status, code)).
LYING_LENGTH_CASES: list[tuple[str, Callable[[int], str], tuple[int, str]]] = [
    ("longer_than_body", lambda size: str(size + 100), BAD_REQUEST),
    ("shorter_than_body", lambda size: str(size - 10), BAD_JSON),
    ("zero", lambda size: "0", BAD_JSON),
    ("negative", lambda size: "-5", BAD_JSON),
    ("not_a_number", lambda size: "abc", BAD_JSON),
    ("over_the_limit", lambda size: str(10**30), (413, "payload_too_large")),
]


def build_corpus() -> list[Hostile]:
    """Every hostile request, each with its exact expected (status, code)."""
    corpus = [
        Hostile(f"image/{name}", image_request(make()), status, code)
        for name, make, (status, code) in IMAGE_CASES
    ]
    corpus += [
        Hostile(f"body/{name}", make(), status, code, content_type=content_type)
        for name, make, content_type, (status, code) in BODY_CASES
    ]
    corpus += [
        Hostile(f"route/{name}", b"", status, code, content_type=None, method=method, path=path)
        for name, method, path, (status, code) in ROUTE_CASES
    ]
    valid = _json(VALID)
    corpus += [
        Hostile(f"length/{name}", valid, status, code, content_length=length(len(valid)))
        for name, length, (status, code) in LYING_LENGTH_CASES
    ]
    return corpus


SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_MESSAGE_CHARS = 600


def error_problems(status: int, content_type: str | None, body: bytes) -> list[str]:
    """What is wrong with an error response; [] when it is exactly
    {"error": {"code": <snake_case str>, "message": <non-empty str>}} as application/json."""
    if not 400 <= status < 600:
        return [f"status {status} is not an error"]
    if (content_type or "").split(";")[0].strip() != JSON:
        return [f"content type {content_type!r} is not {JSON}"]
    try:
        payload = json.loads(body)
    except ValueError:
        return ["the body is not JSON"]
    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return [f"top-level keys are not exactly ['error']: {str(payload)[:100]}"]
    error = payload["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message"}:
        return [f"error keys are not exactly code and message: {str(error)[:100]}"]
    problems = []
    if not isinstance(error["code"], str) or not SNAKE_CASE.match(error["code"]):
        problems.append(f"code {error['code']!r} is not snake_case")
    message = error["message"]
    if not isinstance(message, str) or not message.strip():
        problems.append("message is empty or not a string")
    elif len(message) > MAX_MESSAGE_CHARS:
        problems.append(f"message is {len(message)} characters long")
    return problems
