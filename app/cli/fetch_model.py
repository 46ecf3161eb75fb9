"""`small-object-detect fetch-model` (also `python -m app.cli.fetch_model`, which the setup script
and the Dockerfile run): put the ONNX model file in place. The work is in model_source.py (where
the model comes from) and model_download.py (moving and verifying the bytes)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .model_download import FetchError
from .model_source import (
    DEFAULT_DEST,
    DEFAULT_SHA256,
    DEFAULT_SIZE_BYTES,
    DEFAULT_TIMEOUT_S,
    DEFAULT_URL,
    ONNX_FIRST_BYTE,
    REPO_ROOT,
    SOURCE_ENV_VAR,
    FetchResult,
    fetch_model,
)

# What callers of this module have always imported from it.
__all__ = [
    "DEFAULT_DEST",
    "DEFAULT_SHA256",
    "DEFAULT_SIZE_BYTES",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URL",
    "ONNX_FIRST_BYTE",
    "REPO_ROOT",
    "SOURCE_ENV_VAR",
    "FetchError",
    "FetchResult",
    "add_fetch_model_command",
    "fetch_model",
    "fetch_model_main",
    "main",
]

DESCRIPTION = "Put the YOLOX-Nano ONNX model in place (reuse, local copy, or download)."


def _sha256_arg(value: str) -> str | None:
    """argparse type: 64 hex digits, or '' to skip the checksum."""
    value = value.strip().lower()
    if not value:
        return None
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"not a SHA-256 hex digest: {value!r}")
    return value


def _size_arg(value: str) -> int | None:
    """argparse type: a byte count, or 0 to skip the size check."""
    try:
        size_bytes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count: {value!r}") from None
    if size_bytes < 0:
        raise argparse.ArgumentTypeError(f"size must be >= 0, got {size_bytes}")
    return size_bytes or None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source_file",
        type=Path,
        metavar="PATH",
        help=f"copy this local ONNX file instead of downloading (default: ${SOURCE_ENV_VAR})",
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="where to put the model")
    parser.add_argument("--url", default=DEFAULT_URL, help="download URL")
    parser.add_argument(
        "--sha256",
        type=_sha256_arg,
        default=DEFAULT_SHA256,
        help="expected SHA-256 of the download ('' skips the check)",
    )
    parser.add_argument(
        "--size",
        dest="size_bytes",
        type=_size_arg,
        default=DEFAULT_SIZE_BYTES,
        help="expected download size in bytes (0 skips the check)",
    )
    parser.add_argument("--timeout", dest="timeout_s", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("--force", action="store_true", help="replace dest even if valid")


def add_fetch_model_command(commands) -> None:
    cmd = commands.add_parser(
        "fetch-model", help="put the default model in place (verified)", description=DESCRIPTION
    )
    _add_arguments(cmd)
    cmd.set_defaults(func=fetch_model_main)


def _env_source_file() -> Path | None:
    value = os.environ.get(SOURCE_ENV_VAR, "").strip()
    return Path(value) if value else None


def fetch_model_main(args: argparse.Namespace) -> int:
    """0 when the model is in place, 1 (message on stderr) when not."""
    source_file = args.source_file or _env_source_file()
    try:
        result = fetch_model(
            args.dest,
            source_file=source_file,
            url=args.url,
            sha256=args.sha256,
            size_bytes=args.size_bytes,
            force=args.force,
            timeout_s=args.timeout_s,
        )
    except (FetchError, OSError) as exc:
        # OSError here is a local disk problem; the message is enough, a traceback is noise.
        print(f"fetch_model: error: {exc}", file=sys.stderr)
        return 1
    print(_describe(result, source_file, args.url, verified=args.sha256 is not None))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m app.cli.fetch_model`: the same command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m app.cli.fetch_model", description=DESCRIPTION)
    _add_arguments(parser)
    return fetch_model_main(parser.parse_args(argv))


def _describe(result: FetchResult, source_file: Path | None, url: str, *, verified: bool) -> str:
    if result.source == "existing":
        return f"model already in place: {result.path} (sha256 {result.sha256})"
    if result.source == "local":
        if result.sha256 == DEFAULT_SHA256:
            official = "the official release's"
        else:  # ../shared's copy is such a re-export; what matters is that the server loads it
            official = (
                "not the official release's: fine for a re-export of the same network, such as "
                "../shared/models/yolox_nano.onnx; the server checks the model when it loads it"
            )
        return f"copied {source_file} -> {result.path} (sha256 {result.sha256}, {official})"
    check = "verified" if verified else "NOT verified: --sha256 ''"
    return f"downloaded {url} -> {result.path} (sha256 {result.sha256}, {check})"


if __name__ == "__main__":
    sys.exit(main())
