"""A trained model's recommended settings chosen again without training
(`small-object-detect choose-settings`): on the images its training record held out, as
`train` chooses them at its end (when a setting was added after the model was trained, the
test-time flip say), or copied from the validated twin a run on every frame took them from.
No torch: the model runs as the server runs it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..config import Settings
from ..detector.model import RECOMMENDED_SETTINGS_KEY as RECOMMENDED
from ..detector.slicing import SlicingOptions
from ..tuning.labels import LabelledImage
from ..tuning.model_metadata import with_metadata, write_with_metadata
from .classes import plan_classes
from .settings import TRAINING_KEY, choose_settings, read_training

# What names the validated run a model took its settings from (its record's settings_from).
TWIN_FACTS = ("data_digest", "best_epoch", "val_ap50")


class RechooseError(ValueError):
    """The model, its twin or the images do not allow choosing its settings again."""


def read_record(path: Path) -> tuple[dict, dict[str, str]]:
    """(training record, recommended settings) of a model file `train` wrote."""
    record, chosen = read_training(path, RechooseError)
    if not record.get("classes"):
        raise RechooseError(f"{path.name}: no training record in it (not written by train)")
    return record, chosen


def rechoose(
    model: Path,
    labelled: list[LabelledImage],
    label_names: dict[int, str],
    classes: str | None,
    out: Path,
    command: str,
    say,
) -> dict[str, str]:
    """Choose model's settings on the images its record held out (found among labelled, the
    data set it was trained on, with its --classes) and write them into out."""
    record, _ = read_record(model)
    held = set(record.get("val_images") or ())
    if not held:
        raise RechooseError(
            f"{model.name} held nothing out (trained on every frame): choose its validated "
            "twin's settings, then give --from TWIN"
        )
    plan = plan_classes(labelled, label_names, (), classes)
    if tuple(plan.names) != tuple(record["classes"]):
        raise RechooseError(
            f"{model.name} was trained on {', '.join(record['classes'])}; these labels give "
            f"{', '.join(plan.names)} (give the --classes it was trained with)"
        )
    val = [im for im in labelled if im.name in held]
    if len(val) != len(held):
        raise RechooseError(
            f"{len(held) - len(val)} of the {len(held)} images {model.name} held out are not "
            "among these labelled images: its settings were chosen on other data"
        )
    trained = _trained_geometry(record)
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder) / model.name  # its old settings must not leak into the candidates
        bare.write_bytes(with_metadata(model.read_bytes(), {RECOMMENDED: "{}"}))
        truths = [plan.relabel(im) for im in val]
        chosen, table = choose_settings(bare, val, truths, plan.names, trained, say)
    record |= {"settings_choice": table, "settings_command": command}
    say(f"settings: written into {out}")
    _write(model, out, chosen, record)
    return chosen


def copy_from(model: Path, twin: Path, out: Path, command: str, say) -> dict[str, str]:
    """Take the settings of the validated twin `model` was trained beside (train
    --settings-from named it: same data digest, best epoch and validation AP50)."""
    record, _ = read_record(model)
    twin_record, chosen = read_record(twin)
    source = record.get("settings_from") or {}
    if not source:
        raise RechooseError(
            f"{model.name} did not take its settings from a twin (train --settings-from): "
            "choose them on its own held-out images instead (IMAGES_DIR --labels)"
        )
    differ = [k for k in TWIN_FACTS if source.get(k) != twin_record.get(k)]
    if differ:
        raise RechooseError(
            f"{twin.name} is not the run {model.name} took its settings from "
            f"({source.get('model') or 'another run'}: its {', '.join(differ)} differ)"
        )
    if not chosen or "settings_choice" not in twin_record:
        raise RechooseError(f"{twin.name} carries no settings chosen on held-out images")
    record |= {"settings_choice": twin_record["settings_choice"], "settings_command": command}
    _write(model, out, chosen, record)
    say(f"settings: {chosen}, chosen on {twin.name}'s held-out images")
    return chosen


def _trained_geometry(record: dict) -> SlicingOptions:
    """The slicing the model was trained with: its record's geometry (SLICING_* lines)."""
    return Settings.from_env(dict(record.get("geometry") or {})).slicing_defaults()


def _write(model: Path, out: Path, chosen: dict[str, str], record: dict) -> None:
    entries = {
        RECOMMENDED: json.dumps(chosen),
        TRAINING_KEY: json.dumps(record, sort_keys=True, allow_nan=False),
    }
    write_with_metadata(model, out, entries)
