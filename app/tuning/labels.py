"""Labelled images for tune and train: YOLO txt folders or a COCO JSON file -> boxes in image
px, every label checked (label_checks.py) rather than guessed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..detector.preprocess import oriented_size
from . import label_checks as check
from .label_checks import BadLabel, BadLabels, LabelError

__all__ = ["LabelError", "LabelledImage", "class_names", "load_labels"]


@dataclass(frozen=True)
class LabelledImage:
    """One image and every labelled object in it: (G, 4) float64 xyxy image px, and (G,) int64
    class ids as the labels give them (YOLO class numbers, COCO category ids; tune ignores
    them, train reads them)."""

    path: Path
    name: str  # the path relative to the images folder, for messages and tables
    image_wh: tuple[int, int]
    truth_xyxy: np.ndarray
    truth_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def load_labels(
    images: list[tuple[Path, Path]],
    labels: Path,
    *,
    skip_bad: Callable[[str], None] | None = None,
) -> list[LabelledImage]:
    """Pair images (file, path relative to the images folder) with their labels.

    labels: a folder of YOLO txt files (`class cx cy w h` normalised, one file per image, at
    the image's relative path with .txt), or a COCO JSON file (`images[].file_name`,
    `annotations[].bbox` [x, y, w, h] px; crowd regions are left out). Images without labels
    are not used; labels without an image, or no labelled box at all, raise LabelError.

    Every label is checked (label_checks.py): a class that is a non-negative integer with a
    name when classes.txt or categories name them, finite numbers, a positive size, a box
    inside the image (within EDGE_TOLERANCE). A bad one raises LabelError naming the file and
    the line or annotation; with skip_bad, bad ones are left out instead and skip_bad gets one
    summary line (not called when every label is good). A UTF-8 byte-order mark is ignored.
    """
    bad = BadLabels(skip=skip_bad is not None)
    names = class_names(labels) if labels.exists() else {}
    if labels.is_dir():
        found = _yolo_labels(images, labels, names, bad)
    elif labels.is_file():
        found = _coco_labels(images, labels, names, bad)
    else:
        raise LabelError(f"--labels {labels}: no such file or folder")
    summary = bad.summary(kept=sum(len(image.truth_xyxy) for image in found))
    if summary and skip_bad is not None:
        skip_bad(summary)
    if not found:
        raise LabelError(f"no image has labels in {labels}: check the file names match")
    if sum(len(image.truth_xyxy) for image in found) == 0:
        raise LabelError(f"the labels in {labels} hold no box: there is nothing to find")
    return found


def _key(relative: Path) -> str:
    return relative.with_suffix("").as_posix()


def _yolo_labels(
    images: list[tuple[Path, Path]], folder: Path, names: dict[int, str], bad: BadLabels
) -> list[LabelledImage]:
    by_key = {_key(relative): (path, relative) for path, relative in images}
    files = {_key(p.relative_to(folder)): p for p in sorted(folder.rglob("*.txt"))}
    if "classes" not in by_key:
        files.pop("classes", None)  # the class names file that YOLO exports put beside labels
    orphans = sorted(p.relative_to(folder).as_posix() for k, p in files.items() if k not in by_key)
    if orphans:
        raise LabelError(
            f"{len(orphans)} label file(s) in {folder} match no image: {_some(orphans)}"
        )
    found = []
    for key, label_path in sorted(files.items()):
        path, relative = by_key[key]
        image_wh = _image_size(path)
        rows, classes = [], []
        for number, line in _lines(label_path):
            tokens = line.split()
            try:
                class_number = check.class_id(tokens[0], names, "classes.txt")
                box = _yolo_box(tokens[1:])
            except BadLabel as exc:
                bad.report(f"{label_path} line {number}", exc)
                continue
            classes.append(class_number)
            rows.append(box)
        normalised = np.array(rows, np.float64).reshape(-1, 4)
        scale = np.array([*image_wh, *image_wh], np.float64)
        found.append(
            LabelledImage(
                path, relative.as_posix(), image_wh, normalised * scale, np.array(classes, np.int64)
            )
        )
    return found


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not the class
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot read it ({exc})") from None
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _yolo_box(tokens: list[str]) -> tuple[float, float, float, float]:
    """`cx cy w h` (or a polygon `x1 y1 x2 y2 ...`), normalised -> normalised x1, y1, x2, y2."""
    values = check.yolo_numbers(tokens)
    if len(values) == 4:
        cx, cy, w, h = values
        check.positive_size(w, h, "w x h")
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    else:  # a polygon: its enclosing box
        xs, ys = values[0::2], values[1::2]
        box = (min(xs), min(ys), max(xs), max(ys))
        check.positive_size(box[2] - box[0], box[3] - box[1], "polygon")
    check.inside(box, (1.0, 1.0), "normalised")
    return box


def class_names(labels: Path) -> dict[int, str]:
    """Class id -> name: `classes.txt` in a YOLO labels folder or beside it, or a COCO file's
    categories; empty when the labels do not name their classes."""
    if labels.is_file():
        categories = _coco_document(labels).get("categories", [])
        try:
            return {int(c["id"]): str(c["name"]) for c in categories}
        except (ValueError, KeyError, TypeError) as exc:
            raise LabelError(
                f"{labels}: expected `categories` to be a list of {{id, name}} objects ({exc})"
            ) from None
    for candidate in (labels / "classes.txt", labels.parent / "classes.txt"):
        if candidate.is_file():
            names = [line.strip() for _, line in _lines(candidate)]
            return dict(enumerate(names))
    return {}


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, as displayed (EXIF orientation applied)."""
    try:
        with Image.open(path) as image:
            return oriented_size(image)
    except (OSError, UnidentifiedImageError) as exc:
        raise LabelError(f"{path}: not a readable image ({exc})") from None


def _coco_document(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LabelError(f"{path}: not a COCO detection JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise LabelError(f"{path}: not a COCO detection JSON file (expected an object)")
    return data


def _coco_labels(
    images: list[tuple[Path, Path]], path: Path, names: dict[int, str], bad: BadLabels
) -> list[LabelledImage]:
    data = _coco_document(path)
    annotations = data.get("annotations", [])
    try:
        entries = {int(e["id"]): str(e["file_name"]) for e in data["images"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise LabelError(
            f"{path}: not a COCO detection JSON file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(annotations, list):
        raise LabelError(f"{path}: expected `annotations` to be a list, not {_type(annotations)}")
    # file_name as a path under the images folder, or else its base name.
    known = {relative.name: (p, relative) for p, relative in images}
    known |= {relative.as_posix(): (p, relative) for p, relative in images}
    missing = sorted(n for n in entries.values() if n not in known and Path(n).name not in known)
    if missing:
        raise LabelError(
            f"{len(missing)} image(s) in {path.name} match no image file: {_some(missing)}"
        )
    files = {
        image_id: known[name] if name in known else known[Path(name).name]
        for image_id, name in entries.items()
    }
    sizes = {image_id: _image_size(image_path) for image_id, (image_path, _) in files.items()}
    boxes_of: dict[int, list] = {image_id: [] for image_id in entries}
    classes_of: dict[int, list] = {image_id: [] for image_id in entries}
    for index, annotation in enumerate(annotations):
        try:
            checked = _coco_annotation(annotation, sizes, names)
        except BadLabel as exc:
            bad.report(f"{path} {_annotation_name(annotation, index)}", exc)
            continue
        if checked is not None:
            image_id, box, category = checked
            boxes_of[image_id].append(box)
            classes_of[image_id].append(category)
    found = []
    for image_id, _ in sorted(entries.items(), key=lambda item: item[1]):
        image_path, relative = files[image_id]
        truth = np.array(boxes_of[image_id], np.float64).reshape(-1, 4)
        classes = np.array(classes_of[image_id], np.int64)
        found.append(
            LabelledImage(image_path, relative.as_posix(), sizes[image_id], truth, classes)
        )
    return found


def _coco_annotation(annotation: object, sizes: dict[int, tuple[int, int]], names):
    """(image id, x1 y1 x2 y2 px, category id), or None for a crowd region (left out)."""
    if not isinstance(annotation, dict):
        raise BadLabel("annotation not an object", f"expected an object, not {_type(annotation)}")
    if annotation.get("iscrowd", 0):
        return None
    image_id = annotation.get("image_id")
    if isinstance(image_id, str) and image_id.isdigit():
        image_id = int(image_id)  # as `images` ids are read
    if isinstance(image_id, bool) or not isinstance(image_id, int) or image_id not in sizes:
        raise BadLabel("unknown image_id", f"image_id {image_id!r}: expected an id in `images`")
    if "category_id" not in annotation:
        raise BadLabel("annotation without category_id", "expected a category_id")
    category = check.class_id(annotation["category_id"], names, "categories")
    bbox = annotation.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in bbox
    ):
        raise BadLabel("malformed bbox", f"bbox {bbox!r:.60}: expected [x, y, w, h] in px")
    check.finite_numbers(bbox, "bbox")
    x, y, w, h = (float(v) for v in bbox)
    check.positive_size(w, h, "bbox w x h")
    box = (x, y, x + w, y + h)
    check.inside(box, sizes[image_id], "px")
    return image_id, box, category


def _annotation_name(annotation: object, index: int) -> str:
    """`annotation 12` (its id) or `annotations[3]` when it has none."""
    if isinstance(annotation, dict) and isinstance(annotation.get("id"), int | str):
        return f"annotation {str(annotation['id'])[:40]}"
    return f"annotations[{index}]"


def _type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "text"}.get(type(value), type(value).__name__)


def _some(names: list[str]) -> str:
    """The first three names, and how many more."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
