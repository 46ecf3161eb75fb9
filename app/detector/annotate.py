"""Annotated images: boxes and labels drawn on the picture with Pillow, encoded as JPEG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .detections import Detections
from .labels import label_for
from .preprocess import decode_image

# Distinct, saturated colours (RGB) that read on photos; class_id picks one, cycling.
PALETTE = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
    (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
    (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
    (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)  # fmt: skip
MAX_SIDE_PX = 2048  # keeps a base64 JPEG of a 4K frame well inside Lambda's 6 MB response
JPEG_QUALITY = 85


def colour_for(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def line_width_px(image_wh: tuple[int, int]) -> int:
    """Thick enough to see on a large photo, thin enough not to hide a 20 px object."""
    return max(2, round(min(image_wh) / 300))


def draw_detections(
    image: np.ndarray, found: Detections, class_names: tuple[str, ...]
) -> Image.Image:
    """(H, W, 3) uint8 RGB and Detections in image px -> a new RGB image with boxes and labels.

    Boxes are drawn lowest confidence first so that the best ones end up on top.
    """
    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width_px = line_width_px(canvas.size)
    font = ImageFont.load_default(size=max(12, 4 * width_px + 4))
    for index in np.argsort(found.confidence, kind="stable"):
        x1, y1, x2, y2 = (float(v) for v in found.xyxy[index])
        class_id = int(found.class_id[index])
        colour = colour_for(class_id)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width_px)
        text = f"{label_for(class_names, class_id)} {found.confidence[index]:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), text, font=font, anchor="lb")
        if top < 0:  # no room above the box: put the label inside it
            left, top, right, bottom = draw.textbbox((x1, y1), text, font=font, anchor="lt")
        draw.rectangle((left, top, right + 2, bottom), fill=colour)
        draw.text((left + 1, top), text, fill=(255, 255, 255), font=font, anchor="lt")
    return canvas


def encode_jpeg(image: Image.Image, *, max_side_px: int = MAX_SIDE_PX) -> bytes:
    """JPEG bytes, scaled down (aspect kept) when the longer side is over max_side_px."""
    scale = max_side_px / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def annotated_jpeg(
    image_bytes: bytes, detections: Detections, class_names, *, max_pixels: int
) -> bytes:
    """The image of image_bytes with detections drawn, as JPEG. It is decoded again rather than
    kept from detection: the pipeline stays unchanged and only requests that ask for a picture
    pay for it."""
    image = decode_image(image_bytes, max_pixels=max_pixels)
    return encode_jpeg(draw_detections(image, detections, class_names))
