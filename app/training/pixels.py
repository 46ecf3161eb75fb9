"""Training images decoded once: every image's RGB pixels in one raw file on disk, keyed by the
data digest, read back memory-mapped. Epochs, worker processes and `--resume` read pixels from
it instead of decoding JPEGs again; the operating system's page cache, not the run's own memory,
holds what is hot, so 3,000 images cost their pixel bytes on disk and little resident memory."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detector.preprocess import open_image, to_rgb_array

MAX_PIXELS = 400_000_000  # one training image; the server's own limit is lower


@dataclass(frozen=True)
class PixelStore:
    """The decoded images of one data set: image i is (heights[i], widths[i], 3) uint8 RGB at
    offsets[i] bytes in the file at path."""

    path: Path
    offsets: tuple[int, ...]
    sizes_wh: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.offsets)

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB, a read-only view of the mapped file (no copy)."""
        width, height = self.sizes_wh[index]
        return np.memmap(
            self.path, np.uint8, "r", offset=self.offsets[index], shape=(height, width, 3)
        )

    @property
    def bytes(self) -> int:
        return sum(w * h * 3 for w, h in self.sizes_wh)


def store_key(digest: str, extra: list[Path]) -> str:
    """The key of a store of the labelled images of digest plus the unlabelled extra ones
    (--distill): the digest alone without them, else it and each extra file's name, size and
    time, so another set of extra images never reuses a store."""
    if not extra:
        return digest
    ids = "".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in extra)
    return hashlib.sha256((digest + ids).encode()).hexdigest()[:16]


def build_store(paths: list[Path], folder: Path, key: str, say=None) -> PixelStore:
    """The store of these images in folder (made there once: a store of the same key and image
    count is reused). key: the data digest, so other images never reuse it."""
    folder.mkdir(parents=True, exist_ok=True)
    raw, index = folder / f"{key}.rgb", folder / f"{key}.json"
    store = _open(raw, index, len(paths))
    if store is not None:
        if say:
            say(
                f"pixels: reusing {len(store)} decoded images in {raw} ({store.bytes / 1e9:.2f} GB)"
            )
        return store
    offsets, sizes = [], []
    scratch = raw.with_name(raw.name + ".tmp")
    with scratch.open("wb") as out:
        for path in paths:
            pixels = to_rgb_array(open_image(path.read_bytes(), max_pixels=MAX_PIXELS))
            offsets.append(out.tell())
            sizes.append((int(pixels.shape[1]), int(pixels.shape[0])))
            out.write(np.ascontiguousarray(pixels, np.uint8).tobytes())
    os.replace(scratch, raw)
    index.write_text(json.dumps({"offsets": offsets, "sizes_wh": sizes}))
    store = PixelStore(raw, tuple(offsets), tuple(tuple(s) for s in sizes))
    if say:
        say(f"pixels: {len(paths)} images decoded once into {raw} ({store.bytes / 1e9:.2f} GB)")
    return store


def _open(raw: Path, index: Path, count: int) -> PixelStore | None:
    if not (raw.is_file() and index.is_file()):
        return None
    try:
        saved = json.loads(index.read_text())
        store = PixelStore(raw, tuple(saved["offsets"]), tuple(tuple(s) for s in saved["sizes_wh"]))
    except (ValueError, KeyError, TypeError):
        return None
    if len(store) != count or raw.stat().st_size != store.bytes:
        return None
    return store
