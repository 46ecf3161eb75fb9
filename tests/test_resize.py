"""Banded resizing gives the same bytes as one Pillow resize, whatever the split."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.detector import resize
from app.detector.preprocess import letterbox


def noise_image(width_px: int, height_px: int, seed: int = 3) -> Image.Image:
    """High-frequency content, so a filter window one row off shows in the bytes."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height_px, width_px, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("source_wh", "out_wh", "bands"),
    [
        ((640, 480), (416, 312), 2),  # the COCO case
        ((640, 480), (416, 312), 3),
        ((640, 480), (416, 312), 4),
        ((1920, 1080), (416, 234), 2),  # full HD into 416
        ((1920, 1080), (640, 360), 2),  # full HD into 640
        ((1080, 1920), (234, 416), 4),  # portrait: bands of a tall output
        ((500, 300), (640, 384), 2),  # upsampling
    ],
)
def test_bands_on_whole_source_rows_equal_one_resize_exactly(source_wh, out_wh, bands):
    image = noise_image(*source_wh)
    expected = np.asarray(image.resize(out_wh, Image.Resampling.BILINEAR))
    out = np.zeros((out_wh[1], out_wh[0], 3), np.uint8)

    resize.resize_into(image, out, bands=bands)

    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("source_wh", "out_wh", "bands"),
    [
        ((997, 13), (416, 5), 4),  # coprime heights: band edges on fractional source rows
        ((641, 479), (416, 311), 2),
        ((50, 50), (7, 3), 4),  # more bands asked than rows: one row per band
    ],
)
def test_bands_on_fractional_rows_stay_within_one_grey_level(source_wh, out_wh, bands):
    image = noise_image(*source_wh)
    expected = np.asarray(image.resize(out_wh, Image.Resampling.BILINEAR)).astype(np.int16)
    out = np.zeros((out_wh[1], out_wh[0], 3), np.uint8)

    resize.resize_into(image, out, bands=bands)

    difference = np.abs(out.astype(np.int16) - expected)
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.02


@pytest.mark.parametrize(
    ("src_h", "out_h", "bands", "expected"),
    [
        (480, 312, 2, [0, 156, 312]),  # 156 output rows = 240 source rows
        (480, 312, 3, [0, 104, 208, 312]),  # step 13: 104 = 8 x 13
        (1080, 234, 2, [0, 117, 234]),
        (1080, 234, 4, [0, 52, 117, 182, 234]),  # nearest multiples of 13 to 58.5 / 175.5
        (479, 311, 2, [0, 156, 311]),  # coprime: the even split
        (13, 5, 4, [0, 1, 2, 4, 5]),
    ],
)
def test_band_rows_table(src_h, out_h, bands, expected):
    assert resize.band_rows(src_h, out_h, bands) == expected


def test_writes_only_inside_the_view_it_is_given():
    canvas = np.full((416, 416, 3), 114, np.uint8)
    resize.resize_into(noise_image(640, 480), canvas[50:362, :], bands=2)
    assert (canvas[:50] == 114).all()
    assert (canvas[362:] == 114).all()


@pytest.mark.parametrize(
    ("source_wh", "cpus", "expected"),
    [
        ((640, 480), 2, 2),
        ((640, 480), 1, 1),  # e.g. Lambda under 1,769 MB: no second CPU to use
        ((640, 480), 16, resize.MAX_BANDS),
        ((416, 416), 2, 1),  # below MIN_BANDED_SOURCE_PX a thread costs more than it saves
    ],
)
def test_band_count_rule(monkeypatch, source_wh, cpus, expected):
    monkeypatch.setattr(resize, "usable_cpus", lambda: cpus)
    assert resize._bands_for(source_wh) == expected


@pytest.mark.parametrize("centered", [True, False])
def test_letterbox_is_unchanged_by_banding(monkeypatch, centered):
    image = noise_image(640, 480)
    monkeypatch.setattr(resize, "usable_cpus", lambda: 1)
    single, box_single = letterbox(image, (416, 416), centered=centered)
    monkeypatch.setattr(resize, "usable_cpus", lambda: 4)
    banded, box_banded = letterbox(image, (416, 416), centered=centered)
    np.testing.assert_array_equal(banded, single)
    assert box_banded == box_single
