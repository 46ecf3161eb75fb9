"""Naming bytes from their first bytes (for error messages) and reading WebP canvas sizes."""

from __future__ import annotations

import pytest
from PIL import Image

from app.detector.sniff import sniff, webp_size
from tests.image_makers import saved, webp_claiming


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0", ("a PNG image", True)),
        (b"\xff\xd8\xff\xe0", ("a JPEG image", True)),
        (b"GIF87a", ("a GIF image", True)),
        (b"II*\x00\x08", ("a TIFF image", True)),
        (b"MM\x00*\x00", ("a TIFF image", True)),
        (b"RIFF\0\0\0\0WEBPVP8 ", ("a WebP image", True)),
        (b"RIFF\0\0\0\0WAVEfmt ", None),  # a RIFF that is not WebP
        (b"BM\0\0", ("a BMP image", True)),
        (b"%PDF-1.7", ("a PDF document", False)),
        (b"%!PS-Adobe-3.0 EPSF", ("a PostScript/EPS document", False)),
        (b"8BPS\0\1", ("a Photoshop (PSD) file", False)),
        (b"\0\0\0\x1cftypavif", ("an AVIF image", False)),
        (b"  <!DOCTYPE HTML>", ("an HTML page", False)),
        (b'<?xml version="1.0"?><svg/>', ("an SVG (vector) image", False)),
        (b"<!-- x --><svg>", ("an SVG (vector) image", False)),
        (b"<?xml version='1.0'?><feed/>", ("an XML document", False)),
        (b'\xef\xbb\xbf{"a": 1}', ("JSON text", False)),
        ("naïve café text\n".encode(), ("text", False)),
        (b"\x00\x01\x02\x03" * 10, None),
        (b"", None),
    ],
)
def test_sniff_table(data, expected):
    assert sniff(data) == expected


@pytest.mark.parametrize("size", [(1, 1), (123, 45), (16383, 2), (3, 16383)])
@pytest.mark.parametrize(
    "save_args", [{"quality": 80}, {"lossless": True}, {"exif": b"Exif\0\0"}], ids=str
)
def test_webp_size_matches_pillow(size, save_args):
    data = saved(Image.new("RGB", size, (9, 90, 200)), "WEBP", **save_args)
    assert webp_size(data) == size


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (webp_claiming(16_384, 16_384), (16_384, 16_384)),
        (webp_claiming(10_500, 10_000), (10_500, 10_000)),
        (b"RIFF\0\0\0\0WEBPVP8X", None),  # cut short
        (b"RIFF\0\0\0\0WEBPALPH" + b"\0" * 30, None),  # unknown first chunk: Pillow decides
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, None),
    ],
)
def test_webp_size_of_odd_files(data, expected):
    assert webp_size(data) == expected
