"""Direct uploads on POST /detect (raw image/* body, multipart `image` file) and query options."""

from __future__ import annotations

import io

import pytest
import requests

from app import create_app
from app.http.uploads import QUERY_OPTIONS
from tests.conftest import b64
from tests.live_server import serve_in_thread


def _json_detections(client, image: bytes, **options) -> list[dict]:
    response = client.post("/detect", json={"image": b64(image), **options})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["detections"]


def _multipart(image: bytes, filename: str = "photo.jpg") -> dict:
    return {"image": (io.BytesIO(image), filename)}


# (query string, the same options as JSON)
OPTION_CASES = [
    ("", {}),
    ("confidence=0.05", {"confidence": 0.05}),
    ("confidence=0.05&max_detections=3", {"confidence": 0.05, "max_detections": 3}),
    ("confidence=0.05&classes=car", {"confidence": 0.05, "classes": ["car"]}),
    ("confidence=0.05&classes=CAR,%207", {"confidence": 0.05, "classes": ["CAR", 7]}),
    ("confidence=1e-1&agnostic=true&multi_label=false",
     {"confidence": 0.1, "agnostic": True, "multi_label": False}),
    ("iou=0.2&confidence=0.1", {"iou": 0.2, "confidence": 0.1}),
    ("flip=true&confidence=0.1", {"flip": True, "confidence": 0.1}),
]  # fmt: skip


@pytest.mark.parametrize(("query", "options"), OPTION_CASES)
def test_uploads_answer_like_json(client, demo_jpeg, query, options):
    expected = _json_detections(client, demo_jpeg, **options)
    raw = client.post(f"/detect?{query}", data=demo_jpeg, content_type="image/jpeg")
    form = client.post(
        f"/detect?{query}", data=_multipart(demo_jpeg), content_type="multipart/form-data"
    )
    assert raw.status_code == form.status_code == 200
    assert raw.get_json()["detections"] == form.get_json()["detections"] == expected
    # The query string works with a JSON body too.
    merged = client.post(f"/detect?{query}", json={"image": b64(demo_jpeg)})
    assert merged.get_json()["detections"] == expected


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream"])
def test_raw_body_content_type_need_not_match_the_format(client, demo_jpeg, content_type):
    # Browsers and curl label files loosely: the bytes decide the format, not the header.
    expected = client.post("/detect", json={"image": b64(demo_jpeg)}).get_json()["detections"]
    response = client.post("/detect", data=demo_jpeg, content_type=content_type)
    assert response.status_code == 200 and response.get_json()["count"] >= 3
    assert response.get_json()["detections"] == expected


@pytest.mark.parametrize(
    ("query", "content_type", "body", "status", "code"),
    [
        ("", "multipart/form-data", {}, 400, "missing_field"),
        ("", "multipart/form-data", {"picture": (io.BytesIO(b"x"), "a.jpg")}, 400,
         "unknown_field"),
        ("", "multipart/form-data", {"image": (io.BytesIO(b"x"), "a.jpg"), "confidence": "0.3"},
         400, "unknown_field"),
        ("", "multipart/form-data", {"image": [(io.BytesIO(b"x"), "a.jpg"),
                                               (io.BytesIO(b"y"), "b.jpg")]}, 400,
         "invalid_field"),
        ("confidance=0.3", "image/jpeg", b"x", 400, "unknown_field"),
        ("image=abc", "image/jpeg", b"x", 400, "unknown_field"),
        ("confidence=0.3&confidence=0.4", "image/jpeg", b"x", 400, "invalid_field"),
        ("confidence=", "image/jpeg", b"x", 400, "invalid_field"),
        ("confidence=0x1", "image/jpeg", b"x", 400, "invalid_field"),
        ("confidence=1_0", "image/jpeg", b"x", 400, "invalid_field"),
        ("confidence=nan", "image/jpeg", b"x", 400, "invalid_field"),
        ("max_detections=2.5", "image/jpeg", b"x", 400, "invalid_field"),
        ("agnostic=yes", "image/jpeg", b"x", 400, "invalid_field"),
        ("classes=unicorn", "image/jpeg", b"x", 400, "unknown_class"),
        ("classes=80", "image/jpeg", b"x", 400, "unknown_class"),
        ("", "image/jpeg", b"", 422, "empty_image"),
        ("", "image/svg+xml", b"<svg/>", 422, "unsupported_image_format"),
        ("", "text/plain", b"x", 415, "unsupported_media_type"),
        ("", "application/x-www-form-urlencoded", b"image=x", 415, "unsupported_media_type"),
        ("", "application/octet-stream", b"", 422, "empty_image"),
        ("", "application/octet-stream", b"<svg/>", 422, "unsupported_image_format"),
        ("", "application/pdf", b"%PDF-1.4", 415, "unsupported_media_type"),
    ],
)  # fmt: skip
def test_bad_uploads_get_the_usual_errors(client, query, content_type, body, status, code):
    response = client.post(f"/detect?{query}", data=body, content_type=content_type)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"].endswith(".")


@pytest.mark.parametrize(
    ("query", "body", "clash"),
    [
        ("confidence=0.3", {"confidence": 0.4}, "confidence"),
        ("agnostic=true", {"agnostic": False}, "agnostic"),
        ("multi_label=true", {"multi_label": 1}, "multi_label"),
        ("classes=car,2", {"classes": ["car"]}, "classes"),
        ("confidence=0.3", {"confidence": 0.3}, None),
        ("confidence=1", {"confidence": 1}, None),
        ("max_detections=50&agnostic=false", {"max_detections": 50.0, "agnostic": False}, None),
        ("classes=car,2", {"classes": ["car", 2]}, None),
    ],
)
def test_an_option_in_both_query_and_json_must_agree(client, demo_jpeg, query, body, clash):
    # Clients generated from the OpenAPI document may send an option in both places.
    response = client.post(f"/detect?{query}", json={"image": b64(demo_jpeg), **body})
    if clash is None:
        assert response.status_code == 200, response.get_json()
    else:
        assert response.status_code == 400
        assert response.get_json()["error"]["message"].startswith(f"Option(s) {clash} given")


def test_query_values_fail_with_the_json_message(client):
    """A query value is validated by the same code as JSON: the same sentence comes back."""
    from_query = client.post("/detect?iou=2", data=b"x", content_type="image/jpeg")
    from_json = client.post("/detect", json={"image": "QUJD", "iou": 2})
    assert from_query.get_json() == from_json.get_json()


@pytest.mark.parametrize(
    ("settings", "size_bytes", "code"),
    [
        ({"max_image_bytes": 1000}, 1001, "image_too_large"),
        ({"max_body_bytes": 5000}, 6000, "payload_too_large"),
    ],
)
def test_upload_limits(yolox_model, settings, size_bytes, code):
    client = create_app(settings, model=yolox_model).test_client()
    for body, content_type in [
        (b"\xff" * size_bytes, "image/jpeg"),
        (_multipart(b"\xff" * size_bytes), "multipart/form-data"),
    ]:
        response = client.post("/detect", data=body, content_type=content_type)
        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == code


def test_uploads_over_real_http(yolox_model, demo_jpeg):
    """What curl -F image=@photo.jpg and curl --data-binary send, through a real server."""
    with serve_in_thread(create_app(model=yolox_model)) as url:
        form = requests.post(
            f"{url}/detect", params={"confidence": "0.3"}, files={"image": demo_jpeg}, timeout=30
        )
        raw = requests.post(
            f"{url}/detect?confidence=0.3",
            data=demo_jpeg,
            headers={"Content-Type": "image/jpeg"},
            timeout=30,
        )
        octets = requests.post(
            f"{url}/detect?confidence=0.3",
            data=demo_jpeg,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
    assert form.status_code == raw.status_code == octets.status_code == 200
    assert form.json()["detections"] == raw.json()["detections"] == octets.json()["detections"]
    assert form.json()["count"] >= 3


def test_every_query_option_is_a_json_option():
    from app.schemas.detect import DETECT_FIELDS

    assert set(QUERY_OPTIONS) <= set(DETECT_FIELDS) - {"image"}
