"""Image bytes made by hand or by Pillow for tests: header-only bombs, damaged files, and one
photo re-encoded in every mode and container the API accepts. Nothing here is committed data."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

# --- hand-made image headers ----------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(
    width_px: int,
    height_px: int,
    *,
    bit_depth: int = 8,
    colour_type: int = 2,
    raw_rows: bytes | None = None,
    extra: tuple[bytes, ...] = (),
) -> bytes:
    """A PNG written chunk by chunk. raw_rows: filter byte + samples per row; default a few
    zero bytes, which is all a header bomb needs (Pillow reads the size from IHDR alone)."""
    ihdr = struct.pack(">IIBBBBB", width_px, height_px, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(raw_rows if raw_rows is not None else b"\x00" * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_rgb16(pixels: np.ndarray) -> bytes:
    """(H, W, 3 or 4) uint16 -> a 16-bit RGB(A) PNG (Pillow cannot write these itself)."""
    height_px, width_px, channels = pixels.shape
    rows = np.zeros((height_px, 1 + width_px * channels * 2), np.uint8)  # filter byte 0
    rows[:, 1:] = pixels.astype(">u2").view(np.uint8).reshape(height_px, -1)
    colour_type = {3: 2, 4: 6}[channels]
    return png(width_px, height_px, bit_depth=16, colour_type=colour_type, raw_rows=rows.tobytes())


def ztxt_bomb_png(decompressed_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A tiny valid PNG whose zTXt chunk inflates to decompressed_bytes (~64 KiB on the wire)."""
    compressor = zlib.compressobj(9)
    chunk = b"x" * (1024 * 1024)
    packed = b"".join(compressor.compress(chunk) for _ in range(decompressed_bytes // len(chunk)))
    text = b"Comment\x00\x00" + packed + compressor.flush()
    return png(1, 1, raw_rows=b"\x00\x00\x00\x00", extra=(png_chunk(b"zTXt", text),))


def gif_header(width_px: int, height_px: int) -> bytes:
    """A GIF with a width x height logical screen and one 1x1 frame."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width_px, height_px, 0x80, 0, 0) + b"\x00" * 6
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b";"


def tiff_header(width_px: int, height_px: int, *, next_ifd: int = 0) -> bytes:
    """A little-endian greyscale TIFF claiming width x height with a 16-byte strip."""
    tags = [  # (tag, type, count, value): type 3 SHORT, 4 LONG
        (256, 4, 1, width_px),
        (257, 4, 1, height_px),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),
        (277, 3, 1, 1),
        (278, 4, 1, height_px),
        (279, 4, 1, 16),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd) + b"\x80" * 16


def bmp_header(width_px: int, height_px: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width_px, height_px, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return (
        b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + b"\0" * 16
    )


def jpeg_claiming(width_px: int, height_px: int) -> bytes:
    """A real 8x8 JPEG whose SOF0 marker is rewritten to claim width x height."""
    data = bytearray(saved(Image.new("RGB", (8, 8), (90, 120, 150)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height_px, width_px)
    return bytes(data)


def webp_claiming(width_px: int, height_px: int) -> bytes:
    """A real animated 8x8 WebP whose VP8X canvas is rewritten to width x height."""
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = bytearray(saved(frames[0], "WEBP", save_all=True, append_images=frames[1:]))
    vp8x = data.index(b"VP8X")
    data[vp8x + 12 : vp8x + 18] = (width_px - 1).to_bytes(3, "little") + (height_px - 1).to_bytes(
        3, "little"
    )
    return bytes(data)


def many_scan_jpeg(scans: int) -> bytes:
    """A progressive JPEG with its scans repeated until there are `scans` of them."""
    data = saved(Image.new("RGB", (16, 16), (10, 200, 30)), "JPEG", progressive=True)
    first, end = data.index(b"\xff\xda"), data.rindex(b"\xff\xd9")
    body = data[first:end]
    repeats = scans // body.count(b"\xff\xda") + 1
    return data[:first] + body * repeats + b"\xff\xd9"


def saved(image: Image.Image, fmt: str, **save_args) -> bytes:
    if fmt == "PNG":
        save_args.setdefault("compress_level", 1)  # test data: speed over size
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def pillow_blank(fmt: str, mode: str = "RGB", **save_args) -> Callable[[], bytes]:
    return lambda: saved(Image.new(mode, (32, 32), 128), fmt, **save_args)


def first_half(make: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: (data := make())[: len(data) // 2]


def noisy(fmt: str, **save_args) -> Callable[[], bytes]:
    def make() -> bytes:
        pixels = bytes((i * 37 + i // 7) % 256 for i in range(64 * 64 * 3))
        return saved(Image.frombytes("RGB", (64, 64), pixels), fmt, **save_args)

    return make


# --- odd but valid images: every mode and container the API promises to read -------------------


def _frames(first: Image.Image, fmt: str, **save_args) -> bytes:
    """first, then a black frame/page: only the first must be used."""
    black = Image.new(first.mode, first.size)
    return saved(first, fmt, save_all=True, append_images=[black], **save_args)


def _with_transparent_band(photo: Image.Image, mode: str) -> Image.Image:
    """photo with its top 10 % transparent (alpha 0), in RGBA, LA or P+tRNS form."""
    rgba = photo.convert("RGBA")
    alpha = Image.new("L", photo.size, 255)
    alpha.paste(0, (0, 0, photo.width, photo.height // 10))
    rgba.putalpha(alpha)
    if mode == "P":
        return rgba.convert("P", palette=Image.Palette.ADAPTIVE)  # keeps alpha as tRNS
    return rgba.convert(mode)


def _float_tiff(photo: Image.Image, *, with_nan: bool) -> bytes:
    values = np.asarray(photo.convert("L"), np.float32).copy()
    if with_nan:
        values[:4, :4] = np.nan
        values[4:8, :4] = np.inf
        values[8:12, :4] = -np.inf
    return saved(Image.fromarray(values), "TIFF")


def _oriented(photo: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return saved(photo, "JPEG", quality=92, exif=exif)


def _palette(photo: Image.Image) -> Image.Image:
    return photo.convert("P", palette=Image.Palette.ADAPTIVE)


def _rgb16(photo: Image.Image, *, alpha: bool) -> bytes:
    rgb16 = np.asarray(photo.convert("RGB"), np.uint16) * 257
    if alpha:
        rgb16 = np.dstack([rgb16, np.full(rgb16.shape[:2], 65535, np.uint16)])
    return png_rgb16(rgb16)


def _grey16(photo: Image.Image) -> bytes:
    return saved(Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257), "PNG")


# (name, bytes from an RGB photo, whether width and height swap): every mode and container the
# API promises to read; each must decode to the photo's content.
ACCEPTED_VARIANTS: list[tuple[str, Callable[[Image.Image], bytes], bool]] = [
    ("jpeg_baseline", lambda p: saved(p, "JPEG", quality=92), False),
    ("jpeg_progressive", lambda p: saved(p, "JPEG", quality=92, progressive=True), False),
    ("jpeg_grey", lambda p: saved(p.convert("L"), "JPEG"), False),
    ("jpeg_cmyk", lambda p: saved(p.convert("CMYK"), "JPEG", quality=92), False),
    ("jpeg_exif_orientation_6", lambda p: _oriented(p, 6), True),
    ("jpeg_trailing_garbage", lambda p: saved(p, "JPEG") + b"\0garbage" * 100, False),
    ("mpo_two_pictures", lambda p: _frames(p, "MPO", quality=92), False),
    ("png_rgb", lambda p: saved(p, "PNG"), False),
    ("png_mode_1", lambda p: saved(p.convert("1"), "PNG"), False),
    ("png_mode_L", lambda p: saved(p.convert("L"), "PNG"), False),
    ("png_mode_LA", lambda p: saved(_with_transparent_band(p, "LA"), "PNG"), False),
    ("png_mode_P", lambda p: saved(_palette(p), "PNG"), False),
    ("png_mode_P_transparent", lambda p: saved(_with_transparent_band(p, "P"), "PNG"), False),
    ("png_mode_RGBA", lambda p: saved(_with_transparent_band(p, "RGBA"), "PNG"), False),
    ("png_I16_grey", _grey16, False),
    ("png_rgb_16bit", lambda p: _rgb16(p, alpha=False), False),
    ("png_rgba_16bit", lambda p: _rgb16(p, alpha=True), False),
    ("apng_first_frame", lambda p: _frames(p, "PNG"), False),
    ("gif_animated", lambda p: _frames(_palette(p), "GIF"), False),
    ("webp_lossy", lambda p: saved(p, "WEBP", quality=90), False),
    ("webp_lossless", lambda p: saved(p, "WEBP", lossless=True, method=0), False),
    ("webp_animated", lambda p: _frames(p, "WEBP", quality=90), False),
    ("tiff_multipage", lambda p: _frames(p, "TIFF"), False),
    ("tiff_lzw", lambda p: saved(p, "TIFF", compression="tiff_lzw"), False),
    ("tiff_jpeg", lambda p: saved(p, "TIFF", compression="jpeg"), False),
    ("tiff_cmyk", lambda p: saved(p.convert("CMYK"), "TIFF"), False),
    ("tiff_int32", lambda p: saved(p.convert("L").convert("I"), "TIFF"), False),
    ("tiff_float", lambda p: _float_tiff(p, with_nan=False), False),
    ("tiff_float_nan_inf", lambda p: _float_tiff(p, with_nan=True), False),
    ("bmp_rgb", lambda p: saved(p, "BMP"), False),
    ("bmp_palette", lambda p: saved(_palette(p), "BMP"), False),
]
