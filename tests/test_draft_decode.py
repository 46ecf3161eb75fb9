"""Reduced-scale JPEG decoding: when it happens, that it never upsamples, orientation, accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from app.detector import DetectOptions
from app.detector.draft import decode_scaled
from app.detector.nms import overlap_one_to_many
from app.detector.pipeline import detect_array, detect_bytes
from app.detector.preprocess import decode_image, fit_letterbox
from tests.conftest import b64, encode_image, shared_path

LARGE_PIXELS = 100_000_000


def gradient_jpeg(width_px: int, height_px: int, **save_args) -> bytes:
    """A smooth picture (cheap to encode, survives DCT scaling) of the given stored size."""
    xs = np.linspace(0, 255, width_px, dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, height_px, dtype=np.float32)[:, None]
    pixels = np.stack([xs + 0 * ys, ys + 0 * xs, (xs + ys) / 2], axis=2).astype(np.uint8)
    return encode_image(pixels, "JPEG", quality=90, **save_args)


@pytest.mark.parametrize(
    ("image_wh", "fit_wh", "expected_scale"),
    [
        ((1920, 1080), (416, 416), 4),  # 480x270: still >= the 416x234 letterbox
        ((1920, 1080), (640, 640), 2),  # 960x540 >= 640x360; 1/4 would be 480x270
        ((1068, 580), (416, 416), 2),
        ((833, 833), (416, 416), 2),  # 417x417 >= 416x416
        ((831, 831), (416, 416), 1),  # 416x416 would need more than 1/2
        ((640, 480), (416, 416), 1),  # the COCO case: 0.65 is no DCT scale
        ((4000, 2250), (640, 640), 4),
        ((8000, 500), (416, 416), 8),
    ],
)
def test_draft_scale_table_never_upsamples(image_wh, fit_wh, expected_scale):
    decoded = decode_scaled(gradient_jpeg(*image_wh), max_pixels=LARGE_PIXELS, min_size_wh=fit_wh)
    assert decoded.draft_scale == expected_scale
    assert decoded.image_wh == image_wh
    width_px, height_px = decoded.pixels.size
    assert (width_px, height_px) == tuple(math.ceil(v / expected_scale) for v in image_wh)
    box, _ = fit_letterbox((width_px, height_px), fit_wh, centered=True)
    assert box.scale <= 1.0, "the letterbox would upsample the reduced image"


@pytest.mark.parametrize(
    ("fmt", "min_size_wh", "expected_scale"),
    [
        ("JPEG", (416, 416), 4),
        ("JPEG", None, 1),  # the sliced path needs every pixel
        ("PNG", (416, 416), 1),  # only JPEG decoders can scale in the DCT
        ("WEBP", (416, 416), 1),
    ],
)
def test_only_jpegs_are_reduced_and_only_when_asked(fmt, min_size_wh, expected_scale):
    pixels = np.full((1080, 1920, 3), 50, np.uint8)
    data = gradient_jpeg(1920, 1080) if fmt == "JPEG" else encode_image(pixels, fmt)
    decoded = decode_scaled(data, max_pixels=LARGE_PIXELS, min_size_wh=min_size_wh)
    assert decoded.draft_scale == expected_scale
    assert decoded.pixels.size == (1920 // expected_scale, 1080 // expected_scale)
    assert decoded.image_wh == (1920, 1080)


def white_block_xyxy(pixels: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(pixels[:, :, 0] > 128)
    return np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float32)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_orientation_is_applied_to_a_drafted_image(orientation):
    stored = np.zeros((900, 1600, 3), np.uint8)
    stored[200:400, 1000:1400] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode_image(stored, "JPEG", quality=95, exif=exif)
    full = decode_image(data, max_pixels=LARGE_PIXELS)

    decoded = decode_scaled(data, max_pixels=LARGE_PIXELS, min_size_wh=(416, 416))

    assert decoded.draft_scale == 2
    assert decoded.image_wh == (full.shape[1], full.shape[0])
    mapped = decoded.to_image(white_block_xyxy(np.asarray(decoded.pixels)))
    np.testing.assert_allclose(mapped, white_block_xyxy(full), atol=decoded.draft_scale)


def test_to_image_scales_and_clips():
    decoded = decode_scaled(
        gradient_jpeg(1920, 1080), max_pixels=LARGE_PIXELS, min_size_wh=(416, 416)
    )
    got = decoded.to_image(np.array([[10, 20, 30, 40], [470, 260, 481, 271]], np.float32))
    np.testing.assert_array_equal(got, [[40, 80, 120, 160], [1880, 1040, 1920, 1080]])


@pytest.mark.parametrize(
    ("name", "confidence", "expected_scale"),
    [("boats.jpg", 0.1, 4), ("small-vehicles1.jpeg", 0.25, 2)],
)
def test_drafted_detections_match_the_full_decode(yolox_model, name, confidence, expected_scale):
    """Every detection of the full-size decode is found again, within a few pixels, when the
    same large image goes through the reduced decode (at half the threshold, so that a score
    moving slightly across the threshold does not count as a miss)."""
    data = shared_path("data", "demo", name).read_bytes()
    full = detect_array(
        yolox_model, decode_image(data, max_pixels=LARGE_PIXELS), DetectOptions(confidence)
    )
    result = detect_bytes(yolox_model, data, DetectOptions(confidence / 2))
    drafted = result.detections

    assert decode_scaled(data, max_pixels=LARGE_PIXELS, min_size_wh=(416, 416)).draft_scale == (
        expected_scale
    )
    with Image.open(shared_path("data", "demo", name)) as image:
        assert result.image_wh == image.size
    assert len(full) >= 1
    for box, class_id in zip(full.xyxy, full.class_id, strict=True):
        same_class = drafted[drafted.class_id == class_id]
        iou = overlap_one_to_many(box, same_class.xyxy)
        best = int(iou.argmax())
        assert iou[best] >= 0.9, (box, same_class.xyxy)
        assert np.abs(same_class.xyxy[best] - box).max() <= 4.0, (box, same_class.xyxy[best])


def test_api_reports_the_original_size_of_a_drafted_image(client):
    data = shared_path("data", "demo", "boats.jpg").read_bytes()
    response = client.post("/detect", json={"image": b64(data), "confidence": 0.05})
    assert response.status_code == 200
    body = response.get_json()
    assert body["image"] == {"width": 1920, "height": 1080}
    assert body["count"] >= 1
    for found in body["detections"]:
        assert 0 <= found["box"]["x1"] <= found["box"]["x2"] <= 1920
        assert 0 <= found["box"]["y1"] <= found["box"]["y2"] <= 1080
