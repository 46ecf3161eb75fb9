"""The settings a trained model recommends, chosen on its held-out images only: the geometry
(tile size, slicing, the whole-image pass) of best mean AP50 among a few candidates, and the
default confidence of best F1 there. Images the model trained on would flatter both (a
confidence chosen on them is too high: the model is surest where it has seen the answer)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..detector.model import RECOMMENDED_SETTINGS_KEY as RECOMMENDED
from ..detector.onnx_file import NotAnOnnxModel, read_onnx_file
from ..detector.slicing import SlicingOptions
from .schedule import Schedule
from .validate import score_model


def geometry_env(slicing: SlicingOptions) -> dict[str, str]:
    """The SLICING_* variables that give this geometry (recommended_settings' form)."""
    env = {
        "SLICING_MODE": slicing.mode,
        "SLICING_OVERLAP": f"{slicing.overlap:g}",
        "SLICING_WHOLE_IMAGE": "true" if slicing.whole_image else "false",
    }
    if slicing.tile_wh is not None:
        w, h = slicing.tile_wh
        env["SLICING_TILE"] = f"{w}" if w == h else f"{w}x{h}"
    if not slicing.class_agnostic:  # written only when set: older records compare equal
        env["SLICING_CLASS_AGNOSTIC"] = "false"
    return env


def candidates(trained: SlicingOptions, class_count: int) -> dict[str, SlicingOptions]:
    """The geometries compared: the one trained, it without the whole-image pass, tiles of the
    model's input size (native scale) always, and the whole image alone. Each tiled one twice:
    merged across classes (the server's default: one object, one label, the best tile's), and
    merged per class (an object two tiles name differently keeps both names, the right one
    among them). A model of one class has no names to lose: its tiles are merged one way."""
    tiled = {
        "trained": trained,
        "trained, no whole-image pass": dataclasses.replace(trained, whole_image=False),
        "input-size tiles": SlicingOptions(mode="on"),
    }
    per_class = {
        f"{label}, merged per class": dataclasses.replace(slicing, class_agnostic=False)
        for label, slicing in tiled.items()
        if class_count > 1
    }
    return tiled | per_class | {"whole image only": SlicingOptions(mode="off")}


# The best plain candidates scored again with the test-time flip. Not only the best: on the
# sky sample the flip gains more with the whole-image pass (airborne's twin: the second-best
# plain candidate, flipped, beat the best one flipped on both halves of its held-out sessions,
# bench/airborne_settings_cv.py --flip), and every flipped candidate costs twice a plain one.
FLIPPED_CANDIDATES = 2


def choose_settings(
    model_path: Path, images, truths, names: tuple[str, ...], trained: SlicingOptions, say
) -> tuple[dict[str, str], list[dict]]:
    """(recommended_settings, the table of candidates scored) on the held-out images: every
    geometry of `candidates`, then the FLIPPED_CANDIDATES best of them with the test-time flip
    (twice the model time, so it must win on its own held-out AP50 to be recommended)."""
    table, best = [], None
    geometries = {label: geometry_env(s) for label, s in candidates(trained, len(names)).items()}
    for label, env in geometries.items():
        best = _scored(model_path, images, truths, names, label, env, table, best, say)
    assert best is not None
    for row in sorted(table, key=lambda row: -row["mean_ap50"])[:FLIPPED_CANDIDATES]:
        flipped = row["settings"] | {"DEFAULT_FLIP": "true"}
        label = f"{row['geometry']}, flipped too"
        best = _scored(model_path, images, truths, names, label, flipped, table, best, say)
    chosen = dict(best["settings"]) | {"DEFAULT_CONFIDENCE": f"{best['confidence']:g}"}
    say(f"settings: recommending {best['geometry']} ({chosen}), chosen on held-out images")
    return chosen, table


def _scored(model_path, images, truths, names, label, env, table, best, say) -> dict:
    """Score one candidate, add its row to table; returns the better of it and best."""
    score = score_model(model_path, images, truths, names, {"DEFAULT_FLIP": "false"} | env)
    row = {
        "geometry": label,
        "settings": env,
        "mean_ap50": round(score.mean_ap50, 4),
        "per_class": {k: round(v, 4) for k, v in score.per_class.items()},
        "confidence": score.confidence,
    }
    table.append(row)
    say(
        f"settings: {label}: held-out mean AP50 {row['mean_ap50']}, best-F1 confidence "
        f"{score.confidence}"
    )
    return row if best is None or row["mean_ap50"] > best["mean_ap50"] else best


TRAINING_KEY = "training"  # the metadata entry of the training record (export.metadata)


class BorrowError(ValueError):
    """--settings-from names a model whose settings do not fit this run."""


def read_training(path: Path, error: type[ValueError], prefix: str = "") -> tuple[dict, dict]:
    """(training record, recommended settings) of a model file; {} for either that is missing
    or not JSON. Raises error(prefix + why) when the file cannot be read or is not ONNX."""
    try:
        metadata = read_onnx_file(path.read_bytes()).metadata
    except OSError as exc:
        raise error(f"{prefix}{path}: {exc.strerror or exc}") from None
    except NotAnOnnxModel:
        raise error(f"{prefix}{path}: not an ONNX model") from None
    try:
        record = json.loads(metadata.get(TRAINING_KEY) or "{}")
        chosen = json.loads(metadata.get(RECOMMENDED) or "{}")
    except ValueError:
        return {}, {}
    return record, chosen


def balances(balance: bool, names: tuple[str, ...]) -> bool:
    """Whether a run repeats rare classes' views: asked for, and two classes or more to weigh."""
    return balance and len(names) > 1


def recipe_mismatch(
    record: dict, base_name: str, balance: bool, schedule: Schedule | None = None
) -> str | None:
    """What differs between the twin's record and this run, in the words of the flags."""
    if record.get("base", base_name) != base_name:
        return (
            f"fine-tuned {record['base']}; this run fine-tunes {base_name} (give the same --base)"
        )
    if record.get("class_balance", balance) != balance:
        said = {True: "on", False: "off"}
        return (
            f"trained with class balance {said[record['class_balance']]}; this run has it "
            f"{said[balance]} (give --no-balance to both or neither)"
        )
    return (schedule or Schedule()).mismatch(record)


def borrowed_settings(
    path: Path,
    names: tuple[str, ...],
    trained: SlicingOptions,
    image_names: set[str],
    *,
    base_name: str,
    balance: bool,
    schedule: Schedule | None = None,
) -> tuple[dict[str, str], dict]:
    """(recommended_settings, what the record says of them) taken from a validated run of the
    same recipe: a run with --val-fraction 0 holds nothing out, so the settings it carries are
    the ones its validated twin chose on held-out images. The twin must have the same classes,
    base model (by file name), class balance (`balances`), schedule (--lr, --freeze-backbone,
    --freeze-neck, --weigh-classes, --paste) and trained geometry, and have held out images that are
    among this run's. Records older than a field are not checked on it."""
    record, chosen = read_training(path, BorrowError, "--settings-from ")
    held = record.get("val_images") or []
    if not held or "settings_choice" not in record or not chosen:
        raise BorrowError(
            f"--settings-from {path.name}: not a validated train run (no held-out images and "
            "settings chosen on them in its record): train it with --val-fraction above 0 first"
        )
    if tuple(record.get("classes") or ()) != tuple(names):
        raise BorrowError(
            f"--settings-from {path.name}: classes {', '.join(record.get('classes') or [])}; "
            f"this run trains {', '.join(names)}"
        )
    if record.get("geometry") != geometry_env(trained):
        raise BorrowError(
            f"--settings-from {path.name}: trained with {record.get('geometry')}; this run "
            f"trains {geometry_env(trained)} (give the same --tile)"
        )
    mismatch = recipe_mismatch(record, base_name, balances(balance, names), schedule)
    if mismatch:
        raise BorrowError(f"--settings-from {path.name}: {mismatch}")
    strangers = [name for name in held if name not in image_names]
    if strangers:
        raise BorrowError(
            f"--settings-from {path.name}: {len(strangers)} of its {len(held)} held-out images "
            f"are not among this run's (first: {strangers[0]}): its settings were chosen on "
            "other data"
        )
    provenance = {
        "model": path.name,
        "data_digest": record.get("data_digest"),
        "held_out_images": len(held),
        "best_epoch": record.get("best_epoch"),
        "val_ap50": record.get("val_ap50"),
    }
    return chosen, {"settings_from": provenance, "settings_choice": record["settings_choice"]}
