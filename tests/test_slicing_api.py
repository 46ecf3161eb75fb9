"""POST /detect's "slicing" object: validation, the response summary, the tile limit."""

from __future__ import annotations

import numpy as np
import pytest

from app import create_app
from tests.conftest import b64, encode_image


@pytest.mark.parametrize(
    ("slicing", "code"),
    [
        ("on", "invalid_field"),
        ([416], "invalid_field"),
        ({"mode": "always"}, "invalid_field"),
        ({"mode": None}, "invalid_field"),
        ({"tile": 31}, "invalid_field"),
        ({"tile": 4097}, "invalid_field"),
        ({"tile": [416]}, "invalid_field"),
        ({"tile": [416, 416, 3]}, "invalid_field"),
        ({"tile": [416, 20]}, "invalid_field"),
        ({"tile": 416.5}, "invalid_field"),
        ({"tile": True}, "invalid_field"),
        ({"tile": "416"}, "invalid_field"),
        ({"overlap": 0.95}, "invalid_field"),
        ({"overlap": -0.01}, "invalid_field"),
        ({"overlap": "0.2"}, "invalid_field"),
        ({"whole_image": "yes"}, "invalid_field"),
        ({"merge": "wbf"}, "invalid_field"),
        ({"match_metric": "IOU"}, "invalid_field"),
        ({"match_threshold": 1.5}, "invalid_field"),
        ({"class_agnostic": 1}, "invalid_field"),
        ({"tiles": 4}, "unknown_field"),
        ({"mode": "on", "overlapp": 0.2}, "unknown_field"),
    ],
)
def test_bad_slicing_is_400_with_a_code(client, slicing, code):
    response = client.post("/detect", json={"image": "QUJD", "slicing": slicing})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"].endswith(".")
    assert "slicing" in error["message"]


def test_response_reports_the_slicing_done(client, demo_jpeg):
    slicing = {"mode": "on", "tile": [320, 256], "overlap": 0.25, "whole_image": False}
    response = client.post("/detect", json={"image": b64(demo_jpeg), "slicing": slicing})
    assert response.status_code == 200
    # 1068 px: starts 0, 240, 480, 720 and 748 (edge); 580 px: 0, 192 and 324 (edge).
    assert response.get_json()["slicing"] == {
        "tiles": 15,
        "tile": {"width": 320, "height": 256},
        "overlap": 0.25,
        "whole_image": False,
    }


@pytest.mark.parametrize(
    ("image_hw", "slicing"),
    [((580, 1068), {"mode": "off"}), ((480, 640), {}), ((480, 640), {"mode": "auto"})],
)
def test_no_slicing_object_when_not_sliced(client, image_hw, slicing):
    image = encode_image(np.full((*image_hw, 3), 90, np.uint8))
    response = client.post("/detect", json={"image": b64(image), "slicing": slicing})
    assert response.status_code == 200
    assert "slicing" not in response.get_json()


def test_defaults_come_from_settings(yolox_model):
    settings = {"slicing_mode": "on", "slicing_tile": (200, 100), "slicing_whole_image": False}
    client = create_app(settings, model=yolox_model).test_client()
    image = encode_image(np.full((150, 300, 3), 90, np.uint8))
    body = client.post("/detect", json={"image": b64(image)}).get_json()
    assert body["slicing"]["tile"] == {"width": 200, "height": 100}
    assert (body["slicing"]["tiles"], body["slicing"]["whole_image"]) == (4, False)
    request = {"image": b64(image), "slicing": {"whole_image": True}}
    assert client.post("/detect", json=request).get_json()["slicing"]["whole_image"]


def test_too_many_tiles_is_413_naming_the_limit(yolox_model, demo_jpeg):
    client = create_app({"max_tiles": 5}, model=yolox_model).test_client()
    response = client.post("/detect", json={"image": b64(demo_jpeg)})  # "auto": 6 tiles
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_tiles"
    assert "6 tiles, over the limit of 5" in error["message"]
    request = {"image": b64(demo_jpeg), "slicing": {"tile": 600}}  # 2 x 1 tiles fit
    assert client.post("/detect", json=request).status_code == 200
