"""COCO-style scoring helpers shared by the accuracy tests and benchmarks (pycocotools)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_scores(ground_truth: dict, predictions: list[dict], *, max_dets: int = 100) -> dict:
    """AP@[.5:.95], AP50 and AP_small of predictions ({image_id, category_id, bbox xywh, score})."""
    dataset = copy.deepcopy(ground_truth)
    dataset.setdefault("info", {})
    dataset.setdefault("licenses", [])
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        if not predictions:
            return {"ap": 0.0, "ap50": 0.0, "ap_small": 0.0}
        found = truth.loadRes(predictions)
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.params.maxDets = [1, 10, max_dets]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    return {"ap": float(stats[0]), "ap50": float(stats[1]), "ap_small": float(stats[3])}


def load_coco_json(path: Path) -> dict:
    return json.loads(path.read_text())


def to_coco_predictions(image_id: int, detections: list[dict], category_of) -> list[dict]:
    """POST /detect detections -> COCO result rows; category_of maps class_id to a category."""
    rows = []
    for d in detections:
        box = d["box"]
        rows.append(
            {
                "image_id": image_id,
                "category_id": category_of(d["class_id"]),
                "bbox": [box["x1"], box["y1"], box["x2"] - box["x1"], box["y2"] - box["y1"]],
                "score": d["confidence"],
            }
        )
    return rows


def yolo_labels_to_coco(images_dir: Path, labels_dir: Path, category: str) -> dict:
    """YOLO labels (class cx cy w h, normalised) -> COCO ground truth with one category.

    Every labelled class becomes `category` (id 1): the aerial sample is scored as "vehicle".
    Image ids follow the sorted file names, from 1.
    """
    from PIL import Image

    images, annotations = [], []
    for image_id, path in enumerate(sorted(images_dir.iterdir()), start=1):
        with Image.open(path) as image:
            width, height = image.size
        images.append({"id": image_id, "file_name": path.name, "width": width, "height": height})
        for line in (labels_dir / f"{path.stem}.txt").read_text().splitlines():
            if not line.strip():
                continue
            _, cx, cy, w, h = (float(v) for v in line.split())
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": category}],
    }
