"""A model's recommended settings before and after, through POST /detect: class-agnostic AP50
on the scenes a validated run held out (its training record's val_images), and the number of
objects found on the demo picture at the model's own default confidence.

    # the validated run: the recipe with --val-fraction 0.2 (model/aerial-vehicles.md)
    .venv/bin/python bench/settings_compare.py VALIDATED.onnx \\
        --before model/aerial-vehicles.onnx@c2c0d4c --shipped model/aerial-vehicles.onnx

--before names the settings to compare with: a model file whose recommended_settings are
copied, or FILE@REV to read that file from git at a revision. The held-out AP50 is always the
validated model's (the shipped one trained on those scenes); the demo count is the shipped
model's, under each model's settings in turn.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.tuning.ap import average_precision, match_image
from app.tuning.labels import load_labels
from app.tuning.model_metadata import write_with_metadata
from bench._common import print_table, require

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
DEMO = SHARED / "data" / "demo" / "small-vehicles1.jpeg"


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def model_bytes(spec: str) -> bytes:
    """FILE, or FILE@REV read from git."""
    if "@" in spec:
        name, rev = spec.rsplit("@", 1)
        return subprocess.run(
            ["git", "show", f"{rev}:{name}"], capture_output=True, check=True
        ).stdout
    return require(spec).read_bytes()


def held_out_ap50(path: Path, images) -> float:
    client = create_app({"model_path": path}).test_client()
    matches = []
    for image in images:
        body = {"image": base64.b64encode(image.path.read_bytes()).decode(), "confidence": 0.001}
        found = client.post("/detect", json=body).get_json()["detections"]
        xyxy = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found])
        scores = np.array([d["confidence"] for d in found])
        matches.append(match_image(xyxy.reshape(-1, 4), scores, image.truth_xyxy, max_dets=500))
    return average_precision(matches)


def demo_count(path: Path) -> int:
    client = create_app({"model_path": path}).test_client()
    body = {"image": base64.b64encode(require(DEMO).read_bytes()).decode()}
    return client.post("/detect", json=body).get_json()["count"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("validated", type=Path)
    parser.add_argument("--before", required=True, help="FILE or FILE@REV: the old settings")
    parser.add_argument("--shipped", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "aerial-cars-sample")
    args = parser.parse_args()
    val = set(json.loads(metadata(args.validated)["training"])["val_images"])
    files = [(p, Path(p.name)) for p in sorted((require(args.data) / "images").iterdir())]
    images = [im for im in load_labels(files, args.data / "labels") if im.name in val]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "before.onnx"
        before.write_bytes(model_bytes(args.before))
        old = metadata(before)["recommended_settings"]
        new = metadata(args.validated)["recommended_settings"]
        for label, settings in (("before", old), ("after", new)):
            validated = Path(folder) / f"validated-{label}.onnx"
            shipped = Path(folder) / f"shipped-{label}.onnx"
            write_with_metadata(args.validated, validated, {"recommended_settings": settings})
            write_with_metadata(args.shipped, shipped, {"recommended_settings": settings})
            ap = held_out_ap50(validated, images)
            rows.append([label, settings, f"{ap:.3f}", demo_count(shipped)])
    print(f"{len(images)} held-out images: {', '.join(sorted(val))}")
    headers = ["settings", "recommended_settings", "held-out AP50 (validated)", "demo count"]
    print_table("Before and after, through POST /detect", headers, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
