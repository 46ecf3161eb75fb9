"""Owns where the model comes from: keep the file already in place, copy a local file, or
download the official release; and what to tell someone whose machine is offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..locations import DEFAULT_MODEL_PATH, REPO_ROOT
from .model_download import (
    DownloadFailed,
    FetchError,
    atomic_install,
    copy_local,
    download,
    make_parent,
    sha256_of,
)

DEFAULT_URL = (
    "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"
)
DEFAULT_SHA256 = "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"
DEFAULT_SIZE_BYTES = 3_659_407
# model/ in a checkout; the per-user data folder for a pip install (never site-packages).
DEFAULT_DEST = DEFAULT_MODEL_PATH
# Per socket operation (the connect, then each read), not the whole download: offline, the
# connect fails within this, and a stalled transfer is noticed as fast.
DEFAULT_TIMEOUT_S = 10.0
SOURCE_ENV_VAR = "MODEL_SOURCE_FILE"
CI_OFFLINE_COPY = "../shared/models/yolox_nano.onnx"

# Real ONNX models are megabytes; a file this small is truncated or an HTML error page.
MIN_ONNX_BYTES = 256
# ModelProto serialises field 1 (ir_version, a varint) first, so the first tag byte is 0x08.
ONNX_FIRST_BYTE = b"\x08"

Origin = Literal["existing", "local", "download"]


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
    make_parent(dest)
    if source_file is not None:
        got_sha256 = atomic_install(dest, lambda out: copy_local(source_file, out))
        _write_sidecar(dest, "local", str(source_file.resolve()))
        return FetchResult(dest, got_sha256, "local")
    try:
        got_sha256 = atomic_install(
            dest, lambda out: download(url, out, expected_sha256, size_bytes, timeout_s)
        )
    except DownloadFailed as exc:
        raise FetchError(_offline_help(exc.url, exc.reason)) from exc
    _write_sidecar(dest, "download", url)
    return FetchResult(dest, got_sha256, "download")


def _reusable_sha256(
    dest: Path, source_file: Path | None, sha256: str | None, size_bytes: int | None
) -> str | None:
    """Return dest's SHA-256 if it can be kept as is (so setup reruns stay offline), else None."""
    if not dest.is_file() or dest.stat().st_size == 0:
        return None
    got_sha256 = sha256_of(dest)
    if source_file is not None:
        # An explicit local file wins unless dest already holds exactly those bytes.
        same = source_file.is_file() and sha256_of(source_file) == got_sha256
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


def _offline_help(url: str, reason: str) -> str:
    beside = REPO_ROOT.parent / "shared" / "models" / "yolox_nano.onnx"
    if beside.is_file():  # a copy beside the checkout: say exactly what to run
        return (
            f"download of {url} failed: {reason}\n"
            f"A local copy is beside this checkout; use it:\n"
            f"  {SOURCE_ENV_VAR}={beside} scripts/serve.sh\n"
            f"  (or: small-object-detect fetch-model --from {beside})"
        )
    return (
        f"download of {url} failed: {reason}\n"
        "This machine may have no internet access. Either:\n"
        "  - download yolox_nano.onnx elsewhere, copy it here and run\n"
        "      small-object-detect fetch-model --from /path/to/yolox_nano.onnx\n"
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
