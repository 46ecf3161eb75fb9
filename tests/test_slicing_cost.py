"""What slicing may cost: model runs bounded by an image's pixels, not by its longest side.
Runs are counted where the model is called (a batch of B views is B runs), never timed."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app import create_app
from app.detector import DetectOptions, PayloadTooLarge, detect_bytes, load_model
from app.detector.slicing import (
    SlicingOptions,
    is_sliver_row,
    max_model_runs,
    plan_tiles,
    should_slice,
    tile_grid,
)
from tests.conftest import b64
from tests.model_runs import CountingModel, grey_png
from tests.onnx_graphs import constant_output_model

PIXEL_LIMIT = 100_000_000  # MAX_IMAGE_PIXELS' default


def planned_runs(image_wh: tuple[int, int], slicing: SlicingOptions, input_wh) -> int:
    """The views detect_bytes runs for this plan: 1 unsliced, else the tiles, plus the
    whole-image pass when there are several (0 when the plan is refused: 413)."""
    try:
        tiles = plan_tiles(image_wh, slicing, input_wh)
    except PayloadTooLarge:
        return 0
    if tiles is None:
        return 1
    return len(tiles) + int(slicing.whole_image and len(tiles) > 1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A real ONNX graph with a 64x64 input and no boxes: cheap runs, counted."""
    rows = np.zeros((1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 7), np.float32)  # a YOLOv5 head
    path = constant_output_model(tmp_path_factory.mktemp("tiny") / "tiny.onnx", rows)
    return CountingModel(load_model(path))


# Strips of every thickness around the sliver line (a quarter of the 64 px tile: 16 px), both
# orientations, and the issue's three PNGs; then tiles of 128 px at overlaps 0 and 0.5.
@pytest.mark.parametrize(
    ("image_wh", "slicing", "expected_runs"),
    [
        ((100_000, 1), SlicingOptions(), 1),
        ((1, 100_000), SlicingOptions(), 1),
        ((340_000, 1), SlicingOptions(), 1),
        ((100_000, 2), SlicingOptions(mode="on"), 1),
        ((20_000, 15), SlicingOptions(), 1),  # tiles 15 px tall of 64: slivers
        ((20_000, 16), SlicingOptions(), 385 + 1),  # a quarter: a row of 385 tiles + whole
        ((16, 20_000), SlicingOptions(), 385 + 1),
        ((6_000, 40), SlicingOptions(whole_image=False), 116),
        ((30_000, 31), SlicingOptions(tile_wh=(128, 128), overlap=0.0), 1),
        ((30_000, 32), SlicingOptions(tile_wh=(128, 128), overlap=0.0), 235 + 1),
        ((3_000, 90), SlicingOptions(tile_wh=(128, 128), overlap=0.5), 46 + 1),
        ((900, 700), SlicingOptions(tile_wh=(128, 128), overlap=0.5), 14 * 10 + 1),
        ((40, 40), SlicingOptions(mode="on"), 1),  # one tile: no whole-image pass
        ((4_000, 3_000), SlicingOptions(), 0),  # 77 x 58 tiles: over the limit, 413, no run
    ],
)
def test_model_runs_counted_stay_within_the_bound(tiny_model, image_wh, slicing, expected_runs):
    tiny_model.runs = 0
    options = DetectOptions(slicing=slicing)
    with contextlib.suppress(PayloadTooLarge):  # a 413 from the plan: no run at all
        detect_bytes(tiny_model, grey_png(*image_wh), options)
    assert tiny_model.runs == expected_runs == planned_runs(image_wh, slicing, (64, 64))
    tile_wh = slicing.tile_wh or (64, 64)
    pixels = image_wh[0] * image_wh[1]
    assert tiny_model.runs <= max_model_runs(pixels, tile_wh, slicing.overlap, slicing.max_tiles)


@given(
    short_px=st.integers(1, 10_000),
    long_fraction=st.floats(0.0, 1.0),
    tall=st.booleans(),
    tile_wh=st.tuples(st.integers(32, 4096), st.integers(32, 4096)),
    overlap=st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 0.9]),
    mode=st.sampled_from(["auto", "on"]),
)
@example(1, 1.0, False, (416, 416), 0.2, "auto")  # 100,000,000 x 1
@example(1, 1.0, True, (416, 416), 0.2, "on")  # 1 x 100,000,000
@example(2, 1.0, False, (640, 640), 0.2, "on")  # 50,000,000 x 2
@example(103, 1.0, False, (416, 416), 0.2, "auto")  # the thickest strip of slivers
@example(104, 1.0, False, (416, 416), 0.2, "auto")  # the thinnest strip sliced
@example(8, 1.0, False, (32, 32), 0.9, "on")  # the smallest tile at the largest overlap
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_no_image_up_to_the_pixel_limit_costs_more_than_the_bound(
    short_px, long_fraction, tall, tile_wh, overlap, mode
):
    long_px = short_px + round(long_fraction * (PIXEL_LIMIT // short_px - short_px))
    image_wh = (short_px, long_px) if tall else (long_px, short_px)
    slicing = SlicingOptions(mode=mode, tile_wh=tile_wh, overlap=overlap, max_tiles=100_000)
    runs = planned_runs(image_wh, slicing, (416, 416))
    assert 0 <= runs <= max_model_runs(long_px * short_px, tile_wh, overlap, slicing.max_tiles)
    if is_sliver_row(image_wh, tile_wh):
        assert runs == 1


@pytest.mark.parametrize(
    ("image_wh", "tile_wh", "expected"),
    [
        ((100_000, 1), (416, 416), True),
        ((1, 100_000), (416, 416), True),
        ((4_000, 103), (416, 416), True),  # 103 < 104, a quarter of 416
        ((4_000, 104), (416, 416), False),
        ((417, 50), (416, 416), True),  # two tiles 50 px tall
        ((416, 50), (416, 416), False),  # one tile: one run, whatever its shape
        ((300, 20), (416, 416), False),  # smaller than a tile both ways
        ((1_764, 430), (640, 640), False),  # aerial panoramas keep their row of tiles
        ((1_284, 377), (416, 416), False),
    ],
)
def test_sliver_rows(image_wh, tile_wh, expected):
    assert is_sliver_row(image_wh, tile_wh) is expected
    assert should_slice("on", image_wh, tile_wh) is not expected


# Ordinary images keep today's grids: SAHI's grid, tile for tile (tests/test_slicing.py), e.g.
# the airborne frames at 320 px tiles and the aerial sample's sizes at 416 and 640 px.
@pytest.mark.parametrize(
    ("image_wh", "tile_wh", "tiles"),
    [
        ((640, 512), (320, 320), 6),
        ((1_920, 1_080), (416, 416), 18),
        ((1_920, 1_080), (640, 640), 8),
        ((4_000, 2_250), (416, 416), 84),
        ((1_764, 430), (416, 416), 12),
        ((1_764, 430), (640, 640), 4),
        ((1_284, 377), (416, 416), 4),
        ((1_068, 580), (320, 256), 12),
    ],
)
def test_ordinary_images_keep_their_grids(image_wh, tile_wh, tiles):
    planned = plan_tiles(image_wh, SlicingOptions(tile_wh=tile_wh), (416, 416))
    assert planned.tolist() == tile_grid(image_wh, tile_wh, 0.2).tolist()
    assert len(planned) == tiles


@pytest.mark.parametrize(("width_px", "height_px"), [(100_000, 1), (1, 100_000), (340_000, 1)])
def test_the_issues_thin_pngs_cost_one_run_through_the_api(yolox_model, width_px, height_px):
    counting = CountingModel(yolox_model)
    client = create_app(model=counting).test_client()
    response = client.post("/detect", json={"image": b64(grey_png(width_px, height_px))})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["count"], counting.runs) == (0, 1) and "slicing" not in body
    assert body["image"] == {"width": width_px, "height": height_px}


def test_the_bound_at_the_defaults():
    # 10 runs per model input of pixels at overlap 0.2, plus the whole-image pass.
    assert max_model_runs(416 * 416, (416, 416), 0.2) == 11
    assert max_model_runs(100_000, (416, 416), 0.2) == 1 + 5
    assert max_model_runs(PIXEL_LIMIT, (416, 416), 0.2) == 1 + 1024  # MAX_TILES caps it
    assert max_model_runs(640 * 640, (640, 640), 0.9, 10**6) == 1 + 400
