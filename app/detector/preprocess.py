"""Image bytes to pixels, and the letterbox that maps pixels to model input (and back)."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImage, PayloadTooLarge
from .sniff import ACCEPTED_FORMATS, ACCEPTED_NAMES, sniff, webp_size

PAD_VALUE = 114  # grey used by every YOLO family for letterbox padding
# Baseline JPEGs have 1 scan and progressive ones about 10; thousands are a CPU-time bomb.
MAX_JPEG_SCANS = 100
# What Pillow raises on malformed data, besides its own OSError/ValueError family.
_PILLOW_FAILURES = (
    OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError,
    ZeroDivisionError,
)  # fmt: skip
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# EXIF orientations 5-8 turn the image a quarter, swapping width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings: it warns on malformed metadata (and on pixel counts we check
    ourselves) and goes on; whether the pixels decode is what decides, and it raises if not."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        yield


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open image bytes lazily and enforce the pixel limit from the header alone.

    Nothing is decoded here, so a tiny file claiming a huge canvas costs nothing. Only
    ACCEPTED_FORMATS are tried: no other Pillow plugin ever sees the bytes.
    """
    if not data:
        raise InvalidImage("The image is empty (0 bytes).", code="empty_image")
    canvas_wh = webp_size(data)
    if canvas_wh is not None and canvas_wh[0] * canvas_wh[1] > max_pixels:
        raise _too_many_pixels(canvas_wh, max_pixels)
    try:
        with _quiet_pillow():
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (twice Image.MAX_IMAGE_PIXELS) fired before ours could.
        raise _too_many_pixels(None, min(max_pixels, _pillow_max_pixels())) from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(data) from exc
    except _PILLOW_FAILURES as exc:
        raise _corrupt("The image header could not be read") from exc
    width_px, height_px = image.size
    if width_px * height_px > max_pixels:
        raise _too_many_pixels(image.size, max_pixels)
    if width_px < 1 or height_px < 1:
        raise _corrupt(f"The image claims a size of {width_px}x{height_px} pixels")
    _check_jpeg_scans(image, data)
    return image


def _unidentified(data: bytes) -> InvalidImage:
    kind, accepted = sniff(data) or ("not a recognised image", False)
    if accepted:
        return _corrupt(f"The data starts like {kind} but its header cannot be read")
    if kind.startswith("not "):
        what = f"The data is {kind}"
    else:
        what = f"The data looks like {kind}, which is not a supported image format"
    return InvalidImage(f"{what}; send {ACCEPTED_NAMES}.", code="unsupported_image_format")


def _corrupt(what: str) -> InvalidImage:
    return InvalidImage(f"{what}; the file may be truncated or corrupt.", code="corrupt_image")


def _check_jpeg_scans(image: Image.Image, data: bytes) -> None:
    """Refuse progressive JPEGs with absurd scan counts: each scan re-walks the whole image."""
    # Entropy-coded data escapes 0xFF as FF 00, so FF DA only occurs as a start-of-scan marker.
    if image.format in ("JPEG", "MPO") and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        raise PayloadTooLarge(
            f"The JPEG has more than the limit of {MAX_JPEG_SCANS} scans.",
            code="image_too_large",
        )


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> PayloadTooLarge:
    claimed = f"{size[0]}x{size[1]} " if size else ""
    return PayloadTooLarge(
        f"The image {claimed}has more pixels than the limit of {max_pixels:,}.",
        code="image_too_large",
    )


def _pillow_max_pixels() -> int:
    return 2 * (Image.MAX_IMAGE_PIXELS or 0)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Decode the first frame, apply EXIF orientation, return (H, W, 3) uint8 RGB."""
    return np.asarray(to_rgb_image(image))


def to_rgb_image(image: Image.Image) -> Image.Image:
    """Decode the first frame, apply EXIF orientation, return an RGB PIL image.

    The sliced path crops tiles from this directly, so a big image is held once (as PIL
    holds it) rather than again as a numpy copy.
    """
    with _decoding():
        image.seek(0)
        # In place: the copying form duplicates the whole decoded image even when upright.
        ImageOps.exif_transpose(image, in_place=True)
        return _as_rgb(image)


def oriented_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation; from the header (PNG may need a decode)."""
    with _decoding():
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    width_px, height_px = image.size
    if orientation in _TRANSPOSING_ORIENTATIONS:
        return height_px, width_px
    return width_px, height_px


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """Decoder failures become 422 corrupt_image; bomb warnings are the pixel limit's job."""
    try:
        with _quiet_pillow():
            yield
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None, _pillow_max_pixels()) from exc
    except _PILLOW_FAILURES as exc:
        raise _corrupt("The image could not be decoded") from exc


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        # convert("RGB") clips 16-bit values at 255; scale the full range down instead.
        values = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if image.mode != "I" or values.max() > 255 else 255.0
        grey = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        # NaN and infinities in float TIFFs would make the uint8 cast undefined.
        values = np.nan_to_num(np.asarray(image), nan=0.0, posinf=255.0, neginf=0.0)
        grey = np.clip(values, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels take the pad grey, which the models treat as background.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (PAD_VALUE, PAD_VALUE, PAD_VALUE, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.load()
    return image


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Image bytes -> (H, W, 3) uint8 RGB, EXIF-oriented, first frame only."""
    return to_rgb_array(open_image(data, max_pixels=max_pixels))


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on the model input: input_px = image_px * scale + pad, and
    when mirror_x_px is set, mirrored left-right about it: input_px = mirror_x_px - (that)."""

    scale: float
    pad_x_px: float
    pad_y_px: float
    mirror_x_px: float | None = None  # 2 x pad + width x scale: the image's ends swap places

    def to_image(self, xyxy: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
        """(N, 4) xyxy in input px -> (N, 4) float32 xyxy in image px, clipped to the image."""
        out = np.empty_like(xyxy, dtype=np.float32)
        x = xyxy[:, 0::2] if self.mirror_x_px is None else self.mirror_x_px - xyxy[:, 2::-2]
        out[:, 0::2] = (x - self.pad_x_px) / self.scale
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y_px) / self.scale
        np.clip(out[:, 0::2], 0, image_wh[0], out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, image_wh[1], out=out[:, 1::2])
        return out

    def offset(self, origin_xy: tuple[int, int]) -> Letterbox:
        """The same placement for a crop whose top-left corner is origin_xy in a larger image.

        to_image of the result maps input px straight to the larger image's px (a tile's
        boxes to the whole image's), clipping to that image rather than to the crop.
        """
        return Letterbox(
            self.scale,
            self.pad_x_px - origin_xy[0] * self.scale,
            self.pad_y_px - origin_xy[1] * self.scale,
            self.mirror_x_px,  # the mirror is in input px: where the crop lies does not move it
        )

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy in image px -> (N, 4) float32 xyxy in input px."""
        out = np.asarray(xyxy, dtype=np.float32) * self.scale
        out[:, 0::2] += self.pad_x_px
        out[:, 1::2] += self.pad_y_px
        if self.mirror_x_px is not None:
            out[:, 0::2] = self.mirror_x_px - out[:, 2::-2]
        return out


def fit_letterbox(
    image_wh: tuple[int, int], input_wh: tuple[int, int], *, centered: bool
) -> tuple[Letterbox, tuple[int, int]]:
    """Scale and padding that fit image_wh inside input_wh, keeping aspect ratio.

    centered=True is the Ultralytics convention (padding split around the image, rounded as
    Ultralytics rounds); False is YOLOX's (image in the top-left corner, size truncated).
    Returns the Letterbox and the resized image size (width, height) in input px.
    """
    scale = min(input_wh[0] / image_wh[0], input_wh[1] / image_wh[1])
    if not centered:
        resized_wh = (max(1, int(image_wh[0] * scale)), max(1, int(image_wh[1] * scale)))
        return Letterbox(scale, 0.0, 0.0), resized_wh
    resized_wh = (max(1, round(image_wh[0] * scale)), max(1, round(image_wh[1] * scale)))
    pad_x_px = round((input_wh[0] - resized_wh[0]) / 2 - 0.1)
    pad_y_px = round((input_wh[1] - resized_wh[1]) / 2 - 0.1)
    return Letterbox(scale, float(pad_x_px), float(pad_y_px)), resized_wh


def letterbox(
    image: np.ndarray | Image.Image,
    input_wh: tuple[int, int],
    *,
    centered: bool,
    mirrored: bool = False,
) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 or RGB PIL image -> ((input_h, input_w, 3) uint8 canvas, Letterbox).

    The canvas is padded with grey 114. A PIL image is resized as it is, never copied whole.
    mirrored: the image is placed mirrored left-right (the resized pixels are flipped where
    they lie, so the padding stays where the model expects it); the Letterbox maps back.
    """
    is_pil = isinstance(image, Image.Image)
    width_px, height_px = image.size if is_pil else (image.shape[1], image.shape[0])
    box, (resized_w, resized_h) = fit_letterbox((width_px, height_px), input_wh, centered=centered)
    canvas = np.full((input_wh[1], input_wh[0], 3), PAD_VALUE, dtype=np.uint8)
    x0, y0 = int(box.pad_x_px), int(box.pad_y_px)
    placed = canvas[y0 : y0 + resized_h, x0 : x0 + resized_w]
    if (resized_w, resized_h) != (width_px, height_px):
        pil = image if is_pil else Image.fromarray(image)
        placed[...] = np.asarray(pil.resize((resized_w, resized_h), Image.Resampling.BILINEAR))
    else:
        placed[...] = np.asarray(image) if is_pil else image
    if mirrored:
        placed[...] = placed[:, ::-1].copy()
        box = replace(box, mirror_x_px=2 * box.pad_x_px + width_px * box.scale)
    return canvas, box


def to_tensor(canvas: np.ndarray, *, bgr: bool, scale: float, out: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 canvas -> (3, H, W) float32 written into out (one batch slot)."""
    channels = canvas.transpose(2, 0, 1)
    if bgr:
        channels = channels[::-1]
    np.multiply(channels, np.float32(scale), out=out, casting="unsafe")
    return out
