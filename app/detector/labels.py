"""Class names for a model: ONNX metadata, a labels file, COCO-80, or generated names."""

from __future__ import annotations

import ast
from pathlib import Path

from .errors import ModelError

COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


def names_from_metadata(metadata: dict[str, str]) -> tuple[str, ...] | None:
    """Ultralytics stores names as a Python literal: {0: 'person', ...} or ['person', ...]."""
    raw = metadata.get("names")
    if not raw:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict):
        try:
            ids = sorted(int(k) for k in parsed)
        except (TypeError, ValueError):
            return None
        if ids != list(range(len(ids))):
            return None
        return tuple(str(parsed[k] if k in parsed else parsed[str(k)]) for k in ids)
    if isinstance(parsed, list | tuple):
        return tuple(str(name) for name in parsed)
    return None


def read_labels_file(path: Path) -> tuple[str, ...]:
    """One name per line; blank lines at the end are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"Cannot read the labels file {path.name}: {exc}.") from exc
    names = tuple(line.strip() for line in lines)
    while names and not names[-1]:
        names = names[:-1]
    if not names:
        raise ModelError(f"The labels file {path.name} is empty.")
    return names


def find_labels_file(model_path: Path) -> Path | None:
    """<stem>.names or labels.txt beside the model, in that order."""
    for candidate in (model_path.with_suffix(".names"), model_path.parent / "labels.txt"):
        if candidate.is_file():
            return candidate
    return None


def resolve_class_names(
    model_path: Path,
    metadata: dict[str, str],
    num_classes: int | None,
    labels_path: Path | None = None,
) -> tuple[str, ...]:
    """An explicit labels file wins (the operator asked for it); then ONNX metadata, a labels
    file beside the model, COCO-80 when the model has 80 classes (or does not say), class_<i>."""
    if labels_path is not None:
        return read_labels_file(labels_path)
    names = names_from_metadata(metadata)
    if names:
        return names
    labels_file = find_labels_file(model_path)
    if labels_file is not None:
        return read_labels_file(labels_file)
    if num_classes in (None, 80):
        return COCO80
    return tuple(f"class_{i}" for i in range(num_classes))


def label_for(class_names: tuple[str, ...], class_id: int) -> str:
    return class_names[class_id] if 0 <= class_id < len(class_names) else f"class_{class_id}"
