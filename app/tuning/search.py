"""The search: model passes per tile geometry (within the budget), then every setting scored
from their cached boxes, k-fold, and the simplest setting within the folds' spread chosen."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..detector.model import Model
from ..detector.postprocess import DetectOptions
from .ap import OperatingPoint, best_f1
from .labels import LabelledImage
from .scoring import SearchState, Trial
from .space import MERGES, NMS_IOUS, Setting, geometries, simplicity
from .views import Geometry, geometry_pass

CACHE_CONFIDENCE = 0.001  # boxes are kept down to this score: AP ranks all of them
REFINED_GEOMETRIES = 3  # the best geometries whose merge settings are all tried
PASS_SHARE = 0.8  # of the budget for model passes; the rest scores, and times the winner


@dataclass(frozen=True)
class Fold:
    images: int
    defaults_held: float
    tuned_held: float  # of the setting this fold picked on its training part
    picked: Setting


@dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]  # best mean training AP50 first
    defaults: Trial
    winner: Trial
    spread: float  # the fold standard deviation of the best setting's training AP50
    folds: list[Fold]
    operating_point: OperatingPoint
    passes: dict[Geometry | None, tuple[int, float]]  # views, seconds
    skipped: list[Geometry]
    cut_short: bool  # the deadline stopped the search before every planned setting


def select(trials: list[Trial], score: Callable[[Trial], float], band: float, keys) -> Trial:
    """The simplest trial whose score is within band of the best (ties: the higher score)."""
    best = max(score(t) for t in trials)
    near = [t for t in trials if score(t) >= best - band - 1e-12]
    return min(near, key=lambda t: (keys[id(t)], -score(t)))


def tune(
    model: Model,
    images: list[LabelledImage],
    options: DetectOptions,
    defaults: Setting,
    *,
    budget_s: float,
    workers: int = 1,
    progress: Callable[[int, int, str], None] = lambda done, total, label: None,
    note: Callable[[str], None] = lambda line: None,
) -> TuneResult:
    """Search the space (space.py) for the setting that finds these images' boxes best.

    options: the request the service would get (classes, multi_label, max_detections);
    defaults: the service's current settings, always scored. budget_s bounds the whole run:
    the model passes stop at PASS_SHARE of it (geometries that would not fit are skipped,
    dearest first), the scoring soon after; the best setting found by then wins.
    """
    started = time.perf_counter()
    ious = (defaults.iou,)
    if model.info.layout.needs_nms:  # end-to-end models have no NMS IoU to tune
        ious = tuple(sorted({defaults.iou, *NMS_IOUS}))
    cached = dataclasses.replace(options, confidence=CACHE_CONFIDENCE)
    search = SearchState(model, images, cached, defaults, ious)
    default_geometry = (defaults.slicing.tile_wh, defaults.slicing.overlap)
    skipped, cut_short = _run_passes(
        search,
        geometries(model.info.input_wh, default_geometry),
        started + PASS_SHARE * budget_s,
        workers,
        progress,
        note,
    )
    scoring_deadline = started + (PASS_SHARE + 0.5 * (1 - PASS_SHARE)) * budget_s
    cut_short |= not _score_space(search, scoring_deadline, note)
    return _choose(search, skipped, cut_short)


def _run_passes(search, planned, deadline, workers, progress, note):
    """The whole image and the defaults' geometry always (the baseline needs them), then the
    others cheapest first while their estimated time fits before the deadline.
    Returns (skipped geometries, whether a pass was cut short)."""
    first, rest = [None, planned[0]], sorted(planned[1:], key=search.views)
    total = sum(search.views(g) for g in planned)
    done, skipped = 0, []
    for geometry in first + rest:
        views = search.views(geometry)
        if geometry not in first:
            estimate_s = views * max(search.ms_per_view(g) for g in search.passes if g) / 1000
            if time.perf_counter() + 1.1 * estimate_s > deadline:
                skipped.append(geometry)
                total -= views
                continue
        label = "whole image" if geometry is None else f"{geometry[0][0]}px/{geometry[1]:g}"

        def keep_going(count: int, base=done, total=total, label=label, must=geometry in first):
            progress(base + count, total, label)
            return must or time.perf_counter() < deadline

        if not _run_pass(search, geometry, workers, keep_going):
            note(f"budget: stopped during the {label} pass; scoring what ran")
            skipped += [g for g in rest if g not in search.passes and g not in skipped]
            return skipped, True
        done += views
    if skipped:
        note(f"budget: skipped {len(skipped)} tile geometries that would not fit")
    return skipped, False


def _score_space(search: SearchState, deadline: float, note) -> bool:
    """Stage 1: per geometry, the whole-image pass, class-agnostic merge, NMS IoU, mode;
    stage 2: every merge on the best geometries; stage 3: the best with each NMS IoU.
    Returns False when the deadline stopped it."""
    d = search.defaults
    search.score(d)  # always: the baseline, and the answer when nothing else fits
    stage1 = [d.but(mode="off", iou=iou) for iou in search.ious]
    for geometry in [g for g in search.passes if g is not None]:
        tile_wh, overlap = geometry
        stage1 += [
            d.but(mode=mode, tile_wh=tile_wh, overlap=overlap, whole_image=whole,
                  class_agnostic=agnostic, iou=iou)
            for mode in ("auto", "on") for whole in (True, False)
            for agnostic in (False, True) for iou in search.ious
        ]  # fmt: skip
    if not _score_all(search, stage1, deadline):
        return False
    best_of: dict[Geometry, Trial] = {}
    for trial in search.trials.values():
        g = trial.setting.geometry
        if g is not None and (g not in best_of or trial.train.mean() > best_of[g].train.mean()):
            best_of[g] = trial
    ranked = sorted(best_of.values(), key=lambda t: -t.train.mean())[:REFINED_GEOMETRIES]
    stage2 = [
        t.setting.but(merge=merge, match_metric=metric, match_threshold=threshold,
                      class_agnostic=agnostic, whole_image=whole)
        for t in ranked for merge, metric, threshold in MERGES
        for agnostic in (False, True) for whole in (True, False)
    ]  # fmt: skip
    note(f"scored {len(search.trials)} settings; trying every merge on the best {len(ranked)}")
    if not _score_all(search, stage2, deadline):
        return False
    best = max(search.trials.values(), key=lambda t: t.train.mean())
    return _score_all(search, [best.setting.but(iou=iou) for iou in search.ious], deadline)


def _score_all(search: SearchState, settings: list[Setting], deadline: float) -> bool:
    for setting in settings:
        if time.perf_counter() > deadline:
            return False
        search.score(setting)
    return True


def _choose(search: SearchState, skipped: list[Geometry], cut_short: bool) -> TuneResult:
    trials = sorted(search.trials.values(), key=lambda t: -t.train.mean())
    keys = {id(t): simplicity(t.setting, t.views_per_image, search.defaults) for t in trials}
    spread = float(np.std(trials[0].train, ddof=1)) if len(trials[0].train) > 1 else 0.0
    defaults = search.trials[search.defaults]
    folds = []
    for k in range(len(defaults.held)):
        picked = select(trials, lambda t, k=k: t.train[k], spread, keys)
        size = int((search.folds == k).sum())
        folds.append(Fold(size, defaults.held[k], picked.held[k], picked.setting))
    winner = select(trials, lambda t: t.train.mean(), spread, keys)
    return TuneResult(
        trials,
        defaults,
        winner,
        spread,
        folds,
        best_f1(winner.matches),
        search.passes,
        skipped,
        cut_short,
    )


def _run_pass(search: SearchState, geometry, workers, keep_going) -> bool:
    """One geometry's views through the model, kept in search.boxes; False when cut short."""
    started = time.perf_counter()
    found = geometry_pass(
        search.model,
        [image.path for image in search.images],
        geometry,
        search.options,
        search.ious,
        workers=workers,
        keep_going=keep_going,
    )
    if found is None:
        return False
    search.boxes[geometry] = found
    search.passes[geometry] = (search.views(geometry), time.perf_counter() - started)
    return True
