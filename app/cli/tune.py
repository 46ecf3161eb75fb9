"""`python -m app tune IMAGES_DIR --labels LABELS`: find the slicing and threshold settings that
find the user's labelled objects best, and write them as environment lines (docs/tuning.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ..config import Settings, settings_for_model
from ..detector import DetectionError, Model, load_model
from ..detector.cpus import usable_cpus
from ..detector.model import RECOMMENDED_SETTINGS_KEY
from ..detector.postprocess import DetectOptions
from ..registry import model_file
from ..service import DetectionService
from ..tuning.held_out import never_trained_on
from ..tuning.labels import LabelError, LabelledImage, load_labels
from ..tuning.model_metadata import write_with_metadata
from ..tuning.report import env_comments, env_text, folds_table, trials_table
from ..tuning.search import TuneResult, tune
from ..tuning.space import Setting, env_lines
from ..tuning.timing import measured_ms, timed_sample
from . import progress
from .detect import UsageError, find_images

DEFAULT_BUDGET_MINUTES = 10.0
TIMING_SHARE = 0.05  # of the budget kept for that


def add_tune_command(commands) -> None:
    cmd = commands.add_parser(
        "tune",
        help="find the slicing and thresholds that find your labelled objects best",
        description="Score slicing and merge settings on labelled images (AP50, COCO-style, "
        "k-fold) and write the best as environment lines. See docs/tuning.md.",
    )
    cmd.add_argument("images_dir", type=Path, metavar="IMAGES_DIR")
    cmd.add_argument(
        "--labels",
        type=Path,
        required=True,
        help="a folder of YOLO txt files (class cx cy w h, normalised) or a COCO JSON file",
    )
    cmd.add_argument(
        "--skip-bad-labels",
        action="store_true",
        help="leave out labels that fail their checks (counted in one line) instead of stopping",
    )
    cmd.add_argument("--classes", help="limit predictions to these classes: car,bus,truck")
    cmd.add_argument("--out", type=Path, help="write the settings here (KEY=value lines)")
    cmd.add_argument(
        "--budget-minutes",
        type=float,
        default=DEFAULT_BUDGET_MINUTES,
        help=f"stop by then, writing the best found (default {DEFAULT_BUDGET_MINUTES:g})",
    )
    cmd.add_argument(
        "--model", help="a model name in MODELS_DIR or an ONNX file (default MODEL_PATH)"
    )
    cmd.add_argument(
        "--into-model",
        type=Path,
        metavar="OUT.onnx",
        help="also write a copy of the model that carries the settings in its metadata: "
        "served as it is, it needs no env file (docs/tuning.md)",
    )
    progress.add_progress_flag(cmd)
    cmd.set_defaults(func=tune_main)


def class_payload(raw: str | None, model: Model) -> dict:
    """--classes as the request field "classes"; unknown names are a usage error."""
    if raw is None:
        return {}
    names = [name.strip() for name in raw.split(",") if name.strip()]
    known = {name.lower() for name in model.info.class_names}
    unknown = [name for name in names if name.lower() not in known and not name.isdigit()]
    if not names or unknown:
        listed = ", ".join(model.info.class_names[:12])
        raise UsageError(
            f"--classes: unknown class {(unknown or [raw])[0]!r}; {model.info.name} knows "
            f"{len(model.info.class_names)} classes: {listed}, ..."
        )
    return {"classes": [int(name) if name.isdigit() else name for name in names]}


def request_options(payload: dict, settings: Settings, model: Model) -> DetectOptions:
    """What POST /detect makes of this payload under these settings (defaults included), the
    test-time flip off: tune scores one pass per view, and says so (DEFAULT_FLIP=false)."""
    options = DetectionService(settings, model).options(payload).options
    return dataclasses.replace(options, flip=False)


def defaults_setting(settings: Settings, model: Model) -> Setting:
    slicing = settings.slicing_defaults()
    tile_wh = slicing.tile_wh or model.info.input_wh
    return Setting(dataclasses.replace(slicing, tile_wh=tile_wh), settings.default_iou)


@dataclasses.dataclass(frozen=True)
class _Job:
    labelled: list[LabelledImage]
    payload: dict
    settings: Settings
    model: Model
    budget_s: float
    label_notes: list[str]  # what --skip-bad-labels left out, one line
    trained_on: int = 0  # images left out: the model's training record lists them


def _prepare(args: argparse.Namespace) -> _Job:
    if not args.images_dir.is_dir():
        raise UsageError(f"{args.images_dir}: not a folder of images")
    if not 0 < args.budget_minutes <= 24 * 60:
        raise UsageError("--budget-minutes must be more than 0 and at most 1440")
    images = find_images([args.images_dir])
    if not images:
        raise UsageError(f"{args.images_dir}: no images in it")
    if args.into_model and not args.into_model.parent.is_dir():
        raise UsageError(f"--into-model {args.into_model}: its folder does not exist")
    label_notes: list[str] = []
    skip_bad = label_notes.append if args.skip_bad_labels else None
    labelled = load_labels(images, args.labels, skip_bad=skip_bad)
    if len(labelled) < 2:
        raise UsageError("tuning needs at least 2 labelled images (20 to 50 is best)")
    settings = Settings.from_env(os.environ, _model_override(args))
    model = load_model(
        settings.model_path,
        layout=settings.model_format,
        labels_path=settings.model_labels,
        threads=settings.model_threads,
    )
    settings = settings_for_model(settings, model.info)
    payload = class_payload(args.classes, model)
    unseen = never_trained_on(labelled, model) if args.into_model else labelled
    left_out = len(labelled) - len(unseen)
    budget_s = 60 * args.budget_minutes
    return _Job(unseen, payload, settings, model, budget_s, label_notes, left_out)


def run_tune(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, command: str = "python -m app tune"
) -> int:
    """Exit status: 0 settings found (and written), 1 found but --into-model failed, 2 nothing
    could start (one line why)."""
    started = time.perf_counter()
    try:
        job = _prepare(args)
    except (UsageError, LabelError, DetectionError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    show = progress.wanted(args.progress, stderr)
    _print_intro(job, args, stdout)
    stdout.flush()
    # The total shrinks when the budget skips a tile geometry; the label names the pass.
    shown = progress.bar(stderr, show=show, total=None, unit="view")

    def on_progress(done: int, total: int, label: str) -> None:
        shown.total = total
        shown.set_postfix_str(label, refresh=False)
        shown.update(done - shown.n)

    def note(line: str) -> None:
        progress.note(stderr, line)

    options = request_options(job.payload, job.settings, job.model)
    defaults = defaults_setting(job.settings, job.model)
    remaining_s = job.budget_s * (1 - TIMING_SHARE) - (time.perf_counter() - started)
    result = tune(
        job.model,
        job.labelled,
        options,
        defaults,
        budget_s=max(remaining_s, 1.0),
        workers=usable_cpus(),
        progress=on_progress,
        note=note,
    )
    shown.total = shown.n  # what the budget skipped is in the notes; every pass that ran is done
    shown.close()
    return _finish(job, args, result, stdout, command, started)


def _print_intro(job: _Job, args: argparse.Namespace, out: TextIO) -> None:
    boxes = sum(len(image.truth_xyxy) for image in job.labelled)
    info = job.model.info
    classes = ", ".join(map(str, job.payload.get("classes", []))) or "all classes"
    out.writelines(note + "\n" for note in job.label_notes)
    out.write(
        f"Tuning on {len(job.labelled)} labelled images ({boxes} boxes) in {args.images_dir}\n"
        f"model {info.name} ({info.input_wh[0]}x{info.input_wh[1]}), predictions: {classes}\n"
        "metric: AP50, COCO-style (101-point interpolated precision at IoU 0.5), "
        "class-agnostic: every labelled box is one object to find\n"
        f"budget {args.budget_minutes:g} min\n\n"
    )
    if job.trained_on:
        out.write(
            f"left out: {job.trained_on} images the model trained on (its training record "
            "lists them); --into-model settings come from images it never saw\n\n"
        )


def _finish(job, args, result: TuneResult, out: TextIO, command: str, started: float) -> int:
    winner, defaults = result.winner, result.defaults
    point = result.operating_point
    tuned_env = env_lines(winner.setting, point.confidence)
    tuned_settings = settings_for_model(
        Settings.from_env({**os.environ, **tuned_env}, _model_override(args)), job.model.info
    )
    sample = timed_sample(job.labelled)
    max_pixels = job.settings.max_image_pixels
    default_ms = measured_ms(
        job.model, sample, request_options(job.payload, job.settings, job.model), max_pixels
    )
    tuned_ms = measured_ms(
        job.model, sample, request_options(job.payload, tuned_settings, job.model), max_pixels
    )
    lines = [*trials_table(result), "", *folds_table(result), ""]
    best = result.trials[0].train.mean()
    lines += [
        f"Winner: {winner.setting.describe()}",
        f"  AP50 on all {len(job.labelled)} images {winner.ap:.3f} (defaults {defaults.ap:.3f}); "
        f"the simplest setting within one fold std ({result.spread:.3f}) of the best mean "
        f"training AP50 ({best:.3f})",
        f"  DEFAULT_CONFIDENCE={point.confidence:g}: best F1 on the labels {point.f1:.3f} "
        f"(precision {point.precision:.3f}, recall {point.recall:.3f})",
        f"  time per image, detect_bytes on {len(sample)} images: defaults {default_ms:.0f} ms "
        f"(confidence {job.settings.default_confidence:g}), tuned {tuned_ms:.0f} ms "
        f"({tuned_ms / default_ms:.1f}x)",
    ]
    if result.skipped or result.cut_short:
        lines.append(
            f"  budget: {len(result.skipped)} tile geometries skipped"
            + (", scoring stopped early" if result.cut_short else "")
            + "; a larger --budget-minutes searches them"
        )
    comments = env_comments(
        result,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        model=job.model.info.name,
        classes=", ".join(map(str, job.payload.get("classes", []))) or "all",
        default_ms=default_ms,
        tuned_ms=tuned_ms,
    )
    text = env_text(winner.setting, point.confidence, comments)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        lines.append(f"\nWrote {args.out}: load it with `set -a; . {args.out}; set +a` "
                     "(docs/tuning.md)")  # fmt: skip
    else:
        lines += ["", "Settings (write them to a file with --out FILE):", text.rstrip()]
    status = 0
    if args.into_model:
        try:
            lines.append(_write_model_copy(job, args.into_model, tuned_env))
        except (OSError, ValueError, DetectionError) as exc:
            status = 1  # the settings above are still good; only the copy failed
            lines.append(f"error: --into-model: {getattr(exc, 'message', exc)}")
    elapsed = time.perf_counter() - started
    lines.append(f"Took {int(elapsed // 60)} min {elapsed % 60:.0f} s.")
    out.write("\n".join(lines) + "\n")
    return status


def _write_model_copy(job: _Job, target: Path, settings: dict[str, str]) -> str:
    """The model with `settings` as its recommended_settings metadata, written and loaded back
    (the server reads it so); returns the line that says where it is."""
    source = job.settings.model_path
    write_with_metadata(source, target, {RECOMMENDED_SETTINGS_KEY: json.dumps(settings)})
    copy = load_model(target, layout=job.settings.model_format, threads=1)
    settings_for_model(Settings(), copy.info)  # the server's own checks of what it wrote
    return (
        f"Wrote {target}: {source.name} with these settings in its metadata; serve it with "
        f"MODEL_PATH={target} (settings set in the environment still win)"
    )


def _model_override(args: argparse.Namespace) -> dict | None:
    if not args.model:
        return None
    return {"model_path": model_file(args.model, Settings.from_env(os.environ))}


def tune_main(args: argparse.Namespace) -> int:
    command = "python -m app " + shlex.join(sys.argv[1:])
    return run_tune(args, sys.stdout, sys.stderr, command)
