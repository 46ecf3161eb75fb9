"""How much the settings choice flatters its own held-out sessions: `train` chooses a sky
model's settings (tile geometry, merge across or per class) on the sessions it held out, and
the card reports AP50 on those same sessions. Here the held-out sessions are split in two
halves, each with sessions of every class; the candidates are chosen on one half and measured
on the other, against the best candidate there (what choosing on the measured images gives).

    git show 03d1a06:model/airborne.onnx > airborne-validated.onnx   # the shipped model's twin
    .venv/bin/python bench/airborne_settings_cv.py airborne-validated.onnx   # ~3 min
    .venv/bin/python bench/airborne_settings_cv.py airborne-validated.onnx --flip   # ~6 min
    # (07dc8c8: the previous recipe's twin)

Scoring is train's own (`app.training.validate.score_model`: POST /detect's pipeline with each
candidate's settings, on a copy of the model without the settings it carries, confidence
0.001, class-aware AP50 per class, their mean). `--flip` scores every candidate with the
test-time flip on (DEFAULT_FLIP=true), twice the model time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings
from app.detector.model import RECOMMENDED_SETTINGS_KEY
from app.training.settings import candidates, geometry_env
from app.training.validate import SceneRule, score_model
from bench._common import print_table, require
from bench.airborne import CLASSES, held_out, training_record

SESSIONS = SceneRule(r"^V_([A-Z]+)_(\d+)", 6)  # the twin's --scenes and --scene-block


def halves(images) -> tuple[list, list]:
    """The held-out images in two halves of whole sessions: each class's sessions, sorted,
    dealt alternately, so both halves hold every class."""
    by_class: dict[str, list[str]] = {}
    for scene in sorted({SESSIONS(im.name) for im in images}):
        by_class.setdefault(scene.split("-")[0], []).append(scene)
    first = {s for scenes in by_class.values() for s in scenes[::2]}
    return (
        [im for im in images if SESSIONS(im.name) in first],
        [im for im in images if SESSIONS(im.name) not in first],
    )


def without_settings(model: Path, folder: str) -> Path:
    """A copy of the model without its recommended settings, as train scores its candidates
    (before it writes them): a candidate's unset variables must not fall back to the chosen
    settings (SLICING_TILE, SLICING_CLASS_AGNOSTIC)."""
    proto = onnx.load(str(model))
    kept = [p for p in proto.metadata_props if p.key != RECOMMENDED_SETTINGS_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    path = Path(folder) / model.name
    onnx.save(proto, str(path))
    return path


def score_halves(
    model: Path, halves_, geometries: dict, names, flip: bool = False
) -> list[dict[str, float]]:
    """Per half: candidate -> mean AP50 there (each candidate flipped too when flip)."""
    flipping = {"DEFAULT_FLIP": "true" if flip else "false"}
    scores: list[dict[str, float]] = []
    for index, half in enumerate(halves_):
        truths = [(im.truth_xyxy, im.truth_class) for im in half]
        scenes = sorted({SESSIONS(im.name) for im in half})
        print(f"half {'AB'[index]}: {len(half)} images, {', '.join(scenes)}", flush=True)
        scores.append({})
        for label, slicing in geometries.items():
            score = score_model(model, half, truths, names, geometry_env(slicing) | flipping)
            scores[-1][label] = score.mean_ap50
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=require, help="a validated sky model (held sessions out)")
    parser.add_argument("--flip", action="store_true", help="every candidate with the flip on")
    args = parser.parse_args()
    model = args.model
    record = training_record(model)
    images, label_names = held_out(record)
    names = tuple(label_names[k] for k in sorted(label_names))
    if not images or names != CLASSES:
        sys.exit(f"{model}: no held-out frames of the sky sample's classes; give its twin")
    halves_ = halves(images)
    trained = Settings.from_env(dict(record.get("geometry") or {})).slicing_defaults()
    geometries = candidates(trained, len(names))
    with tempfile.TemporaryDirectory() as folder:
        scores = score_halves(
            without_settings(model, folder), halves_, geometries, names, flip=args.flip
        )
    print_table(
        "Mean AP50 per candidate on each half of the held-out sessions",
        ("candidate", "half A", "half B"),
        [(label, f"{scores[0][label]:.3f}", f"{scores[1][label]:.3f}") for label in geometries],
    )
    rows = []
    for chooser, measured in ((0, 1), (1, 0)):
        chosen = max(scores[chooser], key=scores[chooser].get)
        best = max(scores[measured], key=scores[measured].get)
        got, ideal = scores[measured][chosen], scores[measured][best]
        rows.append(("AB"[chooser], chosen, "AB"[measured], f"{got:.3f}", best, f"{ideal:.3f}",
                     f"{ideal - got:.3f}"))  # fmt: skip
    print_table(
        "Chosen on one half, measured on the other (the flattery: best there minus chosen)",
        ("chosen on", "candidate", "measured on", "its AP50", "best there", "AP50", "flattery"),
        rows,
    )


if __name__ == "__main__":
    main()
