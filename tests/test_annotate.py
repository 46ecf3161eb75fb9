"""Annotated images: boxes drawn where the detections are, in their class colour; JPEG out."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.detector import Detections
from app.detector.annotate import (
    MAX_SIDE_PX,
    colour_for,
    draw_detections,
    encode_jpeg,
    line_width_px,
)
from tests.conftest import b64

NAMES = ("person", "bicycle", "car")
GREY = 114


def _grey(width_px: int, height_px: int) -> np.ndarray:
    return np.full((height_px, width_px, 3), GREY, np.uint8)


@pytest.mark.parametrize(
    ("image_wh", "xyxy", "class_id"),
    [
        ((400, 300), [100.0, 120.0, 300.0, 260.0], 2),
        ((1200, 900), [500.4, 300.6, 700.2, 610.8], 0),
        ((640, 640), [10.0, 60.0, 40.0, 90.0], 1),  # a small object
    ],
)
def test_box_edges_take_the_class_colour_and_the_inside_stays(image_wh, xyxy, class_id):
    found = Detections.from_arrays([xyxy], [0.9], [class_id])
    drawn = np.asarray(draw_detections(_grey(*image_wh), found, NAMES))
    colour = np.array(colour_for(class_id))
    x1, y1, x2, y2 = (round(v) for v in xyxy)
    middle_x, middle_y = (x1 + x2) // 2, (y1 + y2) // 2
    inset = line_width_px(image_wh) // 2
    for x, y in [(x1 + inset, middle_y), (x2 - inset, middle_y), (middle_x, y2 - inset)]:
        assert np.array_equal(drawn[y, x], colour), (x, y, drawn[y, x])
    # The centre of the box and a point outside it are untouched.
    assert np.array_equal(drawn[middle_y, middle_x], [GREY] * 3)
    assert np.array_equal(drawn[image_wh[1] - 1, image_wh[0] - 1], [GREY] * 3)


def test_label_is_drawn_above_the_box_or_inside_at_the_top():
    image = _grey(300, 200)
    above = np.asarray(
        draw_detections(image, Detections.from_arrays([[50, 100, 200, 180]], [0.8], [2]), NAMES)
    )
    inside = np.asarray(
        draw_detections(image, Detections.from_arrays([[50, 0, 200, 180]], [0.8], [2]), NAMES)
    )

    # The label (class colour behind white text) covers a band just above the box top (y=100)
    # when there is room, and just below it (y=0) when there is not.
    def covered(pixels: np.ndarray, rows: slice) -> float:
        return float((pixels[rows, 54:70] != GREY).any(axis=2).mean())

    assert covered(above, slice(92, 98)) > 0.95 and covered(inside, slice(92, 98)) < 0.05
    assert covered(inside, slice(4, 10)) > 0.95 and covered(above, slice(4, 10)) < 0.05


def test_no_detections_leaves_the_picture_as_it_was():
    image = np.random.default_rng(1).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(draw_detections(image, Detections.empty(), NAMES)), image)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((640, 480), (640, 480)),
        ((4000, 2250), (MAX_SIDE_PX, 1152)),
        ((1000, 3000), (683, MAX_SIDE_PX)),
    ],
)
def test_jpeg_is_scaled_down_only_when_large(size, expected):
    data = encode_jpeg(Image.new("RGB", size, (10, 20, 30)))
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "JPEG" and decoded.size == expected


def test_api_annotate_returns_the_picture_with_its_boxes(client, demo_jpeg):
    whole = {"mode": "off"}  # one pass: the drawn boxes are the whole-image detections
    plain = client.post("/detect", json={"image": b64(demo_jpeg), "slicing": whole}).get_json()
    request = {"image": b64(demo_jpeg), "annotate": True, "slicing": whole}
    body = client.post("/detect", json=request).get_json()
    assert "annotated_image" not in plain
    assert body["detections"] == plain["detections"]
    picture = Image.open(io.BytesIO(base64.b64decode(body["annotated_image"], validate=True)))
    assert picture.format == "JPEG" and picture.size == (1068, 580)
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    original = np.asarray(Image.open(io.BytesIO(demo_jpeg)).convert("RGB")).astype(int)
    width = line_width_px((1068, 580))
    for d in body["detections"]:
        x1, x2 = round(d["box"]["x1"]), round(d["box"]["x2"])
        y_middle = round((d["box"]["y1"] + d["box"]["y2"]) / 2)
        edge = pixels[y_middle, x2 - width // 2]
        # JPEG moves colours a little; the edge is far nearer its class colour than the photo was.
        target = np.array(colour_for(d["class_id"]))
        assert (
            np.abs(edge - target).sum() < np.abs(original[y_middle, x2 - width // 2] - target).sum()
        )
        assert x1 < x2
    assert body["timings_ms"]["annotate"] > 0
