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

from ..config import Settings, settings_for_model
from ..detector import DetectionError, Model, detect_bytes, load_model
from ..schemas.detect import DETECT_FIELDS, detection_response, parse_detect_request
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
    cmd.add_argument("--format", choices=list(WRITERS), default="json", help="default json")
    cmd.add_argument("--out", type=Path, help="write files here (default: stdout; yolo needs it)")
    cmd.add_argument("--model", type=Path, help="the ONNX model (default MODEL_PATH)")
    cmd.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a progress bar on stderr (default: when stderr is a terminal)",
    )


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
        if "slicing" not in DETECT_FIELDS:
            raise UsageError("--slicing needs a build with slicing; this one has none")
        payload["slicing"] = {"mode": args.slicing}
    return payload


def detect_file(path: Path, payload: dict, settings: Settings, model: Model) -> dict:
    """One image file -> the POST /detect response body."""
    parsed = parse_detect_request(
        payload,
        settings,
        model.info,
        max_image_bytes=settings.max_image_bytes,
        image_bytes=path.read_bytes(),
    )
    result = detect_bytes(
        model, parsed.image_bytes, parsed.options, max_pixels=settings.max_image_pixels
    )
    return detection_response(result, model.info)


def progress_line(done: int, total: int, elapsed_s: float, name: str, width: int = 24) -> str:
    filled = width if total == 0 else round(width * done / total)
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:.1f} img/s {name[-40:]}"


def run_detect(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Exit status: 0 all images done, 1 some failed (each reported), 2 nothing could start."""
    try:
        images = find_images(args.paths)
        payload = request_payload(args)
        overrides = {"model_path": args.model} if args.model else None
        settings = Settings.from_env(os.environ, overrides)
        model = load_model(
            settings.model_path,
            layout=settings.model_format,
            labels_path=settings.model_labels,
            threads=settings.model_threads,
        )
        settings = settings_for_model(settings, model.info)
        parse_detect_request(payload, settings, model.info, max_image_bytes=1, image_bytes=b"")
        writer = make_writer(args.format, args.out, model.info.class_names, stdout)
    except (UsageError, DetectionError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    show = stderr.isatty() if args.progress is None else args.progress
    return _detect_all(images, payload, settings, model, writer, stderr, show)


def _detect_all(images, payload, settings, model, writer, stderr: TextIO, show: bool) -> int:
    failed = detections = 0
    started = time.perf_counter()
    for done, (path, relative) in enumerate(images, 1):
        try:
            body = detect_file(path, payload, settings, model)
        except (DetectionError, OSError) as exc:
            failed += 1
            reason = exc.message if isinstance(exc, DetectionError) else exc.strerror
            stderr.write(("\n" if show else "") + f"{path}: {reason}\n")
        else:
            writer.add(relative, body)
            detections += body["count"]
        if show:
            line = progress_line(done, len(images), time.perf_counter() - started, str(relative))
            stderr.write("\r" + line.ljust(100))
            stderr.flush()
    writer.close()
    elapsed_s = time.perf_counter() - started
    stderr.write(("\n" if show else "") + f"{len(images)} images, {detections} detections, "
                 f"{failed} failed, {elapsed_s:.1f} s\n")  # fmt: skip
    return 1 if failed else 0


def detect_main(args: argparse.Namespace) -> int:
    return run_detect(args, sys.stdout, sys.stderr)
