"""Distillation targets: the base model's confident predictions, on images without labels, of
the base classes each output class starts from; learning them keeps what the base knew."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Settings
from ..detector import detect_bytes, load_model
from ..schemas.detect import parse_detect_request
from ..tuning.labels import LabelledImage
from .classes import ClassPlan

TEACHER_CONFIDENCE = 0.4  # the base's own boxes at this score and above become targets


def teacher_targets(
    base_path: Path, images: list[tuple[Path, Path]], plan: ClassPlan
) -> list[tuple[LabelledImage, np.ndarray, np.ndarray]]:
    """Per image: (the image, (K, 4) xyxy px boxes, (K,) output classes), from the base model
    run as the server runs it (default slicing) at TEACHER_CONFIDENCE. Empty without sources."""
    to_output = {base: k for k, picked in enumerate(plan.sources) for base in picked}
    if not to_output or not images:
        return []
    model = load_model(base_path)
    settings = Settings(model_path=base_path)
    payload = {"confidence": TEACHER_CONFIDENCE, "classes": sorted(to_output)}
    options = parse_detect_request(
        payload, settings, model.info, max_image_bytes=1, image_bytes=b""
    ).options
    found = []
    for path, relative in images:
        result = detect_bytes(model, path.read_bytes(), options)
        boxes = result.detections.xyxy.astype(np.float64).reshape(-1, 4)
        classes = np.array([to_output[int(c)] for c in result.detections.class_id], np.int64)
        image = LabelledImage(path, f"distill/{relative.as_posix()}", result.image_wh, boxes)
        found.append((image, boxes, classes))
    return found
