"""Would the whole-image pass help a sky model if only its large boxes were kept? A probe of an
idea the airborne card rejects: helicopters score best on the whole frame, the other classes
with tiles alone. Each held-out frame (the training record's) is run once as tiles alone and
once whole (confidence 0.001); the whole frame's boxes with a shorter side of at least
MIN_SIDE px are merged in as the server merges views (NMS at IoU 0.5, across classes or per
class as the model's recommended settings say), and AP50 is scored per class as
bench/airborne.py scores it. Last, the median shorter side of each
class's held-out labels: a size gate can only tell classes apart that differ in size.

    .venv/bin/python bench/airborne_whole_pass.py airborne-validated.onnx   # about a minute

(airborne-validated.onnx: the shipped model's twin, `git show 03d1a06:model/airborne.onnx`.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.detector import load_model
from app.detector.detections import Detections
from app.detector.merge import merge_detections
from app.detector.pipeline import DEFAULT_MAX_PIXELS, detect_array
from app.detector.postprocess import DetectOptions
from app.detector.preprocess import open_image, to_rgb_image
from app.detector.slicing import SlicingOptions
from bench._common import print_table
from bench.airborne import CLASSES, held_out, per_class_ap50, recommended, training_record

MIN_SIDES_PX = (0, 16, 24, 32, 48, 64, 96, 128)


def shorter_side_px(found: Detections) -> np.ndarray:
    return np.minimum(found.xyxy[:, 2] - found.xyxy[:, 0], found.xyxy[:, 3] - found.xyxy[:, 1])


def merged(
    tiles: Detections, whole: Detections, min_side_px: float | None, *, class_agnostic: bool
) -> Detections:
    """Tiles' boxes, plus the whole frame's of at least min_side_px (None: none of them)."""
    if min_side_px is None:
        return tiles
    large = whole[shorter_side_px(whole) >= min_side_px]
    both = Detections(
        np.concatenate([tiles.xyxy, large.xyxy]),
        np.concatenate([tiles.confidence, large.confidence]),
        np.concatenate([tiles.class_id, large.class_id]),
    )
    return merge_detections(both, class_agnostic=class_agnostic, max_keep=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--tile", type=int, default=320, help="tile side, px (default 320)")
    args = parser.parse_args()
    images, names = held_out(training_record(args.model))
    if not images:
        raise SystemExit(f"{args.model.name} held nothing out: give its validated twin")
    model = load_model(args.model)
    agnostic = recommended(args.model).get("SLICING_CLASS_AGNOSTIC", "true") != "false"
    tiled = SlicingOptions(
        tile_wh=(args.tile, args.tile), whole_image=False, class_agnostic=agnostic
    )
    views = []
    for image in images:
        pixels = np.asarray(
            to_rgb_image(open_image(image.path.read_bytes(), max_pixels=DEFAULT_MAX_PIXELS))
        )
        tiles = detect_array(model, pixels, DetectOptions(confidence=0.001, slicing=tiled))
        whole = detect_array(model, pixels, DetectOptions(confidence=0.001))
        views.append((tiles, whole))
    class_names = model.info.class_names
    rows = []
    for min_side_px in (None, *MIN_SIDES_PX):
        found = []
        for tiles, whole in views:
            kept = merged(tiles, whole, min_side_px, class_agnostic=agnostic)
            labels = np.array([class_names[int(c)] for c in kept.class_id])
            found.append((kept.xyxy, kept.confidence, labels))
        ap = per_class_ap50(found, images, names)
        mean = float(np.nanmean([ap[c] for c in CLASSES]))
        label = "tiles alone" if min_side_px is None else f"+ whole-frame boxes >= {min_side_px} px"
        rows.append([label, *(f"{ap[c]:.3f}" for c in CLASSES), f"{mean:.3f}"])
    merge = "across classes" if agnostic else "per class"
    title = f"{len(images)} held-out frames, {args.tile} px tiles merged {merge}, AP50 per class"
    print_table(title, ["views merged", *CLASSES, "mean AP50"], rows)
    sides = {c: [] for c in CLASSES}
    for image in images:
        truth = Detections(image.truth_xyxy, np.ones(len(image.truth_class)), image.truth_class)
        for c, side in zip(image.truth_class, shorter_side_px(truth), strict=True):
            sides[names[int(c)]].append(side)
    medians = ", ".join(f"{c} {np.median(sides[c]):.0f}" for c in CLASSES if sides[c])
    print(f"\nmedian shorter side of the held-out labels, px: {medians}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
