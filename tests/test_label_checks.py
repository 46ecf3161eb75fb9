"""Labels checked, not guessed (app/tuning/label_checks.py): each bad YOLO line or COCO
annotation stops load_labels with one line naming the file, the line or annotation and what
was expected; with skip_bad it is left out and counted. tune and train run these cases through
their command lines (tests/test_tune_cli.py, tests/test_train_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.tuning.labels import LabelError, class_names, load_labels

GOOD_LINE = "0 0.5 0.5 0.1 0.2"  # a car in the middle of a.jpg (200x100): 90, 40, 110, 60 px
CLASSES_TXT = "car\ntruck\nbus\n"
COCO_GOOD = {"id": 1, "image_id": 7, "bbox": [10, 20, 30, 40], "category_id": 3}
COCO_GOOD_B = {"id": 2, "image_id": 8, "bbox": [5, 5, 10, 10], "category_id": 1}

# name: (the bad YOLO line, or the bad COCO annotation (id 5), what the message says)
YOLO_CASES = {
    "class a word": ("car 0.5 0.5 0.1 0.1", r"class 'car': expected a class number, a non-neg"),
    "class negative": ("-3 0.5 0.5 0.1 0.1", r"class '-3': expected a class number"),
    "class a fraction": ("1.7 0.5 0.5 0.1 0.1", r"class '1.7': expected a class number"),
    "class infinite": ("inf 0.5 0.5 0.1 0.1", r"class 'inf': expected a class number"),
    "class 1e30": ("1e30 0.5 0.5 0.1 0.1", r"class '1e30': expected a class number"),
    "class beyond classes.txt": ("7 0.5 0.5 0.1 0.1", r"class 7 has no name in classes.txt"),
    "centre right of the image": ("0 1.5 0.5 0.1 0.1", r"is outside the image \(0-1 x 0-1 no"),
    "centre left of the image": ("0 -0.5 0.5 0.1 0.1", r"is outside the image"),
    "NaN": ("0 nan 0.5 0.1 0.1", r"cx cy w h nan 0.5 0.1 0.1: expected finite numbers"),
    "infinite size": ("0 0.5 0.5 inf 0.1", r"expected finite numbers"),
    "1e308": ("0 0.5 0.5 1e308 0.1", r"is outside the image"),
    "zero width": ("0 0.5 0.5 0 0.1", r"w x h 0.0 x 0.1: expected a positive width and height"),
    "negative height": ("0 0.5 0.5 0.1 -0.1", r"expected a positive width and height"),
    "a word for a number": ("0 0.5 0.5 wide 0.1", r"expected `class cx cy w h` \(normalised\)"),
    "polygon outside": ("0 0.1 0.1 0.3 0.1 0.2 1.6", r"is outside the image"),
}
COCO_CASES = {
    "annotation a list": ([1, 2, 3], r"expected an object, not a list"),
    "no category_id": ({"image_id": 7, "bbox": [1, 2, 3, 4]}, r"expected a category_id"),
    "unknown category_id": (
        {"image_id": 7, "bbox": [1, 2, 3, 4], "category_id": 9},
        r"class 9 has no name in categories \(it names 2: 1 car, 3 bus\)",
    ),
    "category_id a word": (
        {"image_id": 7, "bbox": [1, 2, 3, 4], "category_id": "car"},
        r"class 'car': expected a class number",
    ),
    "negative width": (
        {"image_id": 7, "bbox": [10, 20, -5, 10], "category_id": 1},
        r"bbox w x h -5.0 x 10.0: expected a positive width and height",
    ),
    "NaN": ({"image_id": 7, "bbox": [float("nan"), 2, 3, 4], "category_id": 1}, r"expected fin"),
    "1e308": ({"image_id": 7, "bbox": [1e308, 0, 10, 10], "category_id": 1}, r"outside the im"),
    "outside the image": (
        {"image_id": 7, "bbox": [190, 20, 30, 40], "category_id": 1},
        r"box x1, y1, x2, y2 = 190, 20, 220, 60 is outside the image \(0-200 x 0-100 px",
    ),
    "no bbox": ({"image_id": 7, "category_id": 1}, r"bbox None: expected \[x, y, w, h\] in px"),
    "unknown image_id": (
        {"image_id": 99, "bbox": [1, 2, 3, 4], "category_id": 1},
        r"image_id 99: expected an id in `images`",
    ),
}


def make_images(folder: Path) -> list[tuple[Path, Path]]:
    """Two images, 200x100 and 50x50, as find_images lists them."""
    found = []
    for relative, size in (("a.jpg", (200, 100)), ("b.png", (50, 50))):
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size).save(folder / relative)
        found.append((folder / relative, Path(relative)))
    return found


def yolo_labels(root: Path, bad_line: str) -> Path:
    """labels/ with a.txt (a good line, then the bad one: line 2), b.txt, classes.txt beside."""
    labels = root / "labels"
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text(f"{GOOD_LINE}\n{bad_line}\n")
    (labels / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "classes.txt").write_text(CLASSES_TXT)
    return labels


def coco_labels(root: Path, bad: object, **top) -> Path:
    """instances.json: a good annotation, the bad one (id 5 when it is an object), a good one."""
    bad = {"id": 5, **bad} if isinstance(bad, dict) else bad
    document = {
        "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 8, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "car"}, {"id": 3, "name": "bus"}],
        "annotations": [COCO_GOOD, bad, COCO_GOOD_B],
        **top,
    }
    path = root / "instances.json"
    path.write_text(json.dumps(document))
    return path


def case_labels(root: Path, kind: str, name: str) -> tuple[Path, str]:
    """(labels path, a pattern of the message: where, then what) of one case."""
    if kind == "yolo":
        line, message = YOLO_CASES[name]
        return yolo_labels(root, line), r"labels/a\.txt line 2: .*" + message
    annotation, message = COCO_CASES[name]
    where = "annotation 5" if isinstance(annotation, dict) else r"annotations\[1\]"
    return coco_labels(root, annotation), rf"instances\.json {where}: .*{message}"


ALL_CASES = [("yolo", name) for name in YOLO_CASES] + [("coco", name) for name in COCO_CASES]


@pytest.mark.parametrize(("kind", "name"), ALL_CASES)
def test_each_bad_label_stops_loading_naming_where_and_what(tmp_path, kind, name):
    images = make_images(tmp_path / "images")
    labels, message = case_labels(tmp_path, kind, name)
    with pytest.raises(LabelError, match=message) as caught:
        load_labels(images, labels)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("kind", "name"), ALL_CASES)
def test_skip_bad_labels_leaves_the_bad_one_out_and_counts_it(tmp_path, kind, name):
    images = make_images(tmp_path / "images")
    labels, _ = case_labels(tmp_path, kind, name)
    said: list[str] = []
    found = load_labels(images, labels, skip_bad=said.append)
    (summary,) = said
    assert summary.startswith("labels: skipped 1 bad label(s) of 3 (")
    assert summary.count("\n") == 0 and "the first: " in summary
    by_name = {image.name: image for image in found}
    expected_a = [[90, 40, 110, 60]] if kind == "yolo" else [[10, 20, 40, 60]]
    np.testing.assert_allclose(by_name["a.jpg"].truth_xyxy, expected_a)


def test_good_labels_say_nothing_when_skipping(tmp_path):
    images = make_images(tmp_path / "images")
    said: list[str] = []
    load_labels(images, yolo_labels(tmp_path, "2 0.25 0.25 0.1 0.1"), skip_bad=said.append)
    assert said == []


def test_a_byte_order_mark_is_stripped_not_read_as_the_class(tmp_path):
    images = make_images(tmp_path / "images")
    labels = yolo_labels(tmp_path, "2 0.25 0.25 0.1 0.1")
    (labels / "a.txt").write_text("\ufeff" + GOOD_LINE + "\n", encoding="utf-8")
    (tmp_path / "classes.txt").write_text("\ufeff" + CLASSES_TXT, encoding="utf-8")
    found = load_labels(images, labels)
    assert found[0].truth_class.tolist() == [0]
    assert class_names(labels) == {0: "car", 1: "truck", 2: "bus"}
    coco = coco_labels(tmp_path, COCO_GOOD | {"id": 3})
    coco.write_text("\ufeff" + coco.read_text(), encoding="utf-8")
    assert len(load_labels(images, coco)[0].truth_xyxy) == 2


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"annotations": {"id": 1}}, r"expected `annotations` to be a list, not an object"),
        ({"categories": {"1": "car"}}, r"expected `categories` to be a list of \{id, name\}"),
    ],
)
def test_a_coco_file_of_the_wrong_shape_stops_even_when_skipping(tmp_path, top, message):
    images = make_images(tmp_path / "images")
    labels = coco_labels(tmp_path, COCO_GOOD | {"id": 3}, **top)
    for skip_bad in (None, [].append):
        with pytest.raises(LabelError, match=message):
            load_labels(images, labels, skip_bad=skip_bad)


def test_boxes_a_little_over_the_edge_are_kept(tmp_path):
    """Exporters round: up to 1% of the side out of the image is a box on this image."""
    images = make_images(tmp_path / "images")
    found = load_labels(images, yolo_labels(tmp_path, "1 0.95 0.5 0.119 0.2"))  # to 1.0095
    np.testing.assert_allclose(found[0].truth_xyxy[1], [178.1, 40, 201.9, 60])
