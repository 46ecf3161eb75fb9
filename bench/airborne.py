"""A sky model against the COCO model, per class, through POST /detect (the Flask app, each
model with its own recommended settings, confidence 0.001 for AP), on the airborne sample's
images that the model's training record held out (recording sessions it never saw).

    git show efbe9a3:model/airborne.onnx > airborne-validated.onnx   # the shipped model's twin
    .venv/bin/python bench/airborne.py airborne-validated.onnx      # a few minutes on 2 CPUs

A model trained on every frame (the shipped one) held nothing out: the bench names the
validated twin its settings came from and stops.

The COCO model (YOLOX-Nano) answers for its airplane and bird classes only: it has no drone
or helicopter class, so it scores 0 there by construction. AP50 is tune's (COCO-style,
101-point), class-aware: a bird found as a drone is a miss.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.tuning.ap import ImageMatches, average_precision, match_image
from app.tuning.labels import class_names, load_labels
from bench._common import print_table, require

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SKY = SHARED / "data" / "airborne-sample"
CLASSES = ("airplane", "bird", "drone", "helicopter")


def training_record(model_path: Path) -> dict:
    meta = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    return json.loads(meta.get("training") or "{}")


def held_out(record: dict):
    """The sample's labelled images that this training record held out."""
    names = set(record.get("val_images") or ())
    folder = require(SKY)
    images = [(p, Path(p.name)) for p in sorted((folder / "images").iterdir())]
    labelled = load_labels(images, folder / "labels")
    return [im for im in labelled if im.name in names], class_names(folder / "labels")


def per_class_ap50(model_path: Path, images, names: dict[int, str], only=None):
    """({class: AP50}, seconds per image) of POST /detect answers for these images."""
    client = create_app({"model_path": model_path}).test_client()
    matches: dict[str, list[ImageMatches]] = {c: [] for c in CLASSES}
    payload = {"confidence": 0.001} | ({"classes": list(only)} if only else {})
    started = time.perf_counter()
    for image in images:
        body = {"image": base64.b64encode(image.path.read_bytes()).decode()} | payload
        answer = client.post("/detect", json=body).get_json()
        found = answer["detections"]
        xyxy = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found])
        scores = np.array([d["confidence"] for d in found])
        labels = np.array([d["label"] for d in found])
        truth_labels = np.array([names[int(c)] for c in image.truth_class])
        for c in CLASSES:
            mine = labels == c
            matches[c].append(
                match_image(
                    xyxy.reshape(-1, 4)[mine],
                    scores[mine],
                    image.truth_xyxy[truth_labels == c],
                    max_dets=300,
                )
            )
    seconds = (time.perf_counter() - started) / max(1, len(images))
    return {c: average_precision(m) for c, m in matches.items()}, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--base", type=Path, default=SHARED / "models" / "yolox_nano.onnx")
    args = parser.parse_args()
    record = training_record(args.model)
    images, names = held_out(record)
    if not images:
        twin = (record.get("settings_from") or {}).get("model", "its validated twin")
        sys.exit(
            f"{args.model.name} held nothing out of the sample (trained on every frame): run this "
            f"on {twin}, the same recipe with sessions held out whose settings it carries "
            "(its card says where to get it)"
        )
    print(f"{len(images)} held-out images of the airborne sample ({args.model.name}'s record)")
    rows = []
    for label, path, only in (
        (f"COCO {args.base.name} (airplane, bird)", args.base, ("airplane", "bird")),
        (args.model.name, args.model, None),
    ):
        ap, seconds = per_class_ap50(path, images, names, only)
        mean = float(np.nanmean([ap[c] for c in CLASSES]))
        rows.append(
            [label, *(f"{ap[c]:.3f}" for c in CLASSES), f"{mean:.3f}", f"{1000 * seconds:.0f}"]
        )
    title = "AP50 per class through POST /detect (each model's own settings)"
    print_table(title, ["model", *CLASSES, "mean AP50", "ms/image"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
