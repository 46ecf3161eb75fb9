"""`small-object-detect choose-settings MODEL IMAGES_DIR --labels LABELS`: a trained model's
recommended settings chosen again on the images its training record held out, as `train`
chooses them, without training (no torch); or `--from TWIN`: copied from the validated twin a
run on every frame took them from (docs/training.md)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TextIO


def add_choose_settings_command(commands) -> None:
    cmd = commands.add_parser(
        "choose-settings",
        help="choose a trained model's recommended settings again (no training)",
        description="Choose the recommended settings of a model train wrote, again: on the "
        "images its training record held out, scoring the candidates train scores at its end "
        "(the geometries, the merge, the test-time flip) and the default confidence of best "
        "F1; or, for a run on every frame, take them from the validated twin it took them "
        "from (--from). Written into the model's metadata (or --out). See docs/training.md.",
    )
    cmd.add_argument("model", type=Path, metavar="MODEL", help="an ONNX file train wrote")
    cmd.add_argument("images_dir", type=Path, nargs="?", metavar="IMAGES_DIR",
                     help="the images it was trained on (its held-out ones too)")  # fmt: skip
    cmd.add_argument("--labels", type=Path, help="their YOLO txt folder or COCO JSON")
    cmd.add_argument("--classes", help="the --classes it was trained with, if any")
    cmd.add_argument("--from", dest="twin", type=Path, metavar="TWIN",
                     help="take the settings of this validated twin instead")  # fmt: skip
    cmd.add_argument("--out", type=Path, help="write a copy here (default: MODEL itself)")
    cmd.set_defaults(func=choose_settings_main)


def run_choose_settings(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, command: str
) -> int:
    """Exit status: 0 settings written, 2 they could not be (one line why)."""
    from ..training.rechoose import RechooseError, copy_from, rechoose
    from ..tuning.labels import LabelError, class_names, load_labels
    from .detect import UsageError, find_images

    def say(line: str) -> None:
        stdout.write(line + "\n")
        stdout.flush()

    out = args.out or args.model
    try:
        if args.twin is not None:
            if args.images_dir or args.labels or args.classes:
                raise UsageError("--from TWIN takes no IMAGES_DIR, --labels or --classes")
            copy_from(args.model, args.twin, out, command, say)
            return 0
        if args.images_dir is None or args.labels is None:
            raise UsageError("give IMAGES_DIR and --labels (or --from TWIN)")
        labelled = load_labels(find_images([args.images_dir]), args.labels)
        names = class_names(args.labels)
        rechoose(args.model, labelled, names, args.classes, out, command, say)
    except (UsageError, LabelError, RechooseError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    return 0


def choose_settings_main(args: argparse.Namespace) -> int:
    command = "small-object-detect " + shlex.join(sys.argv[1:])
    return run_choose_settings(args, sys.stdout, sys.stderr, command)
