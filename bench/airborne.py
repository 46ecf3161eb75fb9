"""A sky model against the COCO model, per class, through POST /detect (the Flask app, each
model with its own recommended settings, confidence 0.001 for AP), on the airborne sample's
images that the model's training record held out (recording sessions it never saw).

    git show 03d1a06:model/airborne.onnx > airborne-validated.onnx   # the shipped model's twin
    .venv/bin/python bench/airborne.py airborne-validated.onnx   # (07dc8c8: the previous twin)

A model trained on every frame held nothing out: the bench names the
validated twin its settings came from and stops, unless given `--held-out-of TWIN`: then it
scores the model on the twin's held-out frames and says how many of them it trained on (a
check that the file works, never an accuracy on unseen sessions):

    .venv/bin/python bench/airborne.py model/airborne.onnx --held-out-of airborne-validated.onnx

The COCO model (YOLOX-Nano) answers for its airplane and bird classes only: it has no drone
or helicopter class, so it scores 0 there by construction. AP50 is tune's (COCO-style,
101-point), class-aware: a bird found as a drone is a miss. A last table says what the sky
model names each held-out object at its default confidence (a drone, another class, or
missed): where a low AP comes from; a line before it gives the AP50 at that confidence. The
same table at 0.001 tells objects never found from objects found but named something else.
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
from app.config import Settings
from app.detector.nms import overlap
from app.tuning.ap import ImageMatches, average_precision, match_image
from app.tuning.confusion import MISSED, confusion, names_given
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


def answers(model_path: Path, images, only=None):
    """([(xyxy, scores, labels)] per image, seconds per image) of POST /detect at 0.001."""
    client = create_app({"model_path": model_path}).test_client()
    payload = {"confidence": 0.001} | ({"classes": list(only)} if only else {})
    found_per_image = []
    started = time.perf_counter()
    for image in images:
        body = {"image": base64.b64encode(image.path.read_bytes()).decode()} | payload
        found = client.post("/detect", json=body).get_json()["detections"]
        xyxy = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found])
        scores = np.array([d["confidence"] for d in found])
        labels = np.array([d["label"] for d in found])
        found_per_image.append((xyxy.reshape(-1, 4), scores, labels))
    return found_per_image, (time.perf_counter() - started) / max(1, len(images))


def per_class_ap50(found_per_image, images, names: dict[int, str]) -> dict[str, float]:
    matches: dict[str, list[ImageMatches]] = {c: [] for c in CLASSES}
    for (xyxy, scores, labels), image in zip(found_per_image, images, strict=True):
        truth_labels = np.array([names[int(c)] for c in image.truth_class])
        for c in CLASSES:
            mine = labels == c
            truth = image.truth_xyxy[truth_labels == c]
            matches[c].append(match_image(xyxy[mine], scores[mine], truth, max_dets=300))
    return {c: average_precision(m) for c, m in matches.items()}


def recommended(model_path: Path) -> dict[str, str]:
    """The model's recommended_settings (the environment lines the server applies)."""
    meta = {p.key: p.value for p in onnx.load(str(model_path)).metadata_props}
    return json.loads(meta.get("recommended_settings") or "{}")


def default_confidence(model_path: Path) -> float:
    settings = recommended(model_path)
    return float(settings.get("DEFAULT_CONFIDENCE", Settings().default_confidence))


def print_confusion(found_per_image, images, names: dict[int, str], confidence: float) -> None:
    """What each held-out object is named at a confidence: at the model's default, what a user
    gets; at 0.001, whether the model finds it at all and what its surest box over it says
    (an object missed at the default but named here was found, its score split by doubt)."""
    pairs = []
    for (xyxy, scores, labels), image in zip(found_per_image, images, strict=True):
        kept = scores >= confidence
        given = names_given(xyxy[kept], scores[kept], labels[kept], image.truth_xyxy)
        pairs += [(names[int(c)], g) for c, g in zip(image.truth_class, given, strict=True)]
    table = confusion(pairs)
    columns = [*CLASSES, MISSED]
    rows = [[c, *(str(table.get(c, {}).get(g, 0)) for g in columns)] for c in CLASSES]
    title = f"held-out objects by the name given at confidence {confidence:g} (IoU >= 0.5)"
    print_table(title, ["labelled", *(f"as {g}" for g in CLASSES), MISSED], rows)
    print_names_per_object(found_per_image, images, names, confidence)


def print_names_per_object(found_per_image, images, names: dict[int, str], confidence: float):
    """How many held-out objects are answered under more than one name (boxes of IoU >= 0.5
    with it, at the default confidence): the price of a merge per class, where two tiles that
    name one object differently both stay; and how often the right name is among them when the
    surest box's name is wrong."""
    objects = several = rescued = 0
    for (xyxy, scores, labels), image in zip(found_per_image, images, strict=True):
        kept = scores >= confidence
        kept_labels, kept_scores = labels[kept], scores[kept]
        near = overlap(image.truth_xyxy[:, None], xyxy[kept][None]) >= 0.5  # (G, M)
        for truth_class, hits in zip(image.truth_class, near, strict=True):
            objects += 1
            given, right = kept_labels[hits], names[int(truth_class)]
            if len(set(given)) > 1:
                several += 1
                rescued += given[np.argmax(kept_scores[hits])] != right and right in given
    print(
        f"\n{several} of {objects} held-out objects answered under more than one name at "
        f"confidence {confidence:g}; for {rescued} of them the surest name is wrong and the "
        "right one is among the others"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--base", type=Path, default=SHARED / "models" / "yolox_nano.onnx")
    parser.add_argument("--held-out-of", type=Path, metavar="TWIN",
                        help="score on the images TWIN held out")  # fmt: skip
    args = parser.parse_args()
    record = training_record(args.model)
    images, names = held_out(training_record(args.held_out_of) if args.held_out_of else record)
    seen = {im.name for im in images} & set(record.get("trained_on") or ())
    if seen:
        print(f"!! {args.model.name} trained on {len(seen)} of these images: its AP50 below "
              "flatters it and says nothing about unseen sessions")  # fmt: skip
    if not images:
        twin = (record.get("settings_from") or {}).get("model", "its validated twin")
        sys.exit(
            f"{args.model.name} held nothing out of the sample (trained on every frame): run this "
            f"on {twin}, the same recipe with sessions held out whose settings it carries "
            "(its card says where to get it), or add --held-out-of TWIN for a check that it works"
        )
    whose = (args.held_out_of or args.model).name
    print(f"{len(images)} held-out images of the airborne sample ({whose}'s record)")
    rows = []
    for label, path, only in (
        (f"COCO {args.base.name} (airplane, bird)", args.base, ("airplane", "bird")),
        (args.model.name, args.model, None),
    ):
        found, seconds = answers(path, images, only)
        ap = per_class_ap50(found, images, names)
        mean = float(np.nanmean([ap[c] for c in CLASSES]))
        rows.append(
            [label, *(f"{ap[c]:.3f}" for c in CLASSES), f"{mean:.3f}", f"{1000 * seconds:.0f}"]
        )
    title = "AP50 per class through POST /detect (each model's own settings)"
    print_table(title, ["model", *CLASSES, "mean AP50", "ms/image"], rows)
    confidence = default_confidence(args.model)
    kept = [scores >= confidence for _, scores, _ in found]
    at_default = [(x[k], s[k], n[k]) for (x, s, n), k in zip(found, kept, strict=True)]
    ap = per_class_ap50(at_default, images, names)
    per_class = ", ".join(f"{c} {ap[c]:.3f}" for c in CLASSES)
    mean = float(np.nanmean([ap[c] for c in CLASSES]))
    print(f"\n{args.model.name} at its default confidence {confidence:g} (not 0.001): "
          f"mean AP50 {mean:.3f} ({per_class})\n")  # fmt: skip
    print_confusion(found, images, names, confidence)
    print()
    print_confusion(found, images, names, 0.001)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
