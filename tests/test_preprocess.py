"""Letterbox geometry, its inverse, image decoding and orientation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.detector import InvalidImage, PayloadTooLarge
from app.detector.preprocess import (
    PAD_VALUE,
    Letterbox,
    decode_image,
    fit_letterbox,
    letterbox,
    to_tensor,
)
from tests.conftest import encode_image


@pytest.mark.parametrize(
    ("image_wh", "input_wh", "centered", "expected_scale", "expected_pad", "expected_resized"),
    [
        # YOLOX: top-left, size truncated.
        ((640, 480), (416, 416), False, 0.65, (0, 0), (416, 312)),
        ((480, 640), (416, 416), False, 0.65, (0, 0), (312, 416)),
        ((1000, 333), (416, 416), False, 0.416, (0, 0), (416, 138)),
        # Ultralytics: centred, rounded, the -0.1 rule puts odd padding at the bottom/right.
        ((640, 480), (640, 640), True, 1.0, (0, 80), (640, 480)),
        ((1280, 720), (640, 640), True, 0.5, (0, 140), (640, 360)),
        ((500, 375), (640, 640), True, 1.28, (0, 80), (640, 480)),
        ((333, 1000), (640, 640), True, 0.64, (213, 0), (213, 640)),
        ((100, 100), (640, 640), True, 6.4, (0, 0), (640, 640)),
    ],
)
def test_fit_letterbox_table(
    image_wh, input_wh, centered, expected_scale, expected_pad, expected_resized
):
    box, resized = fit_letterbox(image_wh, input_wh, centered=centered)
    assert box.scale == pytest.approx(expected_scale)
    assert (box.pad_x_px, box.pad_y_px) == expected_pad
    assert resized == expected_resized


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize(("width_px", "height_px"), [(640, 480), (333, 1000), (1920, 1080)])
def test_letterbox_round_trip_on_non_square_images(centered, width_px, height_px):
    """A box drawn on the image maps to the canvas and back to the same image pixels."""
    rng = np.random.default_rng(0)
    image = np.zeros((height_px, width_px, 3), np.uint8)
    x1, y1 = int(width_px * 0.3), int(height_px * 0.4)
    x2, y2 = int(width_px * 0.6), int(height_px * 0.9)
    image[y1:y2, x1:x2] = 255
    canvas, box = letterbox(image, (416, 416), centered=centered)
    assert canvas.shape == (416, 416, 3)

    # The white block on the canvas is where to_input() says the box lands.
    rows, cols = np.nonzero(canvas[:, :, 0] > 128)
    found_input = np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float32)
    truth = np.array([[x1, y1, x2, y2]], np.float32)
    np.testing.assert_allclose(box.to_input(truth), found_input, atol=1.5)

    # Random boxes survive the round trip to within float error.
    xs = np.sort(rng.uniform(0, width_px, (20, 2)), axis=1)
    ys = np.sort(rng.uniform(0, height_px, (20, 2)), axis=1)
    boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1).astype(np.float32)
    np.testing.assert_allclose(
        box.to_image(box.to_input(boxes), (width_px, height_px)), boxes, atol=1e-3
    )


def test_letterbox_pads_with_grey_on_the_right_side():
    image = np.zeros((100, 200, 3), np.uint8)
    top_left, _ = letterbox(image, (64, 64), centered=False)
    centred, _ = letterbox(image, (64, 64), centered=True)
    assert (top_left[:32] == 0).all() and (top_left[32:] == PAD_VALUE).all()
    assert (centred[:16] == PAD_VALUE).all() and (centred[16:48] == 0).all()
    assert (centred[48:] == PAD_VALUE).all()


def test_to_image_clips_to_the_image():
    box = Letterbox(scale=0.5, pad_x_px=10, pad_y_px=0)
    inside = box.to_image(np.array([[0, -5, 400, 300]], np.float32), (500, 400))
    np.testing.assert_allclose(inside, [[0, 0, 500, 400]])


@pytest.mark.parametrize(("bgr", "scale"), [(True, 1.0), (False, 1 / 255)])
def test_to_tensor_channel_order_and_scale(bgr, scale):
    canvas = np.zeros((2, 3, 3), np.uint8)
    canvas[..., 0], canvas[..., 1], canvas[..., 2] = 10, 20, 30  # R, G, B
    out = np.empty((3, 2, 3), np.float32)
    to_tensor(canvas, bgr=bgr, scale=scale, out=out)
    expected = [30, 20, 10] if bgr else [10, 20, 30]
    np.testing.assert_allclose(out[:, 0, 0], np.array(expected) * scale, rtol=1e-6)


def _gradient(width_px=48, height_px=32) -> np.ndarray:
    x = np.linspace(0, 255, width_px, dtype=np.uint8)
    image = np.zeros((height_px, width_px, 3), np.uint8)
    image[..., 0] = x
    image[..., 1] = 255 - x
    image[: height_px // 2, :, 2] = 200
    return image


@pytest.mark.parametrize(
    ("fmt", "save_args", "lossless"),
    [
        ("PNG", {}, True),
        ("BMP", {}, True),
        ("TIFF", {}, True),
        ("WEBP", {"lossless": True}, True),
        ("JPEG", {"quality": 95}, False),
        ("GIF", {}, False),
    ],
)
def test_decode_image_formats(fmt, save_args, lossless):
    image = _gradient()
    decoded = decode_image(encode_image(image, fmt, **save_args), max_pixels=10_000)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    tolerance = 0 if lossless else 40
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() <= tolerance


# EXIF orientation -> the transform that displays the stored pixels upright.
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(orientation):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:5, :10] = 255  # a white block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode_image(stored, "PNG", exif=exif)
    decoded = decode_image(data, max_pixels=10_000)
    expected = ORIENTATIONS[orientation](stored)
    assert decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)


def test_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(data, max_pixels=10_000)
    assert decoded[0, 0, 0] > 200 and decoded[0, 0, 2] < 50


def test_transparent_png_becomes_pad_grey():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)
    decoded = decode_image(encode_image(rgba, "PNG"), max_pixels=10_000)
    assert tuple(decoded[0, 0]) == (255, 0, 0)
    assert tuple(decoded[0, 7]) == (PAD_VALUE,) * 3


def test_sixteen_bit_png_keeps_its_range():
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    data = encode_image(Image.fromarray(grey), "PNG")
    decoded = decode_image(data, max_pixels=10_000)
    assert decoded[..., 0].max() > 200  # not clipped to white, not crushed to black
    assert decoded[0, 0, 0] == 0


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"", InvalidImage, "empty_image"),
        (b"hello, world", InvalidImage, "unsupported_image_format"),
        (b"<html><body>not an image</body></html>", InvalidImage, "unsupported_image_format"),
        (encode_image(np.zeros((64, 64, 3), np.uint8), "PNG")[:60], InvalidImage, "corrupt_image"),
    ],
)
def test_bad_bytes_are_refused_with_a_code(data, error, code):
    with pytest.raises(error) as caught:
        decode_image(data, max_pixels=10_000)
    assert caught.value.code == code


def test_pixel_limit_is_checked_from_the_header():
    data = encode_image(np.zeros((50, 60, 3), np.uint8), "PNG")
    with pytest.raises(PayloadTooLarge, match="60x50"):
        decode_image(data, max_pixels=2999)
    assert decode_image(data, max_pixels=3000).shape == (50, 60, 3)
