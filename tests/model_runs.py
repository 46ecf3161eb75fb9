"""Counting model runs, the unit of a request's cost: a loaded model that counts the views fed
to it, and the thin grey PNGs that used to cost hundreds (tests/test_slicing_cost.py,
bench/thin_images.py)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.detector import Model


class CountingModel(Model):
    """A loaded model, counting the views fed to it (a batch of B views is B runs); views run
    one after another on it, not on a second session, so that each is counted."""

    def __init__(self, model: Model) -> None:
        super().__init__(model.session, model.info, path=model.path)
        self.runs = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.runs += len(batch)
        return super().run(batch)

    def serial(self) -> None:
        return None


def grey_png(width_px: int, height_px: int) -> bytes:
    """A uniform grey PNG of that size (a 100000x1 one is 373 bytes)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width_px, height_px), (90, 90, 90)).save(buffer, format="PNG")
    return buffer.getvalue()
