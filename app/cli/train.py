"""`small-object-detect train IMAGES_DIR --labels LABELS`: fine-tune a YOLOX-layout ONNX model
on labelled images and write the trained model as ONNX (docs/training.md). Needs torch
(scripts/setup.sh --train); imported only when the command runs."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TextIO

from ..config import Settings
from ..detector import DetectionError
from ..detector.cpus import usable_cpus
from ..detector.slicing import MAX_TILE_PX, MIN_TILE_PX, SlicingOptions
from ..training.schedule import LEARNING_RATE  # no torch there
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
    cmd.add_argument("--labels", type=Path, required=True, help="YOLO txt folder or COCO JSON")
    cmd.add_argument(
        "--classes",
        help="classes to train: car,bus (keep these) or "
        "vehicle=car+truck+bus (merge into one); default: every labelled class",
    )
    cmd.add_argument(
        "--base", type=Path,
        help="YOLOX-layout ONNX to start from (default: the served model, MODEL_PATH)",
    )  # fmt: skip
    cmd.add_argument(
        "--out", type=Path, default=Path("trained.onnx"),
        help="the trained model (default trained.onnx; its checkpoint: OUT.ckpt)",
    )  # fmt: skip
    cmd.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS,
        help=f"at most this many epochs (default {DEFAULT_EPOCHS})",
    )  # fmt: skip
    cmd.add_argument(
        "--budget-minutes", type=float, default=DEFAULT_BUDGET_MINUTES,
        help=f"stop training by then (default {DEFAULT_BUDGET_MINUTES:g})",
    )  # fmt: skip
    cmd.add_argument(
        "--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
        help="share of the images held out, whole scenes (default 0.2; 0: none)",
    )  # fmt: skip
    cmd.add_argument(
        "--scenes",
        metavar="REGEX",
        help="which images belong together (one recording session, one camera): a regular "
        "expression searched in each file name, its groups (or match) naming the scene; "
        "default: the name less a trailing frame number",
    )
    cmd.add_argument(
        "--scene-block",
        type=int,
        default=1,
        metavar="N",
        help="scenes whose names end in consecutive numbers form blocks of N (clips 0-5, "
        "6-11, ...) held out together: neighbouring clips are often one session (default 1)",
    )
    cmd.add_argument(
        "--tile",
        type=int,
        metavar="PX",
        help="train (and recommend) tiles of PX pixels, scaled to the model input: below the "
        "input size they enlarge small objects, and images of two tiles or more are sliced "
        "(default: the model input size, the server's default)",
    )
    cmd.add_argument(
        "--workers", type=int,
        help="processes that cut and augment samples (default: CPUs less one; 0: a thread)",
    )  # fmt: skip
    cmd.add_argument(
        "--no-balance", dest="balance", action="store_false",
        help="do not repeat the views of rare classes (default: repeat-factor class balance)",
    )  # fmt: skip
    cmd.add_argument(
        "--lr", type=float, default=LEARNING_RATE,
        help=f"peak learning rate, the backbone's a fifth of it (default {LEARNING_RATE:g})",
    )  # fmt: skip
    cmd.add_argument(
        "--freeze-backbone", action="store_true",
        help="only the neck and head learn: the base model's features kept, cheaper steps",
    )  # fmt: skip
    cmd.add_argument(
        "--freeze-neck", action="store_true",
        help="only the head learns (the backbone frozen too): cheaper steps again",
    )  # fmt: skip
    cmd.add_argument(
        "--weigh-classes", action="store_true",
        help="weigh each box's class loss by its class's rarity, sqrt(f_max / f): class "
        "balance at no cost in epoch time (with or without --no-balance)",
    )  # fmt: skip
    cmd.add_argument(
        "--paste", type=int, default=0, metavar="N",
        help="paste 1 to N objects cut from other training images into half the samples: "
        "the context around an object stops telling its class (default 0: none)",
    )  # fmt: skip
    cmd.add_argument(
        "--pixels-dir", type=Path,
        help="where the decoded images are kept between epochs and runs (default OUT.pixels)",
    )  # fmt: skip
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
        "--settings-from",
        type=Path,
        metavar="MODEL",
        help="with --val-fraction 0: carry the settings that a validated run of the same recipe "
        "(classes, --tile, --base, class balance, --lr, --freeze-backbone, --weigh-classes, "
        "--paste) chose on its held-out images",
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
    tile_ok = args.tile is None or MIN_TILE_PX <= args.tile <= MAX_TILE_PX
    for ok, problem in (
        (0 < args.budget_minutes <= 24 * 60, "--budget-minutes must be more than 0, at most 1440"),
        (1 <= args.epochs <= 10_000, "--epochs must be 1 to 10000"),
        (0 <= args.val_fraction < 1, "--val-fraction must be at least 0 and below 1"),
        (args.out.suffix.lower() == ".onnx", f"--out {args.out}: name an .onnx file"),
        (1 <= args.scene_block <= 1_000_000, "--scene-block must be 1 or more"),
        (args.workers is None or 0 <= args.workers <= 256, "--workers must be 0 to 256"),
        (1e-6 <= args.lr <= 0.1, "--lr must be 1e-06 to 0.1"),
        (0 <= args.paste <= 16, "--paste must be 0 to 16"),
        (tile_ok, f"--tile must be {MIN_TILE_PX} to {MAX_TILE_PX} px"),
    ):
        if not ok:
            raise UsageError(problem)
    if args.settings_from and args.val_fraction > 0:
        raise UsageError(
            "--settings-from is for a run that holds nothing out (--val-fraction 0); "
            "a run with held-out images chooses its own settings"
        )
    if args.scenes:
        try:
            re.compile(args.scenes)
        except re.error as exc:
            raise UsageError(
                f"--scenes {args.scenes!r}: not a regular expression ({exc})"
            ) from None


def prepare(args: argparse.Namespace, command: str, say):
    """The job to run (everything checked before any training starts)."""
    from ..training.classes import plan_classes
    from ..training.run import Job, import_base
    from ..training.schedule import Schedule
    from ..training.settings import borrowed_settings
    from ..training.validate import SceneRule, split_by_scene

    _check(args)
    base_path = args.base or Settings.from_env({}).model_path
    base, base_names, input_wh = import_base(base_path)
    skip_bad = say if args.skip_bad_labels else None
    labelled = load_labels(find_images([args.images_dir]), args.labels, skip_bad=skip_bad)
    if len(labelled) < 2:
        raise UsageError("train needs at least 2 labelled images (20 to 50 is a good start)")
    classes = plan_classes(labelled, class_names(args.labels), base_names, args.classes)
    for line in classes.notes:
        say(f"classes: {line}")
    rule = SceneRule(args.scenes, args.scene_block)
    train, val = split_by_scene(labelled, args.val_fraction, rule)
    distill = [path for path, _ in find_images(args.distill)] if args.distill else []
    if distill and not any(classes.sources):
        say("distill: ignored, no trained class starts from a class of the base model")
        distill = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    held_scenes = sorted({rule(im.name) for im in val})
    say(
        f"base {base_path.name}; classes {', '.join(classes.names)}; {len(train)} training "
        f"images, {len(val)} held out ({len(held_scenes)} "
        f"scene{'s' if len(held_scenes) != 1 else ''}: "
        f"{_some(held_scenes) or 'none'}); {len(distill)} other images to distil the base "
        "model on"
    )
    slicing = SlicingOptions(tile_wh=(args.tile, args.tile)) if args.tile else SlicingOptions()
    workers = args.workers if args.workers is not None else max(0, usable_cpus() - 1)
    schedule = Schedule(
        args.lr, args.freeze_backbone, args.weigh_classes, args.freeze_neck, args.paste
    )
    borrowed = None
    if args.settings_from:
        names = {im.name for im in labelled}
        borrowed = borrowed_settings(
            args.settings_from, classes.names, slicing, names,
            base_name=base_path.name, balance=args.balance, schedule=schedule,
        )  # fmt: skip
    return Job(
        base_path=base_path,
        base=base,
        base_names=base_names,
        input_wh=input_wh,
        classes=classes,
        train=train,
        val=val,
        distill=distill,
        out=args.out,
        epochs=args.epochs,
        budget_s=60 * args.budget_minutes,
        command=command,
        resume=args.resume,
        slicing=slicing,
        workers=workers,
        balance=args.balance,
        pixels_dir=args.pixels_dir,
        borrowed=borrowed,
        schedule=schedule,
    )


def _some(names: list[str], shown: int = 12) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def run_train(args: argparse.Namespace, stdout: TextIO, stderr: TextIO, command: str) -> int:
    """Exit status: 0 model written, 2 nothing could start (one line why)."""
    if importlib.util.find_spec("torch") is None:
        stderr.write(f"error: {INSTALL_HINT}\n")
        return 2
    from ..training.classes import ClassError
    from ..training.graph import LayoutError
    from ..training.loop import ResumeError
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
    try:
        record = run_training(
            job, lambda epochs, done, left_s: Progress(epochs, done, left_s, show=show), say
        )
    except ResumeError as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    elapsed = time.perf_counter() - started
    kept = (
        f"best epoch {record['best_epoch']} (val AP50 {record['val_ap50']})"
        if record["val_ap50"] is not None
        else f"last epoch {record['best_epoch']} (nothing held out)"
    )
    say(
        f"Wrote {args.out}: {kept}, "
        f"{record['epochs']} epochs, took {int(elapsed // 60)} min {elapsed % 60:.0f} s. "
        f"Serve it: MODEL_PATH={args.out} small-object-detect serve"
    )
    return 0


def train_main(args: argparse.Namespace) -> int:
    command = "small-object-detect " + shlex.join(sys.argv[1:])
    return run_train(args, sys.stdout, sys.stderr, command)
