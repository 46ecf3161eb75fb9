"""Decompression bombs are refused from their header, before a pixel buffer exists.

Run in a child process whose address space is capped (RLIMIT_AS) a little above what it already
uses: decoding any of these canvases would need far more, so a missing or late pixel check shows
up as a MemoryError instead of the expected image_too_large.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

HEADROOM_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 1_000_000

# Each claims >= 81 M pixels (>= 81 MB even for one 8-bit channel) in a file of a few hundred
# bytes; the smaller ones stay under Pillow's own guard (2 x 89.5 M pixels), so only ours stops
# them.
BOMBS = {
    "png_50000x50000": "png(50_000, 50_000)",
    "png_9000x9000": "png(9_000, 9_000)",
    "png_16bit_9000x9000": "png(9_000, 9_000, bit_depth=16, colour_type=6)",
    "gif_9000x9000": "gif_header(9_000, 9_000)",
    "gif_65535x65535": "gif_header(65_535, 65_535)",
    "tiff_9000x9000": "tiff_header(9_000, 9_000)",
    "jpeg_9000x9000": "jpeg_claiming(9_000, 9_000)",
    "bmp_9000x9000": "bmp_header(9_000, 9_000)",
    "webp_9000x9000": "webp_claiming(9_000, 9_000)",
}

CHILD = """
import json, resource, sys
from app.detector import DetectionError
from app.detector.preprocess import decode_image
from tests.image_makers import *  # png, gif_header, tiff_header... named in BOMBS

bombs = {{name: eval(expression) for name, expression in json.loads(sys.argv[1]).items()}}
with open("/proc/self/status") as status:
    vm_bytes = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes + {headroom}, resource.RLIM_INFINITY))
rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcomes = {{}}
for name, data in bombs.items():
    try:
        decode_image(data, max_pixels={max_pixels})
        outcomes[name] = "decoded"
    except DetectionError as exc:
        outcomes[name] = exc.code
    except MemoryError:
        outcomes[name] = "MemoryError"
rss_growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb
print(json.dumps({{"outcomes": outcomes, "rss_growth_kb": rss_growth_kb}}))
"""


@pytest.fixture(scope="module")
def child_report() -> dict:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs /proc and RLIMIT_AS (Linux)")
    script = CHILD.format(headroom=HEADROOM_BYTES, max_pixels=MAX_PIXELS)
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(BOMBS)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bomb_is_refused_without_allocating(child_report, name):
    assert child_report["outcomes"][name] == "image_too_large"


def test_memory_did_not_grow(child_report):
    assert child_report["rss_growth_kb"] < 16 * 1024


def test_the_cap_would_catch_a_real_decode():
    """Control: under the same cap, a canvas of this size really cannot be allocated."""
    script = CHILD.format(headroom=HEADROOM_BYTES, max_pixels=10**9)
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps({"png_9000x9000": "png(9_000, 9_000)"})],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["outcomes"]["png_9000x9000"] != "image_too_large"
