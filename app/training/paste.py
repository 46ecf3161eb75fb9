"""Copy-paste augmentation (`train --paste N`): labelled objects cut from other training images
and pasted into a sample, every object as likely as any other (so each class as often as it
occurs).

Why: in a video data set each clip holds one class, so the sky or the scene around an object
can tell its class on the training clips and fail on another session's. A pasted object brings
its label box into another clip's context, so the context stops telling the class. Objects are
drawn as they occur, not class by class, so the classes' shares stay the data's (drawn evenly,
the sky sample's rare helicopters came about 3 times as often as they occur). Each object is
cut with a margin of its own surroundings: the patch's colours are shifted so that the margin
matches the place it lands (a grey sky's bird lands in a blue sky), and the margin fades in,
so no seam tells a pasted object from a real one; the box itself is pasted whole, tight labels
or loose. Measured on the sky sample: docs/training.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PASTE_SHARE = 0.5  # of the samples, those that get pasted objects (1 to N of them)
MARGIN_SHARE = 0.25  # of a box's side, the surroundings cut with it on each side (fades in)
PLACE_TRIES = 10  # random places tried for each object before it is given up
MIN_PASTE_PX = 4  # objects smaller than this (after scaling) are not pasted
MAX_PATCH_SHARE = 0.5  # of the canvas side: larger patches are not pasted


@dataclass(frozen=True)
class Bank:
    """Every labelled object of the training sources: (M, 2) [source, box] rows."""

    rows: np.ndarray

    @classmethod
    def of(cls, sources) -> Bank:
        rows = [(s, b) for s, src in enumerate(sources) for b in range(len(src.classes))]
        return cls(np.array(rows, np.int64).reshape(-1, 2))

    def draw(self, rng: np.random.Generator) -> tuple[int, int] | None:
        """(source, box) of one object, each as likely as any other; None when there is none."""
        if not len(self.rows):
            return None
        source, box = self.rows[rng.integers(len(self.rows))]
        return int(source), int(box)


@dataclass(frozen=True)
class Patch:
    """An object cut with its margin: (h, w, 3) float32 pixels and the box inside them, xyxy
    patch px."""

    pixels: np.ndarray
    box: np.ndarray

    @property
    def wh(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


def cut(source, box: int, factor: float) -> Patch | None:
    """Box `box` of the source with MARGIN_SHARE of its side around it (less at the image's
    edge), scaled by factor; None when the scaled box is under MIN_PASTE_PX."""
    xyxy = np.asarray(source.boxes[box], np.float64)
    margin = MARGIN_SHARE * (xyxy[2:] - xyxy[:2])
    image = source.pixels()
    h, w = image.shape[:2]
    outer = np.round(np.concatenate([xyxy[:2] - margin, xyxy[2:] + margin]))
    outer = np.clip(outer, 0, [w, h, w, h]).astype(int)
    size = (round((outer[2] - outer[0]) * factor), round((outer[3] - outer[1]) * factor))
    inner = np.clip(np.round((xyxy - np.tile(outer[:2], 2)) * factor), 0, [*size, *size])
    if min(inner[2:] - inner[:2]) < MIN_PASTE_PX:  # a box off the image is too
        return None
    piece = Image.fromarray(np.ascontiguousarray(image[outer[1] : outer[3], outer[0] : outer[2]]))
    return Patch(np.asarray(piece.resize(size, Image.BILINEAR), np.float32), inner)


def fade(patch: Patch) -> np.ndarray:
    """(h, w, 1) float32 alpha: 1 over the box, falling linearly to 0 at the patch's edge
    across the margin on each side (a side without margin stays 1)."""

    def ramp(length: int, start: float, stop: float) -> np.ndarray:
        at = np.arange(length) + 0.5
        before = np.clip(at / start, 0, 1) if start >= 1 else np.ones(length)
        after = np.clip((length - at) / (length - stop), 0, 1) if length - stop >= 1 else 1
        return np.minimum(before, after)

    w, h = patch.wh
    x1, y1, x2, y2 = patch.box
    return np.minimum.outer(ramp(h, y1, y2), ramp(w, x1, x2))[..., None].astype(np.float32)


def blend(patch: Patch, region: np.ndarray) -> np.ndarray:
    """The patch over the (h, w, 3) float32 region it lands on: its colours shifted so that
    its margin's mean matches the region's there, the margin faded in."""
    alpha = fade(patch)
    ring = alpha[..., 0] < 1
    if not ring.any():  # no margin (a box filling its image): no colour to match
        return patch.pixels
    shifted = patch.pixels + (region[ring].mean(0) - patch.pixels[ring].mean(0))
    return alpha * shifted + (1 - alpha) * region


def place(
    patch_wh: tuple[int, int], canvas_wh, taken: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """xyxy of a random place for the patch inside the canvas that overlaps no taken box."""
    free = np.array(canvas_wh) - np.array(patch_wh)
    if (free < 0).any() or max(np.array(patch_wh) / np.array(canvas_wh)) > MAX_PATCH_SHARE:
        return None
    for _ in range(PLACE_TRIES):
        x, y = (int(rng.integers(0, f + 1)) for f in free)
        spot = np.array([x, y, x + patch_wh[0], y + patch_wh[1]], np.float64)
        apart = (
            (taken[:, 2] <= spot[0])
            | (taken[:, 0] >= spot[2])
            | (taken[:, 3] <= spot[1])
            | (taken[:, 1] >= spot[3])
        )
        if apart.all():
            return spot
    return None


def paste_objects(
    canvas: np.ndarray,
    targets: np.ndarray,
    sources,
    bank: Bank,
    most: int,
    factor: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """With PASTE_SHARE odds, 1 to `most` objects from the bank pasted into the (H, W, 3) uint8
    canvas at the sample's scale factor, each with its margin where it overlaps no other
    object; returns the canvas and the (K, 5) [class, x1, y1, x2, y2] targets, the pasted
    boxes added."""
    if most < 1 or rng.random() >= PASTE_SHARE:
        return canvas, targets
    canvas = canvas.astype(np.float32)
    canvas_wh = (canvas.shape[1], canvas.shape[0])
    targets = targets.reshape(-1, 5)
    for _ in range(int(rng.integers(1, most + 1))):
        drawn = bank.draw(rng)
        patch = cut(sources[drawn[0]], drawn[1], factor) if drawn else None
        spot = None if patch is None else place(patch.wh, canvas_wh, targets[:, 1:], rng)
        if spot is None:
            continue
        x1, y1, x2, y2 = spot.astype(int)
        canvas[y1:y2, x1:x2] = blend(patch, canvas[y1:y2, x1:x2])
        label = float(sources[drawn[0]].classes[drawn[1]])
        targets = np.concatenate([targets, [[label, *(patch.box + np.tile(spot[:2], 2))]]])
    return np.clip(canvas, 0, 255).astype(np.uint8), targets


@dataclass(frozen=True)
class Paster:
    """paste_objects bound to the training sources: up to `most` objects a sample."""

    sources: list
    bank: Bank
    most: int

    @classmethod
    def of(cls, sources, most: int) -> Paster:
        return cls(sources, Bank.of(sources), most)

    def __call__(self, canvas, targets, factor: float, rng: np.random.Generator):
        return paste_objects(canvas, targets, self.sources, self.bank, self.most, factor, rng)
