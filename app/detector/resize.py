"""Bilinear resizing split into horizontal bands resized on several threads at once.

Pillow's resize is one single-threaded convolution (about 2 ms for 640x480 -> 416x312 here,
as much as the JPEG decode), and it releases the GIL. Pillow sizes each output row's filter
window against the whole image, not against the `box` it is given, so resizing band k of the
output from the matching rows of the source gives the same bytes as one whole resize. Exactly
the same where each band starts on a whole source row (the cuts are chosen so whenever the
size ratio allows: 640x480 -> 416x312 and 1920x1080 -> 416x234 do); otherwise a fractional
band edge may move a rare pixel by one grey level (tests/test_resize.py checks both).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from PIL import Image

from .cpus import LazyPool, usable_cpus

# Below this many source pixels a band saves less than handing it to a thread costs.
MIN_BANDED_SOURCE_PX = 200_000
MAX_BANDS = 4

_POOL = LazyPool("resize", lambda: MAX_BANDS)  # started by the first banded resize


def resize_into(image: Image.Image, out: np.ndarray, *, bands: int | None = None) -> None:
    """Bilinear-resize an RGB PIL image into out, an (h, w, 3) uint8 array (a canvas view).

    bands: how many horizontal bands run at once; None picks from the usable CPUs and the
    image size (1 band: a plain resize on this thread).
    """
    out_h, out_w = out.shape[:2]
    if bands is None:
        bands = _bands_for(image.size)
    bands = max(1, min(bands, out_h))
    if bands == 1:
        out[...] = np.asarray(image.resize((out_w, out_h), Image.Resampling.BILINEAR))
        return
    rows = band_rows(image.size[1], out_h, bands)
    jobs = [
        _POOL.get().submit(_resize_band, image, out, rows[k], rows[k + 1]) for k in range(bands)
    ]
    for job in jobs:
        job.result()  # re-raises a band's failure here


def band_rows(src_h: int, out_h: int, bands: int) -> list[int]:
    """Output row boundaries [0, ..., out_h] of about equal bands, each boundary moved to the
    nearest output row that starts on a whole source row when that keeps the bands apart."""
    even = [round(out_h * k / bands) for k in range(bands + 1)]
    step = out_h // math.gcd(src_h, out_h)  # output rows between whole-source-row starts
    aligned = [0] + [round(row / step) * step for row in even[1:-1]] + [out_h]
    if all(a < b for a, b in itertools.pairwise(aligned)):
        return aligned
    return even


def _resize_band(image: Image.Image, out: np.ndarray, top: int, bottom: int) -> None:
    """Output rows [top, bottom) from the source rows they cover (fractional edges allowed)."""
    out_h, out_w = out.shape[:2]
    src_w, src_h = image.size
    rows_per_row = src_h / out_h
    box = (0.0, top * rows_per_row, float(src_w), bottom * rows_per_row)
    band = image.resize((out_w, bottom - top), Image.Resampling.BILINEAR, box=box)
    out[top:bottom] = np.asarray(band)


def _bands_for(source_wh: tuple[int, int]) -> int:
    if source_wh[0] * source_wh[1] < MIN_BANDED_SOURCE_PX:
        return 1
    return min(usable_cpus(), MAX_BANDS)
