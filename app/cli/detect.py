"""`python -m app detect PATH...`: detect objects in image files and folders from the shell.

Each image goes through the same request validation and serialisation as POST /detect, so the
output carries exactly what the API would answer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ..config import Settings
from ..detector import DetectionError
from ..registry import model_file
from ..schemas.detect import DetectParams
from ..service import DetectionService, start_service
from . import progress
from .exports import WRITERS, make_writer

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


def add_detect_command(commands) -> None:
    cmd = commands.add_parser(
        "detect",
        help="detect objects in image files and folders",
        description="Detect objects in images (folders are searched recursively).",
    )
    cmd.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    cmd.add_argument(
        "--slicing",
        choices=["on", "off", "auto"],
        help='the request option "slicing": {"mode": ...} (default: the server setting)',
    )
    cmd.add_argument("--confidence", type=float, help="minimum score (default DEFAULT_CONFIDENCE)")
    cmd.add_argument(
        "--multi-label",
        action="store_true",
        help='report a box once per class that passes (the request option "multi_label"; '
        "default: one label per box, its best class)",
    )
    cmd.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        help='the test-time flip (the request option "flip"; default: DEFAULT_FLIP, or the '
        "model's recommendation)",
    )
    cmd.add_argument("--format", choices=list(WRITERS), default="json", help="default json")
    cmd.add_argument("--out", type=Path, help="write files here (default: stdout; yolo needs it)")
    cmd.add_argument(
        "--model", help="a model name in MODELS_DIR or an ONNX file (default MODEL_PATH)"
    )
    progress.add_progress_flag(cmd)
    cmd.set_defaults(func=detect_main)


def find_images(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to the argument it came from); folders recursively, sorted."""
    found = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            found += [(p, p.relative_to(path)) for p in files if p.is_file()]
        elif path.is_file():
            found.append((path, Path(path.name)))
        else:
            raise UsageError(f"{path}: no such file or folder")
    seen: dict[Path, Path] = {}
    for path, relative in found:
        if relative in seen:
            raise UsageError(f"{seen[relative]} and {path} would both be written as {relative}")
        seen[relative] = path
    return found


def request_payload(args: argparse.Namespace) -> dict:
    """The command line as a POST /detect JSON payload (without the image)."""
    payload: dict = {}
    if args.confidence is not None:
        payload["confidence"] = args.confidence
    if args.multi_label:
        payload["multi_label"] = True
    if args.slicing is not None:
        payload["slicing"] = {"mode": args.slicing}
    if args.flip is not None:
        payload["flip"] = args.flip
    return payload


def detect_file(path: Path, params: DetectParams, service: DetectionService) -> dict:
    """One image file -> the POST /detect response body."""
    return service.detect(path.read_bytes(), params)


def run_detect(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Exit status: 0 all images done, 1 some failed (each reported), 2 nothing could start."""
    try:
        images = find_images(args.paths)
        payload = request_payload(args)
        settings = Settings.from_env(os.environ)
        if args.model:
            model_path = model_file(args.model, settings)
            settings = Settings.from_env(os.environ, {"model_path": model_path})
        service = start_service(settings)  # the server's registry: the same model, settings
        params = service.options(payload)  # once: a bad option stops before the first image
        writer = make_writer(args.format, args.out, service.loaded.info.class_names, stdout)
    except (UsageError, DetectionError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    show = progress.wanted(args.progress, stderr)
    return _detect_all(images, params, service, writer, stderr, show)


def _detect_all(images, params, service, writer, stderr: TextIO, show: bool) -> int:
    failed = detections = 0
    started = time.perf_counter()
    shown = progress.bar(stderr, show=show, total=len(images), unit="img")
    for path, relative in images:
        try:
            body = detect_file(path, params, service)
        except (DetectionError, OSError) as exc:
            failed += 1
            reason = exc.message if isinstance(exc, DetectionError) else exc.strerror
            progress.note(stderr, f"{path}: {reason}")
        else:
            writer.add(relative, body)
            detections += body["count"]
        shown.set_postfix_str(str(relative)[-40:], refresh=False)
        shown.update(1)
    shown.close()
    writer.close()
    elapsed_s = time.perf_counter() - started
    counts = f"{counted(len(images), 'image')}, {counted(detections, 'detection')}"
    stderr.write(f"{counts}, {failed} failed, {elapsed_s:.1f} s\n")
    return 1 if failed else 0


def counted(count: int, noun: str) -> str:
    """'1 image', '2 images'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def detect_main(args: argparse.Namespace) -> int:
    return run_detect(args, sys.stdout, sys.stderr)
