"""A trained model against its base: what it learnt and what it forgot, both through the
product's own pipeline (default settings, sliced as POST /detect slices, confidence 0.001).

    .venv/bin/python bench/forgetting.py model/aerial-vehicles.onnx    # about a minute

held-out scenes: the images the model's training record held out (scenes never trained on),
    AP50 class-agnostic; the base model counts only its vehicle classes (car, bus, truck).
forgetting guard: vehicle AP50 on ../shared's COCO sample (car, bus, truck boxes, one class):
    the base model's own ground, where a model that forgot falls.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings, settings_for_model
from app.detector import load_model
from app.service import DetectionService
from app.tuning.ap import average_precision, match_image
from app.tuning.labels import load_labels
from bench._common import print_table, require

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
VEHICLES = ("car", "bus", "truck")


def ap50(model_path: Path, images: list[tuple[Path, np.ndarray]], classes=None) -> float:
    model = load_model(model_path)
    # The model's own recommended settings, as the server applies them.
    service = DetectionService(
        settings_for_model(Settings(model_path=model_path), model.info), model
    )
    payload = {"confidence": 0.001} | ({"classes": list(classes)} if classes else {})
    options = service.options(payload).options
    matches = []
    for path, truth in images:
        found = service.run(path.read_bytes(), options).detections
        matches.append(match_image(found.xyxy, found.confidence, truth, max_dets=300))
    return average_precision(matches)


def coco_vehicles() -> list[tuple[Path, np.ndarray]]:
    folder = require(SHARED / "data" / "coco-val2017-sample")
    data = json.loads((folder / "instances.json").read_text())
    wanted = {c["id"] for c in data["categories"] if c["name"] in VEHICLES}
    boxes: dict[int, list] = {image["id"]: [] for image in data["images"]}
    for a in data["annotations"]:
        if a["category_id"] in wanted:
            x, y, w, h = a["bbox"]
            boxes[a["image_id"]].append((x, y, x + w, y + h))
    return [
        (folder / "images" / image["file_name"], np.array(boxes[image["id"]]).reshape(-1, 4))
        for image in data["images"]
    ]


def held_out(model_path: Path) -> list[tuple[Path, np.ndarray]]:
    """The images the training record of model_path held out of training."""
    meta = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    names = set(json.loads(meta["training"])["val_images"])
    folder = require(SHARED / "data" / "aerial-cars-sample")
    images = [(p, Path(p.name)) for p in sorted((folder / "images").iterdir())]
    labelled = load_labels(images, folder / "labels")
    return [(im.path, im.truth_xyxy) for im in labelled if im.name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--base", type=Path, default=SHARED / "models" / "yolox_nano.onnx")
    parser.add_argument(
        "--scenes-from",
        type=Path,
        help="score the scenes this other model's training record held out (default: the "
        "model's own; a model trained on every image holds none out)",
    )
    args = parser.parse_args()
    scenes, coco = held_out(args.scenes_from or args.model), coco_vehicles()
    rows = [
        [
            "held-out scenes",
            len(scenes),
            ap50(args.base, scenes, VEHICLES),
            ap50(args.model, scenes),
        ],
        [
            "COCO sample, vehicles",
            len(coco),
            ap50(args.base, coco, VEHICLES),
            ap50(args.model, coco),
        ],
    ]
    rows = [[a, b, f"{c:.3f}", f"{d:.3f}"] for a, b, c, d in rows]
    print_table("AP50, class-agnostic", ["set", "images", args.base.name, args.model.name], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
