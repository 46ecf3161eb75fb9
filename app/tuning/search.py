"""The search: model passes per tile geometry (within the budget), then every setting scored
from their cached boxes, k-fold, and the simplest setting within the folds' spread chosen."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..detector.detections import Detections
from ..detector.merge import merge_detections
from ..detector.model import Model
from ..detector.postprocess import DetectOptions
from ..detector.slicing import should_slice, tile_count
from .ap import ImageMatches, OperatingPoint, average_precision, best_f1, match_image
from .labels import LabelledImage
from .space import MERGES, NMS_IOUS, Setting, geometries, simplicity
from .views import ByIou, Geometry, geometry_pass

CACHE_CONFIDENCE = 0.001  # boxes are kept down to this score: AP ranks all of them
MAX_FOLDS = 5
REFINED_GEOMETRIES = 3  # the best geometries whose merge settings are all tried
PASS_SHARE = 0.8  # of the budget for model passes; the rest scores, and times the winner


@dataclass
class Trial:
    """One setting scored: AP50 on all images, on each fold's training part and held-out part,
    and the model time it costs per image (views x the measured time per view)."""

    setting: Setting
    ap: float
    train: np.ndarray  # (K,) AP50 on all images but fold k
    held: np.ndarray  # (K,) AP50 on fold k
    views_per_image: float
    ms_per_image: float
    matches: list[ImageMatches] = field(repr=False)


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


def fold_of(count: int, folds: int) -> np.ndarray:
    """(count,) fold index of each image: dealt in turn, so neighbours (often frames of one
    sequence) land in different folds."""
    return np.arange(count) % folds


def fold_count(images: int) -> int:
    return max(2, min(MAX_FOLDS, images)) if images >= 2 else 1


def select(trials: list[Trial], score: Callable[[Trial], float], band: float, keys) -> Trial:
    """The simplest trial whose score is within band of the best (ties: the higher score)."""
    best = max(score(t) for t in trials)
    near = [t for t in trials if score(t) >= best - band - 1e-12]
    return min(near, key=lambda t: (keys[id(t)], -score(t)))


class _Search:
    """The state of one search: the images, the boxes of the passes run, the scores so far."""

    def __init__(self, model, images, options, defaults, ious) -> None:
        self.model, self.images, self.options = model, images, options
        self.defaults, self.ious = defaults, ious
        self.input_wh = model.info.input_wh
        self.boxes: dict[Geometry | None, list[ByIou]] = {}
        self.passes: dict[Geometry | None, tuple[int, float]] = {}
        self.memo: dict[tuple, ImageMatches] = {}
        self.trials: dict[Setting, Trial] = {}
        k = fold_count(len(images))
        self.folds = fold_of(len(images), k)

    def views(self, geometry: Geometry | None) -> int:
        if geometry is None:
            return len(self.images)
        return sum(tile_count(image.image_wh, *geometry) for image in self.images)

    def run_pass(self, geometry, workers, keep_going) -> bool:
        started = time.perf_counter()
        found = geometry_pass(
            self.model,
            [image.path for image in self.images],
            geometry,
            self.options,
            self.ious,
            workers=workers,
            keep_going=keep_going,
        )
        if found is None:
            return False
        self.boxes[geometry] = found
        self.passes[geometry] = (self.views(geometry), time.perf_counter() - started)
        return True

    def ms_per_view(self, geometry: Geometry | None) -> float:
        views, seconds = self.passes[geometry]
        return 1000 * seconds / views

    def image_views(self, setting: Setting, index: int) -> tuple[tuple, int, int]:
        """(memo key, tile views, whole-image views) of one image under a setting; the key
        names what its boxes depend on, so settings that agree on this image share work."""
        image, s = self.images[index], setting.slicing
        geometry = setting.geometry
        if geometry is None or not should_slice(s.mode, image.image_wh, geometry[0]):
            return ("whole", setting.iou), 0, 1
        tiles = tile_count(image.image_wh, *geometry)
        whole = s.whole_image and tiles > 1
        merge = (s.merge, s.match_metric, s.match_threshold, s.class_agnostic)
        return (geometry, setting.iou, whole, merge), tiles, int(whole)

    def image_matches(self, setting: Setting, index: int) -> ImageMatches:
        key = self.image_views(setting, index)[0]
        if (index, key) not in self.memo:
            self.memo[index, key] = self._match(setting, index, key)
        return self.memo[index, key]

    def _match(self, setting: Setting, index: int, key: tuple) -> ImageMatches:
        whole = self.boxes[None][index][setting.iou]
        if key[0] == "whole":
            found = whole
        else:
            s = setting.slicing
            tiles = self.boxes[setting.geometry][index][setting.iou]
            found = merge_detections(
                Detections.concatenate([tiles, whole]) if key[2] else tiles,
                method=s.merge,
                metric=s.match_metric,
                threshold=s.match_threshold,
                class_agnostic=s.class_agnostic,
                max_keep=self.options.max_detections,
            )
        truth = self.images[index].truth_xyxy
        return match_image(
            found.xyxy, found.confidence, truth, max_dets=self.options.max_detections
        )

    def score(self, setting: Setting) -> Trial:
        if setting in self.trials:
            return self.trials[setting]
        matches = [self.image_matches(setting, i) for i in range(len(self.images))]
        views = np.array([self.image_views(setting, i)[1:] for i in range(len(self.images))])
        tile_ms = self.ms_per_view(setting.geometry) if setting.geometry else 0.0
        ms = tile_ms * views[:, 0].mean() + self.ms_per_view(None) * views[:, 1].mean()
        folds = range(self.folds.max() + 1)
        train = [self._ap(matches, self.folds != k) for k in folds]
        held = [self._ap(matches, self.folds == k) for k in folds]
        trial = Trial(
            setting,
            average_precision(matches),
            np.array(train),
            np.array(held),
            float(views.sum(axis=1).mean()),
            float(ms),
            matches,
        )
        self.trials[setting] = trial
        return trial

    @staticmethod
    def _ap(matches: list[ImageMatches], chosen: np.ndarray) -> float:
        return average_precision([m for m, keep in zip(matches, chosen, strict=True) if keep])


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
    search = _Search(model, images, cached, defaults, ious)
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

        if not search.run_pass(geometry, workers, keep_going):
            note(f"budget: stopped during the {label} pass; scoring what ran")
            skipped += [g for g in rest if g not in search.passes and g not in skipped]
            return skipped, True
        done += views
    if skipped:
        note(f"budget: skipped {len(skipped)} tile geometries that would not fit")
    return skipped, False


def _score_space(search: _Search, deadline: float, note) -> bool:
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


def _score_all(search: _Search, settings: list[Setting], deadline: float) -> bool:
    for setting in settings:
        if time.perf_counter() > deadline:
            return False
        search.score(setting)
    return True


def _choose(search: _Search, skipped: list[Geometry], cut_short: bool) -> TuneResult:
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
