"""Property-based fuzzing (hypothesis) of POST /detect: JSON bodies built around the schema, raw
body bytes, and raw or mutated bytes as images. The properties: never a 5xx, every error body
has exactly the documented shape, and a valid request right after is answered correctly.

CI runs a small, derandomized (reproducible) number of examples. For a longer campaign:
    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz.py
which also randomizes the examples and keeps failures in .hypothesis/ to replay them.
"""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import create_app
from app.detector import DetectionError
from app.detector.preprocess import decode_image
from app.http.errors import http_error
from tests.hostile import JSON, TINY_B64, TINY_PNG, corpus_settings, error_problems

CAMPAIGN_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
RESPONSE_KEYS = ["detections", "count", "image", "model", "timings_ms"]


def fuzz(ci_examples: int) -> settings:
    """Reproducible in CI; FUZZ_EXAMPLES=N runs N random examples per property instead."""
    if CAMPAIGN_EXAMPLES:
        return settings(max_examples=CAMPAIGN_EXAMPLES, deadline=None, derandomize=False)
    return settings(
        max_examples=ci_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


@pytest.fixture(scope="module")
def client(yolox_model):
    return create_app(corpus_settings(), model=yolox_model).test_client()


@pytest.fixture(scope="module")
def check_still_works(client):
    """A callable asserting that a valid request gets the same answer as before the fuzzing."""
    body = json.dumps({"image": TINY_B64, "confidence": 0.001}).encode()

    def answer():
        response = client.post("/detect", data=body, content_type=JSON)
        assert response.status_code == 200, response.get_data()[:300]
        return response.get_json()["detections"]

    expected = answer()

    def check():
        assert answer() == expected

    return check


def assert_well_formed(response) -> None:
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code == 200:
        assert list(response.get_json()) == RESPONSE_KEYS
    else:
        problems = error_problems(response.status_code, response.content_type, response.get_data())
        assert problems == [], (response.status_code, response.get_data()[:300])


# --- JSON shaped like the schema ------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
images = st.sampled_from([TINY_B64, TINY_B64.rstrip("="), "data:image/png;base64," + TINY_B64])
images = images | st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.hex()) | json_values
unit = st.floats(min_value=0, max_value=1) | json_values
labels = st.sampled_from(["car", "CAR", " truck ", "person", "unicorn", ""])
classes = st.lists(labels | st.integers(-3, 90) | json_values, max_size=5) | json_values
schema_bodies = st.fixed_dictionaries(
    {},
    optional={
        "image": images,
        "confidence": unit,
        "iou": unit,
        "max_detections": st.integers(-2, 10_002) | json_values,
        "classes": classes,
        "multi_label": st.booleans() | json_values,
        "agnostic": st.booleans() | json_values,
    },
)
bodies = (
    schema_bodies
    | st.tuples(schema_bodies, st.dictionaries(st.text(max_size=12), json_values, max_size=2)).map(
        lambda pair: {**pair[0], **pair[1]}
    )
    | json_values
)


@fuzz(ci_examples=60)
@given(payload=bodies)
def test_json_shaped_like_the_schema(client, check_still_works, payload):
    body = json.dumps(payload, allow_nan=True).encode()
    assert_well_formed(client.post("/detect", data=body, content_type=JSON))
    check_still_works()


@fuzz(ci_examples=60)
@given(
    body=st.binary(max_size=300)
    | st.text(max_size=300).map(str.encode)
    | st.builds(
        lambda head, tail: head + tail,
        st.sampled_from([b"{", b'{"image": "', b"[", b"\xef\xbb\xbf{"]),
        st.binary(max_size=50),
    ),
    content_type=st.sampled_from([JSON, "application/json; charset=utf-16", "text/plain", None]),
)
def test_raw_body_bytes(client, check_still_works, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    assert_well_formed(client.post("/detect", data=body, headers=headers))
    check_still_works()


# --- bytes as images ------------------------------------------------------------------------


def _seed(fmt: str, mode: str = "RGB", **save_args) -> bytes:
    rng = np.random.default_rng(len(fmt) + len(save_args))
    pixels = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


SEEDS = [
    TINY_PNG,
    _seed("PNG"),
    _seed("PNG", "P"),
    _seed("JPEG", quality=80),
    _seed("JPEG", progressive=True),
    _seed("GIF", "P"),
    _seed("BMP"),
    _seed("TIFF"),
    _seed("TIFF", compression="tiff_lzw"),
    _seed("WEBP", quality=80),
    _seed("WEBP", lossless=True),
]


@st.composite
def mutated_images(draw) -> bytes:
    """A valid small image with a few bytes overwritten, cut short and/or spliced."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        # Headers sit at the front: bias edits there, where they reach the most code.
        position = draw(st.integers(0, min(len(data) - 1, draw(st.sampled_from([64, 512, 10**6])))))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


image_bytes = mutated_images() | st.binary(max_size=200)


DECODE_OUTCOMES = {
    "pixels",
    "422 empty_image",
    "422 corrupt_image",
    "422 unsupported_image_format",
    "413 image_too_large",
}


def decode_outcome(data: bytes) -> str:
    """'pixels' for a well-formed (H, W, 3) uint8 array, else '<status> <code>' of the error."""
    try:
        pixels = decode_image(data, max_pixels=1_000_000)
    except DetectionError as exc:
        return f"{http_error(exc).status} {exc.code}"
    well_formed = pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    return "pixels" if well_formed and min(pixels.shape[:2]) >= 1 else f"bad array {pixels.shape}"


@fuzz(ci_examples=300)
@given(data=image_bytes)
def test_decoding_any_bytes_gives_pixels_or_a_typed_error(data):
    assert decode_outcome(data) in DECODE_OUTCOMES


@fuzz(ci_examples=40)
@given(data=image_bytes)
def test_any_bytes_as_an_image_through_the_api(client, check_still_works, data):
    body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
    response = client.post("/detect", data=body, content_type=JSON)
    assert_well_formed(response)
    assert response.status_code in (200, 400, 413, 422)
    check_still_works()
