"""Held-out validation: images split by scene (frames of one sequence stay on one side), scored
with the product's own sliced pipeline and tune's AP50 (class-agnostic)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np

from ..config import Settings, settings_for_model
from ..detector import load_model
from ..service import DetectionService
from ..tuning.ap import average_precision, match_image
from ..tuning.labels import LabelledImage

AP_CONFIDENCE = 0.001  # score every box, as COCO AP does
MAX_EXACT_GROUPS = 16  # up to this many scenes the split is chosen exactly; greedy beyond


def scene_of(name: str) -> str:
    """An image's scene: its file stem less a trailing frame number (DJI_0005-0019 ->
    DJI_0005, MOS155 -> MOS, MunichStreet02-MOS74 -> MunichStreet02-MOS)."""
    stem = Path(name).stem
    scene = re.sub(r"[-_ .]*\d+$", "", stem)
    return scene or stem


def split_by_scene(images: list, fraction: float) -> tuple[list, list]:
    """(train, validation): whole scenes held out, as near to fraction of the images as can be
    (fewest images over, then most scenes); never every scene. fraction 0: no validation."""
    groups: dict[str, list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(scene_of(image.name), []).append(index)
    if fraction <= 0 or len(groups) < 2:
        return list(images), []
    names = sorted(groups)
    target = fraction * len(images)
    if len(names) <= MAX_EXACT_GROUPS:
        subsets = (c for r in range(1, len(names)) for c in itertools.combinations(names, r))
        held = min(subsets, key=lambda c: (abs(sum(len(groups[n]) for n in c) - target), -len(c)))
    else:
        held, count = [], 0
        for name in sorted(names, key=lambda n: len(groups[n])):
            if count + len(groups[name]) <= target:
                held.append(name)
                count += len(groups[name])
        held = held or [names[0]]
    out = {i for name in held for i in groups[name]}
    return [im for i, im in enumerate(images) if i not in out], [images[i] for i in sorted(out)]


def sliced_ap50(model_path: Path, images: list[LabelledImage], truths: list[np.ndarray]) -> float:
    """AP50 of the model file served with the default settings (sliced as POST /detect slices),
    every class counted as one object class."""
    model = load_model(model_path)
    service = DetectionService(
        settings_for_model(Settings(model_path=model_path), model.info), model
    )
    options = service.options({"confidence": AP_CONFIDENCE}).options
    matches = []
    for image, truth in zip(images, truths, strict=True):
        found = service.run(image.path.read_bytes(), options).detections
        matches.append(
            match_image(found.xyxy, found.confidence, truth, max_dets=options.max_detections)
        )
    return average_precision(matches)
