"""Views side by side on several threads: same detections as one after another, bounded
batches, the one-thread session made once and only when needed, honest stage timings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from app.detector import DetectOptions, detect_array, load_model
from app.detector import views as view_runs
from app.detector.model import Model
from app.detector.pipeline import _Stopwatch
from app.detector.preprocess import decode_image
from app.detector.slicing import SlicingOptions
from tests.conftest import shared_path


def sliced_options(**slicing) -> DetectOptions:
    return DetectOptions(confidence=0.05, slicing=SlicingOptions(mode="on", **slicing))


def detect_with_cpus(monkeypatch, model, image, options, cpus: int):
    monkeypatch.setattr(view_runs, "usable_cpus", lambda: cpus)
    return detect_array(model, image, options)


@pytest.mark.parametrize(
    "slicing",
    [
        {},  # 6 tiles + the whole image
        {"whole_image": False, "overlap": 0.3},
        {"merge": "greedy_nmm", "match_metric": "ios", "class_agnostic": True},
    ],
)
@pytest.mark.parametrize("model_name", ["yolox_model", "dynamic_yolox"])
def test_side_by_side_equals_one_after_another(
    request, monkeypatch, demo_jpeg, slicing, model_name
):
    model = request.getfixturevalue(model_name)
    image = decode_image(demo_jpeg, max_pixels=10**8)
    options = sliced_options(**slicing)

    one_after_another = detect_with_cpus(monkeypatch, model, image, options, cpus=1)
    side_by_side = detect_with_cpus(monkeypatch, model, image, options, cpus=2)

    # A one-thread session sums in another order than the two-thread one: last-bit noise.
    assert len(side_by_side) == len(one_after_another) > 10
    np.testing.assert_allclose(side_by_side.xyxy, one_after_another.xyxy, atol=1e-3)
    np.testing.assert_allclose(side_by_side.confidence, one_after_another.confidence, atol=1e-5)
    assert side_by_side.class_id.tolist() == one_after_another.class_id.tolist()


@pytest.mark.parametrize(
    ("count", "max_batch", "workers", "expected"),
    [
        (7, 1, 1, [(k, k + 1) for k in range(7)]),  # fixed batch: one view per call
        (7, 1, 2, [(k, k + 1) for k in range(7)]),
        (19, 8, 1, [(0, 7), (7, 14), (14, 19)]),  # 3 calls of <= 8, as even as can be
        (19, 8, 2, [(0, 5), (5, 10), (10, 15), (15, 19)]),  # 2 rounds of 2 workers
        (16, 8, 2, [(0, 8), (8, 16)]),
        (3, 8, 2, [(0, 2), (2, 3)]),  # both workers get some
        (1, 8, 4, [(0, 1)]),
    ],
)
def test_view_chunks_table(count, max_batch, workers, expected):
    chunks = view_runs.view_chunks(count, max_batch, workers)
    assert chunks == expected
    assert all(0 < stop - start <= max_batch for start, stop in chunks)


def test_serial_session_is_made_once_with_one_thread(tmp_path):
    model = load_model(shared_path("models", "yolox_nano.onnx"))
    assert model._serial is None  # not at load: cold starts do not pay for it

    first, second = model.serial(), model.serial()

    assert first is second is not None
    assert first.session.get_session_options().intra_op_num_threads == 1
    assert first.info == model.info


def test_without_a_file_views_run_one_after_another(monkeypatch, yolox_model, demo_jpeg):
    bare = Model(yolox_model.session, yolox_model.info)  # e.g. a session built in memory
    assert bare.serial() is None
    image = decode_image(demo_jpeg, max_pixels=10**8)
    found = detect_with_cpus(monkeypatch, bare, image, sliced_options(), cpus=2)
    assert len(found) > 10


def test_a_session_that_cannot_be_made_is_logged_once(tmp_path, yolox_model, caplog):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    model = Model(yolox_model.session, yolox_model.info, path=broken)
    with caplog.at_level(logging.WARNING, logger="app.detector.model"):
        assert model.serial() is None
        assert model.serial() is None
    warnings = [r for r in caplog.records if "one-thread session" in r.getMessage()]
    assert len(warnings) == 1


def test_split_shares_the_wall_time_in_proportion(monkeypatch):
    clock = iter([100.0, 100.5])  # the stopwatch starts at 100 s, splits at 100.5 s
    monkeypatch.setattr("app.detector.pipeline.time.perf_counter", lambda: next(clock))
    watch = _Stopwatch()
    watch.split({"preprocess": 0.1, "inference": 0.6, "postprocess": 0.3})  # 1 s of thread time
    assert watch.laps_ms == pytest.approx({"preprocess": 50, "inference": 300, "postprocess": 150})


def test_sliced_timings_add_up_to_at_most_the_total(monkeypatch, yolox_model, demo_jpeg):
    from app.detector import detect_bytes

    monkeypatch.setattr(view_runs, "usable_cpus", lambda: 2)
    timings = detect_bytes(yolox_model, demo_jpeg, sliced_options()).timings_ms
    assert set(timings) == {"decode", "preprocess", "inference", "postprocess", "total"}
    stages = sum(v for k, v in timings.items() if k != "total")
    assert 0 < stages <= timings["total"] + 1e-6
    assert timings["inference"] > timings["preprocess"]


@pytest.mark.parametrize("iou", [0.3, 0.7])
def test_tuning_boxes_are_the_detectors_own_views(yolox_model, demo_jpeg, iou):
    """tune scores the views the detector runs: run_views is the one pipeline both call."""
    from app.detector.slicing import tile_grid
    from app.tuning.views import image_view_boxes

    image = decode_image(demo_jpeg, max_pixels=10**8)
    views = tile_grid(view_runs.image_size(image), (320, 320), 0.2)
    options = DetectOptions(confidence=0.05, iou=iou)
    by_iou = image_view_boxes(yolox_model, image, views, options, (0.3, 0.7))
    ours = view_runs.detect_views(yolox_model, image, views, options, _Stopwatch())
    assert len(views) > 1 and len(ours) > 10
    # The detector may run these side by side on the one-thread session: last-bit noise.
    assert len(by_iou[iou]) == len(ours)
    np.testing.assert_allclose(by_iou[iou].xyxy, ours.xyxy, atol=1e-3)
    np.testing.assert_array_equal(by_iou[iou].class_id, ours.class_id)
