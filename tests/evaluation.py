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
