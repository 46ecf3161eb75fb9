"""Scoring settings from the boxes of the model passes: per image merged and matched once (and
shared by every setting that agrees on that image), AP50 on all images and on each fold."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detector.detections import Detections
from ..detector.merge import merge_detections
from ..detector.slicing import should_slice, tile_count
from .ap import ImageMatches, average_precision, match_image
from .space import Setting
from .views import ByIou, Geometry

MAX_FOLDS = 5


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


def fold_of(count: int, folds: int) -> np.ndarray:
    """(count,) fold index of each image: dealt in turn, so neighbours (often frames of one
    sequence) land in different folds."""
    return np.arange(count) % folds


def fold_count(images: int) -> int:
    return max(2, min(MAX_FOLDS, images)) if images >= 2 else 1


class SearchState:
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
