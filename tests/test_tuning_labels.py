"""Labels for tuning (app/tuning/labels.py): YOLO folders and COCO JSON into boxes in image px,
and a clear error for every way they can fail to match the images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.tuning.labels import LabelError, load_labels


@pytest.fixture
def images(tmp_path) -> list[tuple[Path, Path]]:
    """Two images, 200x100 and 50x50, as find_images lists them."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    found = []
    for relative, size in (("a.jpg", (200, 100)), ("sub/b.png", (50, 50))):
        Image.new("RGB", size).save(folder / relative)
        found.append((folder / relative, Path(relative)))
    return found


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_yolo_labels_become_boxes_in_image_pixels(images, tmp_path):
    labels = tmp_path / "labels"
    write(labels / "a.txt", "0 0.5 0.5 0.1 0.2\n\n3 0.25 0.75 0.5 0.5\n")
    write(labels / "sub" / "b.txt", "")  # an image with nothing in it still counts
    write(labels / "classes.txt", "car\ntruck\nbus\nvan\n")  # beside the labels in YOLO exports
    found = load_labels(images, labels)
    assert [image.name for image in found] == ["a.jpg", "sub/b.png"]
    np.testing.assert_allclose(found[0].truth_xyxy, [[90, 40, 110, 60], [0, 50, 100, 100]])
    assert found[1].truth_xyxy.shape == (0, 4)
    assert found[0].image_wh == (200, 100)


def test_yolo_segments_become_their_enclosing_box(images, tmp_path):
    labels = tmp_path / "labels"
    write(labels / "a.txt", "1 0.1 0.2 0.3 0.2 0.2 0.6\n")
    np.testing.assert_allclose(load_labels(images, labels)[0].truth_xyxy, [[20, 20, 60, 60]])


def test_coco_json_labels(images, tmp_path):
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 9, "file_name": "sub/b.png"}],
        "annotations": [
            {"image_id": 7, "bbox": [10, 20, 30, 40], "category_id": 3},
            {"image_id": 9, "bbox": [1, 2, 3, 4], "category_id": 1},
            {"image_id": 9, "bbox": [0, 0, 50, 50], "category_id": 1, "iscrowd": 1},
        ],
    }
    found = load_labels(images, write(tmp_path / "instances.json", json.dumps(coco)))
    np.testing.assert_allclose(found[0].truth_xyxy, [[10, 20, 40, 60]])
    np.testing.assert_allclose(found[1].truth_xyxy, [[1, 2, 4, 6]])


BAD_LABELS = {
    "label file with no image": (
        {"a.txt": "0 0.5 0.5 0.1 0.1", "ghost.txt": "0 0.5 0.5 0.1 0.1"},
        r"1 label file\(s\) in .* match no image: ghost.txt",
    ),
    "no box at all": ({"a.txt": "", "sub/b.txt": "\n"}, "hold no box"),
    "no label matches": ({}, "no image has labels"),
    "malformed line": ({"a.txt": "0 0.5 0.5 wide 0.1"}, r"a.txt line 1: expected `class cx cy"),
    "negative size": ({"a.txt": "0 0.5 0.5 -0.1 0.1"}, r"a.txt line 1"),
    "coco image missing": (
        {"x.json": json.dumps({"images": [{"id": 1, "file_name": "nope.jpg"}]})},
        "1 image.s. in x.json match no image file: nope.jpg",
    ),
    "coco not coco": ({"x.json": "[1, 2]"}, "not a COCO detection JSON file"),
}


@pytest.mark.parametrize("name", sorted(BAD_LABELS))
def test_bad_labels_are_named(images, tmp_path, name):
    files, message = BAD_LABELS[name]
    labels = tmp_path / "labels"
    labels.mkdir()
    for relative, text in files.items():
        write(labels / relative, text)
    target = labels / "x.json" if "x.json" in files else labels
    with pytest.raises(LabelError, match=message):
        load_labels(images, target)


def test_missing_labels_path(images, tmp_path):
    with pytest.raises(LabelError, match="no such file or folder"):
        load_labels(images, tmp_path / "nowhere")
