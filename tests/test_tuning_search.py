"""The search (app/tuning/search.py) on synthetic boxes: a planted optimum is found, ties go
to the simpler setting, each geometry costs one pass, and the budget is honoured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.detector import Detections, DetectOptions, SlicingOptions
from app.tuning import search as search_module
from app.tuning.labels import LabelledImage
from app.tuning.search import tune
from app.tuning.space import Setting

IMAGE_WH = (1000, 600)
PLANTED = ((256, 256), 0.3)  # the geometry whose views find every object
DEFAULTS = Setting(SlicingOptions(tile_wh=(416, 416)), 0.45)
FAKE_MODEL = SimpleNamespace(
    info=SimpleNamespace(input_wh=(416, 416), layout=SimpleNamespace(needs_nms=True))
)


def synthetic_images(count: int, seed: int = 0) -> list[LabelledImage]:
    """Images with 8 to 12 small (20 px) objects each, well apart."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        cells = rng.choice(40, 8 + i % 5, replace=False)
        xy = np.stack([cells % 8 * 120 + 20, cells // 8 * 110 + 20], axis=1).astype(float)
        truth = np.concatenate([xy, xy + 20], axis=1)
        images.append(LabelledImage(Path(f"img{i}.png"), f"img{i}.png", IMAGE_WH, truth))
    return images


def planted_boxes(images: list[LabelledImage], geometry, seed: int = 1) -> list[Detections]:
    """What the fake model 'sees' in each image through a geometry's views.

    The planted geometry finds every object, each twice (class 0, and class 1 just below it):
    only a class-agnostic merge removes the duplicates, which otherwise rank among the true
    objects. Other geometries miss half the objects (boxes shifted off them); the whole image
    finds nothing (objects too small).
    """
    rng = np.random.default_rng(seed)
    found = []
    for image in images:
        if geometry is None:
            found.append(Detections.empty())
            continue
        truth = image.truth_xyxy
        scores = rng.uniform(0.3, 0.9, len(truth))
        if geometry == PLANTED:
            xyxy = np.concatenate([truth, truth])
            confidence = np.concatenate([scores, scores - 0.01])
            class_id = np.repeat([0, 1], len(truth))
        else:
            xyxy = truth.copy()
            xyxy[::2, [0, 2]] += 15  # IoU 5/35: a miss and a false positive
            confidence, class_id = scores, np.zeros(len(truth))
        found.append(Detections.from_arrays(xyxy, confidence, class_id))
    return found


@pytest.fixture
def fake_passes(monkeypatch):
    """geometry_pass without a model: planted_boxes, the same at every NMS IoU."""
    calls: list = []

    def fake_pass(model, paths, geometry, options, ious, *, workers=1, keep_going=None):
        calls.append(geometry)
        if keep_going is not None and not keep_going(0):
            return None
        images = [image for image in synthetic_images(10) if image.path in paths]
        return [{iou: boxes for iou in ious} for boxes in planted_boxes(images, geometry)]

    monkeypatch.setattr(search_module, "geometry_pass", fake_pass)
    return calls


def run(budget_s: float = 600.0):
    return tune(FAKE_MODEL, synthetic_images(10), DetectOptions(), DEFAULTS, budget_s=budget_s)


def test_search_finds_the_planted_optimum(fake_passes):
    result = run()
    winner = result.winner.setting.slicing
    assert (winner.tile_wh, winner.overlap) == PLANTED
    assert winner.class_agnostic  # the duplicates' remedy
    assert result.winner.ap == pytest.approx(1.0)
    assert result.defaults.setting == DEFAULTS
    # Every image scored on its own boxes: the labelled boxes add up.
    truth = sum(len(image.truth_xyxy) for image in synthetic_images(10))
    assert sum(m.labelled for m in result.winner.matches) == truth
    assert sum(m.true_positive.sum() for m in result.winner.matches) == truth
    assert result.defaults.ap < 0.6
    for fold in result.folds:  # each fold found it without its own images
        assert fold.tuned_held == pytest.approx(1.0)
        assert fold.defaults_held < 0.7
        assert (fold.picked.slicing.tile_wh, fold.picked.slicing.overlap) == PLANTED


def test_ties_go_to_the_simpler_setting(fake_passes):
    winner = run().winner.setting
    # The whole image finds nothing here, so its pass only costs; the NMS IoU, mode and merge
    # change nothing on these boxes, so the defaults' values stay.
    assert not winner.slicing.whole_image
    assert winner.iou == DEFAULTS.iou
    assert winner.slicing.mode == DEFAULTS.slicing.mode
    assert (winner.slicing.merge, winner.slicing.match_metric) == ("nms", "iou")


def test_each_geometry_costs_one_model_pass(fake_passes):
    result = run()
    assert sorted(map(str, fake_passes)) == sorted(map(str, set(fake_passes)))  # no repeats
    assert set(result.passes) == set(fake_passes)
    assert len(result.trials) > 10 * len(fake_passes)


def test_a_spent_budget_still_scores_the_defaults(fake_passes):
    result = run(budget_s=0.0)
    default_geometry = (DEFAULTS.slicing.tile_wh, DEFAULTS.slicing.overlap)
    assert fake_passes == [None, default_geometry]  # the baseline's passes only
    assert len(result.skipped) == 14  # 5 tile sizes x 3 overlaps, but the defaults'
    assert result.cut_short
    assert result.winner.setting == DEFAULTS


def test_the_tuning_library_imports_neither_flask_nor_boto3():
    code = (
        "import sys, app.tuning.search, app.tuning.report, app.tuning.labels; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'flask', 'werkzeug', 'boto3', 'botocore'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
