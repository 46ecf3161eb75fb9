"""Sliced inference end to end in the library: tile boxes in image px, batching, both decoders."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.detector import DetectOptions, Model, detect_array, detect_bytes, load_model
from app.detector.preprocess import decode_image
from app.detector.slicing import SlicingOptions
from app.detector.views import MAX_TILE_BATCH
from tests.onnx_graphs import constant_output_model

ONLY_TILES = DetectOptions(slicing=SlicingOptions(mode="on", whole_image=False))
SLICED = DetectOptions(slicing=SlicingOptions(mode="on"))


def one_box_output() -> np.ndarray:
    """A YOLOv5 head for a 64x64 input, 2 classes: one box at x 22-42, y 27-37, score 0.9."""
    rows = np.zeros((1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 7), np.float32)
    rows[0, 0] = [32, 32, 20, 10, 0.9, 1.0, 0.0]
    return rows


@pytest.fixture(params=[False, True], ids=["batch_1", "dynamic_batch"])
def one_box_model(request, tmp_path):
    batch = "batch" if request.param else 1
    path = constant_output_model(
        tmp_path / "one_box.onnx", one_box_output(), input_shape=[batch, 3, 64, 64]
    )
    model = load_model(path)
    assert (model.info.layout.name, model.info.dynamic_batch) == ("yolov5", request.param)
    return model


# Tiles of 64 px at overlap 0.2 start every 52 px; the last is moved back to the edge.
@pytest.mark.parametrize(
    ("image_hw", "expected"),
    [
        (  # x origins 0, 52, 86; y origins 0, 36
            (100, 150),
            [
                [22, 27, 42, 37],
                [74, 27, 94, 37],
                [108, 27, 128, 37],
                [22, 63, 42, 73],
                [74, 63, 94, 73],
                [108, 63, 128, 73],
            ],
        ),
        (  # tiles are 64 x 50: letterboxed like any image, centred (YOLOv5), 7 px pad on top
            (50, 150),
            [[22, 20, 42, 30], [74, 20, 94, 30], [108, 20, 128, 30]],
        ),
    ],
)
def test_tile_boxes_land_in_image_pixels(one_box_model, image_hw, expected):
    image = np.zeros((*image_hw, 3), np.uint8)
    found = detect_array(one_box_model, image, ONLY_TILES)
    assert sorted(found.xyxy.tolist()) == sorted(expected)
    assert found.confidence.tolist() == pytest.approx([0.9] * len(expected))


def test_whole_image_pass_is_merged_in(one_box_model):
    image = np.zeros((100, 150, 3), np.uint8)
    tiles_only = detect_array(one_box_model, image, ONLY_TILES)
    plain = detect_array(one_box_model, image, DetectOptions())
    both = detect_array(one_box_model, image, SLICED)
    assert len(plain) == 1 and len(both) == len(tiles_only) + 1  # no overlap between them
    assert plain.xyxy.tolist()[0] in both.xyxy.tolist()


def test_one_tile_images_skip_the_whole_image_pass(one_box_model):
    image = np.zeros((64, 64, 3), np.uint8)
    found = detect_array(one_box_model, image, SLICED)
    assert found.xyxy.tolist() == [[22, 27, 42, 37]]


def test_batched_tiles_equal_one_at_a_time(dynamic_yolox, yolox_model, demo_jpeg):
    image = decode_image(demo_jpeg, max_pixels=10**8)
    slicing = SlicingOptions(mode="on", overlap=0.3)  # 4 x 2 tiles: a batch of 8
    options = DetectOptions(confidence=0.05, slicing=slicing)
    batched = detect_array(dynamic_yolox, image, options)
    one_by_one = detect_array(yolox_model, image, options)
    assert len(batched) == len(one_by_one) > 10
    np.testing.assert_allclose(batched.xyxy, one_by_one.xyxy, atol=1e-3)
    np.testing.assert_allclose(batched.confidence, one_by_one.confidence, atol=1e-5)
    assert batched.class_id.tolist() == one_by_one.class_id.tolist()


def test_a_dynamic_batch_model_runs_tiles_in_batches_with_the_per_tile_answer(
    dynamic_yolox, demo_jpeg, monkeypatch
):
    # The same network and file, told it takes batch 1: the per-tile path, to compare with.
    info = replace(dynamic_yolox.info, dynamic_batch=False)
    per_tile = Model(dynamic_yolox.session, info, path=dynamic_yolox.path)
    batch_sizes: list[int] = []
    run = Model.run

    def counting_run(self, batch):
        batch_sizes.append(len(batch))
        return run(self, batch)

    monkeypatch.setattr(Model, "run", counting_run)
    slicing = SlicingOptions(mode="on", tile_wh=(256, 256), overlap=0.2)  # 15 tiles + whole
    options = DetectOptions(confidence=0.05, slicing=slicing)
    batched = detect_bytes(dynamic_yolox, demo_jpeg, options)
    batched_sizes, batch_sizes[:] = batch_sizes[:], []
    one_by_one = detect_bytes(per_tile, demo_jpeg, options)

    views = batched.slicing.tiles + 1
    assert sum(batched_sizes) == sum(batch_sizes) == views == 16
    assert 1 < max(batched_sizes) <= MAX_TILE_BATCH and len(batched_sizes) < views
    assert set(batch_sizes) == {1}
    found, expected = batched.detections, one_by_one.detections
    assert len(found) == len(expected) > 10
    np.testing.assert_allclose(found.xyxy, expected.xyxy, atol=1e-3)
    np.testing.assert_allclose(found.confidence, expected.confidence, atol=1e-5)
    assert found.class_id.tolist() == expected.class_id.tolist()


def test_bytes_path_crops_from_pil_exactly_like_the_array_path(yolox_model, demo_jpeg):
    slicing = SlicingOptions(mode="on", merge="greedy_nmm", match_metric="ios")
    options = DetectOptions(confidence=0.05, slicing=slicing)
    result = detect_bytes(yolox_model, demo_jpeg, options)
    image = decode_image(demo_jpeg, max_pixels=10**8)
    from_array = detect_array(yolox_model, image, options)
    np.testing.assert_array_equal(result.detections.xyxy, from_array.xyxy)
    assert result.slicing.tiles == 6 and result.slicing.whole_image
    assert set(result.timings_ms) == {"decode", "preprocess", "inference", "postprocess", "total"}


def test_slicing_finds_small_cars_the_whole_image_misses(yolox_model, demo_jpeg):
    options = DetectOptions(confidence=0.3, class_ids=frozenset({2}))
    whole = detect_bytes(yolox_model, demo_jpeg, options)
    sliced = detect_bytes(yolox_model, demo_jpeg, replace(options, slicing=SlicingOptions("on")))
    assert whole.slicing is None
    assert len(sliced.detections) > 1.5 * len(whole.detections)
