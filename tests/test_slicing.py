"""Slicing geometry: tile grids, the "auto" rule and the tile limit, on literal sizes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.detector import PayloadTooLarge
from app.detector.slicing import (
    SlicingOptionError,
    SlicingOptions,
    axis_origins,
    plan_tiles,
    should_slice,
    tile_count,
    tile_grid,
)
from app.http.errors import http_error


@pytest.mark.parametrize(
    ("length_px", "tile_px", "overlap", "expected"),
    [
        (1920, 416, 0.2, [0, 333, 666, 999, 1332, 1504]),  # step 416 - int(83.2) = 333
        (1080, 416, 0.2, [0, 333, 664]),  # last one moved back to end at 1080
        (1080, 640, 0.2, [0, 440]),
        (416, 416, 0.2, [0]),  # exactly one tile
        (300, 416, 0.2, [0]),  # shorter than a tile: one (clipped) tile
        (417, 416, 0.2, [0, 1]),
        (750, 416, 0.2, [0, 333, 334]),  # SAHI keeps the near-duplicate last tile too
        (1000, 500, 0.0, [0, 500]),
        (1001, 500, 0.0, [0, 500, 501]),
        (100, 32, 0.9, [*range(0, 68, 4), 68]),  # step 32 - int(28.8) = 4
    ],
)
def test_axis_origins(length_px, tile_px, overlap, expected):
    assert axis_origins(length_px, tile_px, overlap).tolist() == expected


def sahi_slice_bboxes(height, width, slice_h, slice_w, overlap_h, overlap_w):
    """sahi 0.12 slicing.get_slice_bboxes, transcribed as the oracle for our grid."""
    boxes, y_max, y_min = [], 0, 0
    y_overlap, x_overlap = int(overlap_h * slice_h), int(overlap_w * slice_w)
    while y_max < height:
        x_min = x_max = 0
        y_max = y_min + slice_h
        while x_max < width:
            x_max = x_min + slice_w
            if y_max > height or x_max > width:
                x_max, y_max = min(width, x_max), min(height, y_max)
                x_min, y_min = max(0, x_max - slice_w), max(0, y_max - slice_h)
            boxes.append([x_min, y_min, x_max, y_max])
            x_min = x_max - x_overlap
        y_min = y_max - y_overlap
    return boxes


@pytest.mark.parametrize("seed", range(6))
def test_grid_is_sahis_grid(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        image_wh = tuple(int(v) for v in rng.integers(20, 3000, 2))
        tile_wh = tuple(int(v) for v in rng.integers(32, 700, 2))
        overlap = float(rng.choice([0.0, 0.1, 0.2, 0.25, 0.5, 0.9]))
        expected = sahi_slice_bboxes(*image_wh[::-1], *tile_wh[::-1], overlap, overlap)
        got = tile_grid(image_wh, tile_wh, overlap)
        assert got.tolist() == expected, (image_wh, tile_wh, overlap)
        assert tile_count(image_wh, tile_wh, overlap) == len(expected)


@pytest.mark.parametrize(
    ("image_wh", "tile_wh", "overlap"),
    [
        ((1920, 1080), (416, 416), 0.2),
        ((1764, 430), (640, 640), 0.2),  # shorter than a tile in height
        ((300, 200), (416, 416), 0.2),  # smaller than a tile both ways
        ((1000, 777), (128, 96), 0.5),
        ((417, 833), (416, 416), 0.0),
    ],
)
def test_grid_covers_every_pixel_with_equal_tiles_inside_the_image(image_wh, tile_wh, overlap):
    tiles = tile_grid(image_wh, tile_wh, overlap)
    covered = np.zeros(image_wh[::-1], np.int32)
    for x1, y1, x2, y2 in tiles:
        covered[y1:y2, x1:x2] += 1
    assert covered.min() >= 1
    assert (tiles[:, :2] >= 0).all() and (tiles[:, 2] <= image_wh[0]).all()
    assert (tiles[:, 3] <= image_wh[1]).all()
    sizes = {(int(x2 - x1), int(y2 - y1)) for x1, y1, x2, y2 in tiles}
    assert sizes == {(min(tile_wh[0], image_wh[0]), min(tile_wh[1], image_wh[1]))}
    assert tiles[:, 2].max() == image_wh[0] and tiles[:, 3].max() == image_wh[1]
    # Neighbours share at least the requested overlap (the edge tile shares more).
    xs = np.unique(tiles[:, 0])
    shared_px = min(tile_wh[0], image_wh[0]) - np.diff(xs)
    assert (shared_px >= int(overlap * tile_wh[0])).all()


@pytest.mark.parametrize(
    ("mode", "image_wh", "tile_wh", "expected"),
    [
        ("auto", (831, 600), (416, 416), False),  # 1.998 tiles wide
        ("auto", (832, 600), (416, 416), True),  # 2 tiles wide
        ("auto", (640, 480), (416, 416), False),  # a COCO image on YOLOX-Nano
        ("auto", (500, 900), (416, 416), True),  # tall
        ("auto", (1068, 580), (640, 640), False),  # the demo image on a 640 model
        ("auto", (1920, 1080), (640, 640), True),
        ("on", (100, 100), (416, 416), True),
        ("off", (8000, 8000), (416, 416), False),
    ],
)
def test_should_slice(mode, image_wh, tile_wh, expected):
    assert should_slice(mode, image_wh, tile_wh) is expected


def test_plan_uses_the_model_input_unless_a_tile_is_given():
    assert plan_tiles((1000, 1000), None, (416, 416)) is None
    assert plan_tiles((1000, 1000), SlicingOptions(mode="off"), (416, 416)) is None
    default = plan_tiles((1000, 1000), SlicingOptions(mode="on"), (416, 416))
    assert default[0].tolist() == [0, 0, 416, 416]
    given = plan_tiles((1000, 1000), SlicingOptions(mode="on", tile_wh=(500, 250)), (416, 416))
    assert given[0].tolist() == [0, 0, 500, 250] and len(given) == 3 * 5


def test_too_many_tiles_is_413_with_the_limit():
    slicing = SlicingOptions(mode="on", tile_wh=(32, 32), overlap=0.9, max_tiles=18 * 18)
    assert len(plan_tiles((100, 100), slicing, (416, 416))) == 18 * 18
    with pytest.raises(PayloadTooLarge, match="324 tiles, over the limit of 323") as caught:
        plan_tiles((100, 100), replace(slicing, max_tiles=323), (416, 416))
    assert (caught.value.code, http_error(caught.value).status) == ("too_many_tiles", 413)


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "sometimes"},
        {"merge": "wbf"},
        {"match_metric": "giou"},
        {"overlap": 0.95},
        {"overlap": -0.1},
        {"tile_wh": (31, 416)},
        {"tile_wh": (416, 5000)},
        {"max_tiles": 0},
        {"match_threshold": 1.5},
        {"tile_wh": (416,)},
    ],
)
def test_options_refuse_values_out_of_range(bad):
    with pytest.raises(SlicingOptionError, match=r"^slicing \w+=") as caught:
        SlicingOptions(**bad)
    assert caught.value.field in bad
