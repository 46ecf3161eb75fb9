"""How long the server takes per image under a setting: tune prints it for the defaults and
for the winner, timed on a few images spread over the set."""

from __future__ import annotations

import time

from ..detector import Model, detect_bytes
from .labels import LabelledImage

TIMED_IMAGES = 5  # images detect_bytes times, for the defaults and for the winner


def measured_ms(model: Model, images: list[LabelledImage], options, max_pixels: int) -> float:
    """Mean wall time of detect_bytes per image (after one warm-up run)."""
    data = [image.path.read_bytes() for image in images]
    detect_bytes(model, data[0], options, max_pixels=max_pixels)
    started = time.perf_counter()
    for item in data:
        detect_bytes(model, item, options, max_pixels=max_pixels)
    return 1000 * (time.perf_counter() - started) / len(data)


def timed_sample(images: list[LabelledImage]) -> list[LabelledImage]:
    """TIMED_IMAGES images spread over the set (sorted names group similar images)."""
    step = max(1, len(images) // TIMED_IMAGES)
    return images[::step][:TIMED_IMAGES]
