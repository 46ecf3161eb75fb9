"""Labelled images for tuning: YOLO txt folders or a COCO JSON file -> boxes in image px."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..detector.preprocess import oriented_size


class LabelError(ValueError):
    """Labels that cannot be used: a one-line message naming the file and what is wrong."""


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


def load_labels(images: list[tuple[Path, Path]], labels: Path) -> list[LabelledImage]:
    """Pair images (file, path relative to the images folder) with their labels.

    labels: a folder of YOLO txt files (`class cx cy w h` normalised, one file per image, at
    the image's relative path with .txt), or a COCO JSON file (`images[].file_name`,
    `annotations[].bbox` [x, y, w, h] px; crowd regions are left out). Images without labels
    are not used; labels without an image, or no labelled box at all, raise LabelError.
    """
    if labels.is_dir():
        found = _yolo_labels(images, labels)
    elif labels.is_file():
        found = _coco_labels(images, labels)
    else:
        raise LabelError(f"--labels {labels}: no such file or folder")
    if not found:
        raise LabelError(f"no image has labels in {labels}: check the file names match")
    if sum(len(image.truth_xyxy) for image in found) == 0:
        raise LabelError(f"the labels in {labels} hold no box: there is nothing to find")
    return found


def _key(relative: Path) -> str:
    return relative.with_suffix("").as_posix()


def _yolo_labels(images: list[tuple[Path, Path]], folder: Path) -> list[LabelledImage]:
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
        lines = _lines(label_path)
        rows = [_yolo_row(label_path, number, line) for number, line in lines]
        normalised = np.array(rows, np.float64).reshape(-1, 4)
        scale = np.array([*image_wh, *image_wh], np.float64)
        classes = np.array([_yolo_class(line) for _, line in lines], np.int64)
        found.append(
            LabelledImage(path, relative.as_posix(), image_wh, normalised * scale, classes)
        )
    return found


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot read it ({exc})") from None
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _yolo_row(path: Path, number: int, line: str) -> tuple[float, float, float, float]:
    """`class cx cy w h` (or a segment `class x1 y1 x2 y2 ...`) -> normalised x1, y1, x2, y2."""
    try:
        values = [float(v) for v in line.split()[1:]]
    except ValueError:
        values = []
    if len(values) == 4 and values[2] >= 0 and values[3] >= 0:
        cx, cy, w, h = values
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if len(values) >= 6 and len(values) % 2 == 0:  # a polygon: its enclosing box
        xs, ys = values[0::2], values[1::2]
        return min(xs), min(ys), max(xs), max(ys)
    raise LabelError(
        f"{path} line {number}: expected `class cx cy w h` (normalised): {line[:60]!r}"
    )


def _yolo_class(line: str) -> int:
    """The class number a YOLO row starts with (-1 when it is not a number)."""
    try:
        return int(float(line.split()[0]))
    except ValueError:
        return -1


def class_names(labels: Path) -> dict[int, str]:
    """Class id -> name: `classes.txt` in a YOLO labels folder or beside it, or a COCO file's
    categories; empty when the labels do not name their classes."""
    if labels.is_file():
        try:
            data = json.loads(labels.read_text(encoding="utf-8"))
            return {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise LabelError(f"{labels}: cannot read its categories ({exc})") from None
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


def _coco_labels(images: list[tuple[Path, Path]], path: Path) -> list[LabelledImage]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {int(e["id"]): str(e["file_name"]) for e in data["images"]}
        annotations = [a for a in data.get("annotations", []) if not a.get("iscrowd", 0)]
        boxes_of: dict[int, list] = {image_id: [] for image_id in entries}
        classes_of: dict[int, list] = {image_id: [] for image_id in entries}
        for a in annotations:
            x, y, w, h = (float(v) for v in a["bbox"])
            boxes_of[int(a["image_id"])].append((x, y, x + w, y + h))
            classes_of[int(a["image_id"])].append(int(a.get("category_id", -1)))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise LabelError(
            f"{path}: not a COCO detection JSON file ({type(exc).__name__}: {exc})"
        ) from None
    # file_name as a path under the images folder, or else its base name.
    known = {relative.name: (p, relative) for p, relative in images}
    known |= {relative.as_posix(): (p, relative) for p, relative in images}
    missing = sorted(n for n in entries.values() if n not in known and Path(n).name not in known)
    if missing:
        raise LabelError(
            f"{len(missing)} image(s) in {path.name} match no image file: {_some(missing)}"
        )
    found = []
    for image_id, name in sorted(entries.items(), key=lambda item: item[1]):
        image_path, relative = known[name] if name in known else known[Path(name).name]
        truth = np.array(boxes_of[image_id], np.float64).reshape(-1, 4)
        classes = np.array(classes_of[image_id], np.int64)
        wh = _image_size(image_path)
        found.append(LabelledImage(image_path, relative.as_posix(), wh, truth, classes))
    return found


def _some(names: list[str]) -> str:
    """The first three names, and how many more."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
