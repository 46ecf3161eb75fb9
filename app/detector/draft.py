"""Reduced-scale JPEG decoding for the whole-image pass.

A JPEG far larger than the model input is decoded at 1/2, 1/4 or 1/8 scale inside the DCT:
several times cheaper than decoding every pixel and then resizing most of them away in the
letterbox. The scale stops where letterboxing into the model input still shrinks the image,
so the model never sees an upsampled picture. The sliced path never uses this: tiles need
every native pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .preprocess import open_image, oriented_size, to_rgb_image

# The formats whose Pillow plugin implements draft() (MPO is JPEG with extra frames).
_DRAFTABLE_FORMATS = ("JPEG", "MPO")
_SMALLEST_REDUCTION = 0.5  # libjpeg scales by 1/2, 1/4 or 1/8


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded for the model, possibly at a reduced JPEG scale.

    pixels: an RGB PIL image, EXIF-oriented (the letterbox resizes it without a numpy copy
    of the full size); one pixel spans draft_scale x draft_scale image pixels (draft_scale
    1, 2, 4 or 8). image_wh: the full-size oriented image.
    """

    pixels: Image.Image
    draft_scale: int
    image_wh: tuple[int, int]

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy in decoded px -> (N, 4) float32 xyxy in image px, clipped to the image."""
        out = np.asarray(xyxy, dtype=np.float32) * np.float32(self.draft_scale)
        np.clip(out[:, 0::2], 0, self.image_wh[0], out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.image_wh[1], out=out[:, 1::2])
        return out


def decode_scaled(
    data: bytes, *, max_pixels: int, min_size_wh: tuple[int, int] | None
) -> DecodedImage:
    """Image bytes -> DecodedImage, reduced so that it still covers min_size_wh (the model
    input) after letterboxing. None decodes at full size."""
    return decode_opened(open_image(data, max_pixels=max_pixels), min_size_wh)


def decode_opened(image: Image.Image, min_size_wh: tuple[int, int] | None) -> DecodedImage:
    """decode_scaled for an image open_image already opened (and checked)."""
    image_wh = oriented_size(image)
    draft_scale = _draft(image, image_wh, min_size_wh) if min_size_wh else 1
    return DecodedImage(to_rgb_image(image), draft_scale, image_wh)


def _draft(image: Image.Image, image_wh: tuple[int, int], fit_wh: tuple[int, int]) -> int:
    """Ask the JPEG decoder for the smallest scale whose output still covers the letterbox
    size; returns that scale (1 where there is nothing to gain or the image is no JPEG)."""
    if image.format not in _DRAFTABLE_FORMATS:
        return 1
    shrink = min(fit_wh[0] / image_wh[0], fit_wh[1] / image_wh[1])
    if shrink > _SMALLEST_REDUCTION:
        return 1
    # The DCT scale is uniform, so the stored axes need the same shrink as the oriented ones.
    stored_w, stored_h = image.size
    needed_wh = (max(1, math.ceil(stored_w * shrink)), max(1, math.ceil(stored_h * shrink)))
    drafted = image.draft(None, needed_wh)
    # draft() answers (mode, box) with box in reduced px: box[2] = stored width / scale.
    return round(stored_w / drafted[1][2]) if drafted else 1
