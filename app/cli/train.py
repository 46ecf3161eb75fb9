"""`small-object-detect train IMAGES_DIR --labels LABELS`: fine-tune a YOLOX-layout ONNX model
on labelled images and write the trained model as ONNX (docs/training.md). Needs torch
(scripts/setup.sh --train); imported only when the command runs."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from pathlib import Path
from typing import TextIO

from ..config import Settings
from ..detector import DetectionError
from ..tuning.labels import LabelError, class_names, load_labels
from .detect import UsageError, find_images
from .progress import add_progress_flag

DEFAULT_EPOCHS = 30
DEFAULT_BUDGET_MINUTES = 40.0
DEFAULT_VAL_FRACTION = 0.2
INSTALL_HINT = "train needs torch: run scripts/setup.sh --train (installs requirements-train.txt)"


def add_train_command(commands) -> None:
    cmd = commands.add_parser(
        "train",
        help="fine-tune the model on your labelled images (needs scripts/setup.sh --train)",
        description="Fine-tune a YOLOX-layout ONNX model on labelled images, tiled as the "
        "server slices them, and write an ONNX model the server loads. See docs/training.md.",
    )
    cmd.add_argument("images_dir", type=Path, metavar="IMAGES_DIR")
    cmd.add_argument(
        "--labels", type=Path, required=True, help="a folder of YOLO txt files or a COCO JSON file"
    )
    cmd.add_argument(
        "--classes",
        help="classes to train: car,bus (keep these) or "
        "vehicle=car+truck+bus (merge into one); default: every labelled class",
    )
    cmd.add_argument(
        "--base",
        type=Path,
        help="YOLOX-layout ONNX to start from (default: the served model, MODEL_PATH)",
    )
    cmd.add_argument(
        "--out",
        type=Path,
        default=Path("trained.onnx"),
        help="the trained model (default trained.onnx; its checkpoint: OUT.ckpt)",
    )
    cmd.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"at most this many epochs (default {DEFAULT_EPOCHS})",
    )
    cmd.add_argument(
        "--budget-minutes",
        type=float,
        default=DEFAULT_BUDGET_MINUTES,
        help=f"stop training by then (default {DEFAULT_BUDGET_MINUTES:g})",
    )
    cmd.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULT_VAL_FRACTION,
        help="share of the images held out, whole scenes (default 0.2; 0: none)",
    )
    cmd.add_argument(
        "--resume", action="store_true", help="continue the run whose checkpoint is OUT.ckpt"
    )
    cmd.add_argument(
        "--distill",
        type=Path,
        action="append",
        default=[],
        help="a folder of unlabelled images of other kinds: the base model's "
        "predictions there are learnt too (distillation), so it forgets less (repeatable)",
    )
    cmd.add_argument(
        "--skip-bad-labels",
        action="store_true",
        help="leave out labels that fail their checks (counted in one line) instead of stopping",
    )
    add_progress_flag(cmd)
    cmd.set_defaults(func=train_main)


def _check(args: argparse.Namespace) -> None:
    if not args.images_dir.is_dir():
        raise UsageError(f"{args.images_dir}: not a folder of images")
    if not 0 < args.budget_minutes <= 24 * 60:
        raise UsageError("--budget-minutes must be more than 0 and at most 1440")
    if not 1 <= args.epochs <= 10_000:
        raise UsageError("--epochs must be 1 to 10000")
    if not 0 <= args.val_fraction < 1:
        raise UsageError("--val-fraction must be at least 0 and below 1")
    if args.out.suffix.lower() != ".onnx":
        raise UsageError(f"--out {args.out}: name an .onnx file")


def prepare(args: argparse.Namespace, command: str, say):
    """The job to run (everything checked before any training starts)."""
    from ..training.classes import plan_classes
    from ..training.run import Job, import_base
    from ..training.validate import split_by_scene

    _check(args)
    base_path = args.base or Settings.from_env({}).model_path
    base, base_names, _ = import_base(base_path)
    skip_bad = say if args.skip_bad_labels else None
    labelled = load_labels(find_images([args.images_dir]), args.labels, skip_bad=skip_bad)
    if len(labelled) < 2:
        raise UsageError("train needs at least 2 labelled images (20 to 50 is a good start)")
    classes = plan_classes(labelled, class_names(args.labels), base_names, args.classes)
    for line in classes.notes:
        say(f"classes: {line}")
    train, val = split_by_scene(labelled, args.val_fraction)
    distill = [path for path, _ in find_images(args.distill)] if args.distill else []
    if distill and not any(classes.sources):
        say("distill: ignored, no trained class starts from a class of the base model")
        distill = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"base {base_path.name}; classes {', '.join(classes.names)}; {len(train)} training "
        f"images, {len(val)} held out ({', '.join(im.name for im in val) or 'none'}); "
        f"{len(distill)} other images to distil the base model on"
    )
    return Job(
        base_path,
        base,
        classes,
        train,
        val,
        distill,
        args.out,
        args.epochs,
        60 * args.budget_minutes,
        command,
        args.resume,
    )


def run_train(args: argparse.Namespace, stdout: TextIO, stderr: TextIO, command: str) -> int:
    """Exit status: 0 model written, 2 nothing could start (one line why)."""
    if importlib.util.find_spec("torch") is None:
        stderr.write(f"error: {INSTALL_HINT}\n")
        return 2
    from ..training.classes import ClassError
    from ..training.graph import LayoutError
    from ..training.progress import Progress
    from ..training.run import run_training

    started = time.perf_counter()

    def say(line: str) -> None:
        stdout.write(line + "\n")
        stdout.flush()

    try:
        job = prepare(args, command, say)
    except (UsageError, LabelError, DetectionError, ClassError, LayoutError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    show = stderr.isatty() if args.progress is None else args.progress
    record = run_training(
        job, lambda epochs, done, left_s: Progress(epochs, done, left_s, show=show), say
    )
    for row in record["history"]:
        say(
            f"epoch {row['epoch']}: loss {row['loss']:.3f}, val AP50 {row['val_ap50']}, "
            f"{row['minutes']:.1f} min"
        )
    elapsed = time.perf_counter() - started
    say(
        f"Wrote {args.out}: best epoch {record['best_epoch']} (val AP50 {record['val_ap50']}), "
        f"{record['epochs']} epochs, took {int(elapsed // 60)} min {elapsed % 60:.0f} s. "
        f"Serve it: MODEL_PATH={args.out} small-object-detect serve"
    )
    return 0


def train_main(args: argparse.Namespace) -> int:
    command = "small-object-detect " + shlex.join(sys.argv[1:])
    return run_train(args, sys.stdout, sys.stderr, command)
