"""Naming what a byte string is from its first bytes, so a refusal can say what was sent.

Only used to word errors: the decision to decode is Pillow's, restricted to ACCEPTED_FORMATS.
"""

from __future__ import annotations

# The formats Pillow may open. Everything else it knows (EPS hands data to Ghostscript; PSD,
# ICO, JPEG 2000, FITS... are rarely photos and widen the attack surface) is never tried.
# Phone "MPO" JPEGs open through the JPEG plugin.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
ACCEPTED_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"

# (offset, magic bytes, what it is, whether it is one of ACCEPTED_FORMATS)
_SIGNATURES: tuple[tuple[int, bytes, str, bool], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image", True),
    (0, b"\xff\xd8\xff", "a JPEG image", True),
    (0, b"GIF87a", "a GIF image", True),
    (0, b"GIF89a", "a GIF image", True),
    (0, b"II*\x00", "a TIFF image", True),
    (0, b"MM\x00*", "a TIFF image", True),
    (0, b"II+\x00", "a TIFF image", True),
    (0, b"MM\x00+", "a TIFF image", True),
    (8, b"WEBP", "a WebP image", True),
    (0, b"BM", "a BMP image", True),
    (0, b"%PDF", "a PDF document", False),
    (0, b"%!PS", "a PostScript/EPS document", False),
    (0, b"\xc5\xd0\xd3\xc6", "a PostScript/EPS document", False),
    (0, b"8BPS", "a Photoshop (PSD) file", False),
    (0, b"\x00\x00\x01\x00", "an ICO icon", False),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image", False),
    (0, b"\xff\x4f\xff\x51", "a JPEG 2000 image", False),
    (4, b"ftypavif", "an AVIF image", False),
    (4, b"ftypheic", "a HEIC image", False),
    (4, b"ftypheix", "a HEIC image", False),
    (4, b"ftypmif1", "a HEIF image", False),
    (0, b"icns", "an ICNS icon", False),
    (0, b"DDS ", "a DDS texture", False),
    (0, b"qoif", "a QOI image", False),
    (0, b"SIMPLE  =", "a FITS file", False),
    (0, b"\x01\xda", "an SGI image", False),
    (0, b"\xd7\xcd\xc6\x9a", "a Windows metafile", False),
    (0, b"PK\x03\x04", "a ZIP archive", False),
    (0, b"\x1f\x8b", "a gzip archive", False),
    (0, b"\x7fELF", "an executable", False),
    (0, b"MZ", "an executable", False),
)

# Lower-cased text prefixes (after leading whitespace) -> what the text is.
_TEXT_KINDS: tuple[tuple[str, str], ...] = (
    ("<!doctype html", "an HTML page"),
    ("<html", "an HTML page"),
    ("<svg", "an SVG (vector) image"),
    ("<?xml", "an XML document"),
    ("{", "JSON text"),
    ("[", "JSON text"),
)


def sniff(data: bytes) -> tuple[str, bool] | None:
    """(what the bytes look like, whether that is an accepted format), or None if unknown."""
    for offset, magic, kind, accepted in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if magic == b"WEBP" and data[:4] != b"RIFF":
                continue
            return kind, accepted
    text = _as_text(data[:4096])
    if text is None:
        return None
    head = text.lstrip().lower()
    if "<svg" in head[:1024] and head.startswith(("<?xml", "<!doctype svg", "<svg", "<!--")):
        return "an SVG (vector) image", False
    for prefix, kind in _TEXT_KINDS:
        if head.startswith(prefix):
            return kind, False
    return "text", False


def _as_text(head: bytes) -> str | None:
    """The bytes as text if they are printable UTF-8 (a cut multi-byte tail is tolerated)."""
    text = head.decode("utf-8", errors="ignore")
    if not text or len(text.encode("utf-8")) < len(head) - 3:
        return None
    text = text.removeprefix("\ufeff")  # a byte order mark is not content
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if printable >= 0.95 * len(text) else None


def webp_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a WebP canvas from its first chunk, or None if unreadable.

    Needed because Pillow's WebP plugin allocates the whole canvas while opening, before any
    size check of ours (or Pillow's) can run.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas width - 1 and height - 1
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 ":  # lossy key frame: 14-bit sizes after the 9d 01 2a start code
        width, height = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:  # lossless: 14-bit width - 1, height - 1
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
