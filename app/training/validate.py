"""Held-out validation: images split by scene (frames of one sequence, or clips of one recording
session, stay on one side), scored with the product's own pipeline: tune's AP50, per class and
class-agnostic."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings, settings_for_model
from ..detector import load_model
from ..service import DetectionService
from ..tuning.ap import ImageMatches, average_precision, best_f1, match_image
from ..tuning.labels import LabelledImage

AP_CONFIDENCE = 0.001  # score every box, as COCO AP does
MAX_EXACT_GROUPS = 16  # up to this many scenes the split is chosen exactly; by class beyond
SPLIT_SEED = 0


class SceneRule:
    """Which images belong together. Default (pattern None): an image's file stem less a
    trailing frame number. pattern: a regular expression searched in the file stem; its groups
    joined by "-" (or the whole match) name the scene. block: a scene name ending in a number
    is put in a block of `block` consecutive numbers (clips 0-5, 6-11, ...): neighbouring clips
    of one recording session stay together."""

    def __init__(self, pattern: str | None = None, block: int = 1) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.block = block

    def __call__(self, name: str) -> str:
        stem = Path(name).stem
        if self.pattern is None:
            scene = scene_of(name)
        else:
            found = self.pattern.search(stem)
            if found is None:
                scene = stem  # not matched: an image of its own
            else:
                groups = [g for g in found.groups() if g is not None]
                scene = "-".join(groups) if groups else found.group(0)
        if self.block > 1:
            number = re.search(r"(\d+)$", scene)
            if number:
                first = int(number.group(1)) // self.block * self.block
                scene = f"{scene[: number.start()]}{first}-{first + self.block - 1}"
        return scene


def scene_of(name: str) -> str:
    """An image's scene: its file stem less a trailing frame number (DJI_0005-0019 ->
    DJI_0005, MOS155 -> MOS, MunichStreet02-MOS74 -> MunichStreet02-MOS)."""
    stem = Path(name).stem
    scene = re.sub(r"[-_ .]*\d+$", "", stem)
    return scene or stem


def split_by_scene(
    images: list, fraction: float, rule: SceneRule | None = None
) -> tuple[list, list]:
    """(train, validation): whole scenes held out, as near to fraction of the images as can be;
    never every scene. fraction 0: no validation. Up to MAX_EXACT_GROUPS scenes the best subset
    is found exactly (fewest images over, then most scenes); beyond, each class (the most
    common class of a scene's boxes) gives its own share of scenes, drawn with a fixed seed, so
    every class is validated."""
    rule = rule or SceneRule()
    groups: dict[str, list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(rule(image.name), []).append(index)
    if fraction <= 0 or len(groups) < 2:
        return list(images), []
    names = sorted(groups)
    target = fraction * len(images)
    if len(names) <= MAX_EXACT_GROUPS:
        subsets = (c for r in range(1, len(names)) for c in itertools.combinations(names, r))
        held = min(subsets, key=lambda c: (abs(sum(len(groups[n]) for n in c) - target), -len(c)))
    else:
        held = _held_by_class(images, groups, fraction)
    out = {i for name in held for i in groups[name]}
    return [im for i, im in enumerate(images) if i not in out], [images[i] for i in sorted(out)]


def _held_by_class(images: list, groups: dict[str, list[int]], fraction: float) -> list[str]:
    def main_class(name: str) -> int:
        counts = Counter(int(c) for i in groups[name] for c in images[i].truth_class)
        return counts.most_common(1)[0][0] if counts else -1

    by_class: dict[int, list[str]] = {}
    for name in sorted(groups):
        by_class.setdefault(main_class(name), []).append(name)
    draw = random.Random(SPLIT_SEED)
    held: list[str] = []
    for _, names in sorted(by_class.items()):
        if len(names) < 2:
            continue  # a class of one scene trains on it
        draw.shuffle(names)
        target = fraction * sum(len(groups[n]) for n in names)
        count = 0
        for name in names[:-1]:  # never every scene of a class
            if count and count + len(groups[name]) > target * 1.25:
                continue
            if count < target:
                held.append(name)
                count += len(groups[name])
    return held or [sorted(groups)[0]]


@dataclass(frozen=True)
class Score:
    """A model's AP50 on held-out images: class-agnostic, per class (class-aware matching),
    their mean, and the confidence of best F1 over the class-aware matches."""

    ap50: float
    per_class: dict[str, float]
    confidence: float

    @property
    def mean_ap50(self) -> float:
        """The mean of the per-class AP50 (classes with boxes held out); the agnostic AP50 for
        a one-class model."""
        values = [v for v in self.per_class.values() if v == v]
        return float(np.mean(values)) if values else self.ap50


def score_model(
    model_path: Path,
    images: list[LabelledImage],
    truths: list[tuple[np.ndarray, np.ndarray]],
    names: tuple[str, ...],
    env: dict[str, str] | None = None,
) -> Score:
    """The model file served as POST /detect serves it (its own recommended settings, then
    env's variables over them), scored at confidence 0.001. truths: per image, the (G, 4)
    boxes and (G,) class indices into names."""
    model = load_model(model_path)
    settings = Settings.from_env(dict(env or {}) | {"MODEL_PATH": str(model_path)})
    service = DetectionService(settings_for_model(settings, model.info), model)
    options = service.options({"confidence": AP_CONFIDENCE}).options
    agnostic: list[ImageMatches] = []
    per_class: dict[int, list[ImageMatches]] = {k: [] for k in range(len(names))}
    for image, (boxes, classes) in zip(images, truths, strict=True):
        found = service.run(image.path.read_bytes(), options).detections
        limit = options.max_detections
        agnostic.append(match_image(found.xyxy, found.confidence, boxes, max_dets=limit))
        for k in per_class:
            mine = found.class_id == k
            per_class[k].append(
                match_image(
                    found.xyxy[mine], found.confidence[mine], boxes[classes == k], max_dets=limit
                )
            )
    pooled = [m for matches in per_class.values() for m in matches]
    return Score(
        average_precision(agnostic),
        {names[k]: average_precision(matches) for k, matches in per_class.items()},
        best_f1(pooled).confidence,
    )
