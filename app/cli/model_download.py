"""Owns moving model bytes onto disk: a verified download, a hashed local copy, and an atomic
install that never leaves a half-written file where the server looks."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """The model could not be put in place; the message says what to do about it."""


class DownloadFailed(FetchError):
    """The server could not be reached or the transfer broke off (not a checksum mismatch):
    the caller adds how to get the model without a network."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"download of {url} failed: {reason}")
        self.url, self.reason = url, reason


def make_parent(dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create the model directory {dest.parent}: {exc}") from exc


def atomic_install(dest: Path, fill: Callable[[BinaryIO], str]) -> str:
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


def copy_local(source_file: Path, out: BinaryIO) -> str:
    try:
        with source_file.open("rb") as src:
            _, got_sha256 = copy_hashing(src.read, out, None, str(source_file))
    except OSError as exc:
        raise FetchError(f"cannot copy {source_file}: {exc}") from exc
    return got_sha256


def download(
    url: str, out: BinaryIO, sha256: str | None, size_bytes: int | None, timeout_s: float
) -> str:
    """Stream url into out, checking size and SHA-256 (None skips a check); its SHA-256."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            declared_bytes = declared_length(url, response.headers, size_bytes)
            got_bytes, got_sha256 = copy_hashing(response.read, out, size_bytes, url)
    except urllib.error.HTTPError as exc:
        exc.close()  # holds the error body's socket open otherwise
        raise DownloadFailed(url, f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadFailed(url, str(exc.reason)) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DownloadFailed(url, str(exc) or type(exc).__name__) from exc
    # http.client returns a short body without error when the connection drops mid-transfer.
    if declared_bytes is not None and got_bytes != declared_bytes:
        raise DownloadFailed(url, f"connection ended after {got_bytes} of {declared_bytes} bytes")
    verify(url, got_bytes, got_sha256, size_bytes, sha256)
    return got_sha256


def declared_length(url: str, headers: Message, size_bytes: int | None) -> int | None:
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


def copy_hashing(
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


def verify(
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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
