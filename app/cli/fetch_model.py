"""Owns putting the ONNX model file in place: reuse it, copy a local file, or verified download."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import BinaryIO, Literal

DEFAULT_URL = (
    "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"
)
DEFAULT_SHA256 = "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"
DEFAULT_SIZE_BYTES = 3_659_407
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEST = REPO_ROOT / "model" / "yolox_nano.onnx"
# Per socket operation (the connect, then each read), not the whole download: offline, the
# connect fails within this, and a stalled transfer is noticed as fast.
DEFAULT_TIMEOUT_S = 10.0
SOURCE_ENV_VAR = "MODEL_SOURCE_FILE"
CI_OFFLINE_COPY = "../shared/models/yolox_nano.onnx"

# Real ONNX models are megabytes; a file this small is truncated or an HTML error page.
MIN_ONNX_BYTES = 256
# ModelProto serialises field 1 (ir_version, a varint) first, so the first tag byte is 0x08.
ONNX_FIRST_BYTE = b"\x08"
CHUNK_BYTES = 64 * 1024

Origin = Literal["existing", "local", "download"]


class FetchError(Exception):
    """The model could not be put in place; the message says what to do about it."""


@dataclass(frozen=True)
class FetchResult:
    """Where the model ended up, its SHA-256, and which path produced it."""

    path: Path
    sha256: str
    source: Origin


def fetch_model(
    dest: Path = DEFAULT_DEST,
    *,
    source_file: Path | None = None,
    url: str = DEFAULT_URL,
    sha256: str | None = DEFAULT_SHA256,
    size_bytes: int | None = DEFAULT_SIZE_BYTES,
    force: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> FetchResult:
    """Ensure a model file is at dest; raise FetchError (dest untouched) when that is impossible.

    sha256/size_bytes of None skip that check. A local source_file is never held to them:
    the offline copy used in CI is a re-export with different bytes.
    """
    dest = Path(dest)
    source_file = Path(source_file) if source_file is not None else None
    expected_sha256 = sha256.lower() if sha256 else None
    if not force:
        existing_sha256 = _reusable_sha256(dest, source_file, expected_sha256, size_bytes)
        if existing_sha256 is not None:
            return FetchResult(dest, existing_sha256, "existing")
    if source_file is not None:
        _check_local_source(source_file)
    _make_parent(dest)
    if source_file is not None:
        got_sha256 = _atomic_install(dest, lambda out: _copy_local(source_file, out))
        _write_sidecar(dest, "local", str(source_file.resolve()))
        return FetchResult(dest, got_sha256, "local")
    got_sha256 = _atomic_install(
        dest, lambda out: _download(url, out, expected_sha256, size_bytes, timeout_s)
    )
    _write_sidecar(dest, "download", url)
    return FetchResult(dest, got_sha256, "download")


def _reusable_sha256(
    dest: Path, source_file: Path | None, sha256: str | None, size_bytes: int | None
) -> str | None:
    """Return dest's SHA-256 if it can be kept as is (so setup reruns stay offline), else None."""
    if not dest.is_file() or dest.stat().st_size == 0:
        return None
    got_sha256 = _sha256_of(dest)
    if source_file is not None:
        # An explicit local file wins unless dest already holds exactly those bytes.
        same = source_file.is_file() and _sha256_of(source_file) == got_sha256
        return got_sha256 if same else None
    if _matches(dest.stat().st_size, got_sha256, size_bytes, sha256):
        return got_sha256
    # A file installed from --from never matches the official checksum; trust our own record.
    return got_sha256 if _sidecar_origin(dest) == "local" else None


def _matches(got_bytes: int, got_sha256: str, size_bytes: int | None, sha256: str | None) -> bool:
    size_ok = size_bytes is None or got_bytes == size_bytes
    return size_ok and (sha256 is None or got_sha256 == sha256)


def _check_local_source(source_file: Path) -> None:
    """Reject obviously wrong local files before anything on disk changes."""
    where = f"--from / {SOURCE_ENV_VAR}"
    if not source_file.is_file():
        raise FetchError(
            f"local model file {source_file} ({where}) does not exist or is not a regular file"
        )
    got_bytes = source_file.stat().st_size
    if got_bytes < MIN_ONNX_BYTES:
        raise FetchError(
            f"local model file {source_file} ({where}) is only {got_bytes} bytes; "
            f"an ONNX model is at least {MIN_ONNX_BYTES} bytes, so this is not one"
        )
    with source_file.open("rb") as src:
        first_byte = src.read(1)
    if first_byte != ONNX_FIRST_BYTE:
        raise FetchError(
            f"local model file {source_file} ({where}) does not start like an ONNX protobuf "
            f"(first byte 0x{first_byte.hex()}, expected 0x{ONNX_FIRST_BYTE.hex()})"
        )


def _make_parent(dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create the model directory {dest.parent}: {exc}") from exc


def _atomic_install(dest: Path, fill: Callable[[BinaryIO], str]) -> str:
    """Run fill into a temp file beside dest, then rename: dest is never seen half-written."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    except OSError as exc:
        raise FetchError(f"cannot create a temporary file in {dest.parent}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got_sha256 = fill(out)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates 0600; the server may run as another user and must read the model.
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return got_sha256


def _copy_local(source_file: Path, out: BinaryIO) -> str:
    try:
        with source_file.open("rb") as src:
            _, got_sha256 = _copy_hashing(src.read, out, None, str(source_file))
    except OSError as exc:
        raise FetchError(f"cannot copy {source_file}: {exc}") from exc
    return got_sha256


def _download(
    url: str, out: BinaryIO, sha256: str | None, size_bytes: int | None, timeout_s: float
) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            declared_bytes = _declared_length(url, response.headers, size_bytes)
            got_bytes, got_sha256 = _copy_hashing(response.read, out, size_bytes, url)
    except urllib.error.HTTPError as exc:
        exc.close()  # holds the error body's socket open otherwise
        raise FetchError(_offline_help(url, f"HTTP {exc.code} {exc.reason}")) from exc
    except urllib.error.URLError as exc:
        raise FetchError(_offline_help(url, str(exc.reason))) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(_offline_help(url, str(exc) or type(exc).__name__)) from exc
    # http.client returns a short body without error when the connection drops mid-transfer.
    if declared_bytes is not None and got_bytes != declared_bytes:
        reason = f"connection ended after {got_bytes} of {declared_bytes} bytes"
        raise FetchError(_offline_help(url, reason))
    _verify(url, got_bytes, got_sha256, size_bytes, sha256)
    return got_sha256


def _declared_length(url: str, headers: Message, size_bytes: int | None) -> int | None:
    """Return Content-Length; fail before transferring megabytes when it is already wrong."""
    declared = (headers.get("Content-Length") or "").strip()
    if not declared.isdigit():
        return None
    if size_bytes is not None and int(declared) != size_bytes:
        raise FetchError(
            f"size mismatch for {url}: expected {size_bytes} bytes, server announces {declared}; "
            "nothing was installed (for a different model pass --size and --sha256)"
        )
    return int(declared)


def _copy_hashing(
    read: Callable[[int], bytes], out: BinaryIO, limit_bytes: int | None, label: str
) -> tuple[int, str]:
    """Copy read() into out, hashing on the way; stop as soon as limit_bytes is exceeded."""
    digest = hashlib.sha256()
    total_bytes = 0
    while chunk := read(CHUNK_BYTES):
        total_bytes += len(chunk)
        if limit_bytes is not None and total_bytes > limit_bytes:
            raise FetchError(
                f"size mismatch for {label}: expected {limit_bytes} bytes, "
                f"got at least {total_bytes}; aborted, nothing was installed"
            )
        digest.update(chunk)
        try:
            out.write(chunk)
        except OSError as exc:
            raise FetchError(f"cannot write the model to disk: {exc}") from exc
    return total_bytes, digest.hexdigest()


def _verify(
    label: str, got_bytes: int, got_sha256: str, size_bytes: int | None, sha256: str | None
) -> None:
    if size_bytes is not None and got_bytes != size_bytes:
        raise FetchError(
            f"size mismatch for {label}: expected {size_bytes} bytes, got {got_bytes}; "
            "nothing was installed"
        )
    if sha256 is not None and got_sha256 != sha256:
        raise FetchError(
            f"sha256 mismatch for {label}: expected {sha256}, got {got_sha256}; "
            "nothing was installed"
        )


def _offline_help(url: str, reason: str) -> str:
    beside = REPO_ROOT.parent / "shared" / "models" / "yolox_nano.onnx"
    if beside.is_file():  # a copy beside the checkout: say exactly what to run
        return (
            f"download of {url} failed: {reason}\n"
            f"A local copy is beside this checkout; use it:\n"
            f"  {SOURCE_ENV_VAR}={beside} scripts/serve.sh\n"
            f"  (or: python -m app.cli.fetch_model --from {beside})"
        )
    return (
        f"download of {url} failed: {reason}\n"
        "This machine may have no internet access. Either:\n"
        "  - download yolox_nano.onnx elsewhere, copy it here and run\n"
        "      python -m app.cli.fetch_model --from /path/to/yolox_nano.onnx\n"
        f"  - or set {SOURCE_ENV_VAR}=/path/to/yolox_nano.onnx and rerun setup\n"
        f"    (in this repo's CI the offline copy lives at {CI_OFFLINE_COPY})"
    )


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source")


def _write_sidecar(dest: Path, origin: str, detail: str) -> None:
    _sidecar(dest).write_text(f"{origin} {detail}\n", encoding="utf-8")


def _sidecar_origin(dest: Path) -> str | None:
    try:
        words = _sidecar(dest).read_text(encoding="utf-8").split()
    except OSError:
        return None
    return words[0] if words else None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


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


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli.fetch_model",
        description="Put the YOLOX-Nano ONNX model in place (reuse, local copy, or download).",
    )
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
    return parser.parse_args(argv)


def _env_source_file() -> Path | None:
    value = os.environ.get(SOURCE_ENV_VAR, "").strip()
    return Path(value) if value else None


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 when the model is in place, 1 (message on stderr) when not."""
    args = _parse_args(argv)
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
