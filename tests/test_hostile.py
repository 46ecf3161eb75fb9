"""The hostile corpus through the real Flask app: each input gets its exact status and code, the
error body has exactly the documented shape, and a valid request right after still works."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from app import create_app
from tests.conftest import b64, shared_path
from tests.hostile import JSON, Hostile, build_corpus, corpus_settings, error_problems
from tests.image_makers import ACCEPTED_VARIANTS

CORPUS = build_corpus()


@pytest.fixture(scope="module")
def corpus_client(yolox_model):
    return create_app(corpus_settings(), model=yolox_model).test_client()


@pytest.fixture(scope="module")
def valid_body(demo_jpeg) -> bytes:
    return json.dumps({"image": b64(demo_jpeg)}).encode()


@pytest.fixture(scope="module")
def expected_detections(corpus_client, valid_body) -> list:
    response = corpus_client.post("/detect", data=valid_body, content_type=JSON)
    assert response.status_code == 200
    detections = response.get_json()["detections"]
    assert len(detections) >= 3
    return detections


def send(client, case: Hostile):
    headers = {}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    environ = {}
    if case.content_length is not None:
        environ["CONTENT_LENGTH"] = case.content_length
    return client.open(
        case.path, method=case.method, data=case.body, headers=headers, environ_overrides=environ
    )


def test_the_corpus_is_big_and_covers_every_category():
    names = [case.name for case in CORPUS]
    assert len(names) == len(set(names))
    by_category: dict[str, int] = {}
    for name in names:
        by_category[name.split("/")[0]] = by_category.get(name.split("/")[0], 0) + 1
    assert len(CORPUS) >= 40
    assert by_category["image"] >= 40 and by_category["body"] >= 40
    assert {"route", "length"} <= set(by_category)
    assert {case.status for case in CORPUS} == {400, 404, 405, 413, 415, 422}


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_hostile_input_gets_its_error_and_the_next_request_works(
    corpus_client, valid_body, expected_detections, case
):
    response = send(corpus_client, case)

    assert error_problems(response.status_code, response.content_type, response.get_data()) == []
    assert response.status_code == case.status, response.get_json()
    assert response.get_json()["error"]["code"] == case.code
    after = corpus_client.post("/detect", data=valid_body, content_type=JSON)
    assert after.status_code == 200
    assert after.get_json()["detections"] == expected_detections


def _case(name: str) -> Hostile:
    return next(case for case in CORPUS if case.name == name)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("image/png_50000x50000", ["100,000,000"]),
        ("image/png_11000x10000", ["11000x10000", "100,000,000"]),
        ("image/jpeg_1000_scans", ["100 scans"]),
        ("image/decoded_over_max_image_bytes", ["700,000 bytes"]),
        ("image/eps", ["PostScript", "JPEG, PNG, WebP"]),
        ("image/pdf_text", ["PDF document"]),
        ("image/svg", ["SVG"]),
        ("image/html", ["HTML"]),
        ("image/png_truncated", ["truncated or corrupt"]),
        ("image/png_signature_only", ["PNG", "header"]),
        ("body/over_max_body_bytes", ["1,000,000 bytes"]),
        ("body/duplicate_option_key", ["'iou'"]),
        ("body/nesting_20_in_classes", ["16 levels"]),
        ("body/image_data_uri_text_plain", ["'text/plain'", "data:image/...;base64,"]),
        ("body/unknown_fields_10000", ["'unknown_0'", "and 9995 more"]),
    ],
)
def test_messages_name_what_was_wrong(corpus_client, name, words):
    message = send(corpus_client, _case(name)).get_json()["error"]["message"]
    for word in words:
        assert word in message


@pytest.mark.parametrize("name", ["body/nesting_100000", "body/nesting_900_in_classes"])
def test_deep_nesting_is_named_in_our_words_not_pythons(corpus_client, name):
    message = send(corpus_client, _case(name)).get_json()["error"]["message"]
    assert message == "The JSON is nested more than 16 levels deep."


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(shared_path("data", "demo", "small-vehicles1.jpeg")) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def default_client(yolox_model):
    return create_app(model=yolox_model).test_client()


@pytest.mark.parametrize(
    ("make", "swapped"), [pytest.param(m, s, id=name) for name, m, s in ACCEPTED_VARIANTS]
)
def test_every_accepted_mode_and_container_finds_the_cars(default_client, photo, make, swapped):
    response = default_client.post("/detect", json={"image": b64(make(photo))})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    size = (photo.height, photo.width) if swapped else (photo.width, photo.height)
    assert (body["image"]["width"], body["image"]["height"]) == size
    if not swapped:  # rotated cars are another test's business (tests/test_preprocess.py)
        cars = [d for d in body["detections"] if d["label"] == "car"]
        assert len(cars) >= 4, [d["label"] for d in body["detections"]]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"\xef\xbb\xbf", JSON, id="utf8_bom"),
        pytest.param(b"", "application/json; charset=latin-1", id="charset_latin1_ignored"),
        pytest.param(b"", "application/json; charset=UTF-8", id="charset_utf8"),
        pytest.param(b"", "application/merge-patch+json", id="plus_json_suffix"),
        pytest.param(b"\r\n\t ", JSON, id="leading_whitespace"),
    ],
)
def test_lenient_where_it_costs_nothing(
    corpus_client, valid_body, expected_detections, body, content_type
):
    response = corpus_client.post("/detect", data=body + valid_body, content_type=content_type)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["detections"] == expected_detections
