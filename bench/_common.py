"""Shared benchmark helpers: inputs from ../shared, sample statistics, tables, request bodies."""

from __future__ import annotations

import base64
import json
import math
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "yolox_nano.onnx"
COCO_IMAGES = SHARED / "data" / "coco-val2017-sample" / "images"
LARGE_IMAGE = SHARED / "data" / "demo" / "boats.jpg"  # 1920x1080
EVENT_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "events" / "apigw_http_v2.json"

# The scripts run as `python bench/<name>.py`: make the project importable from anywhere.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def require(path: Path | str) -> Path:
    """Exit with a clear message when an input is missing (also an argparse type: a str)."""
    path = Path(path)
    if not path.exists():
        sys.exit(f"{path} is absent: the benchmarks read models and images from ../shared.")
    return path


def coco_640x480() -> Path:
    """The first 640x480 JPEG of the COCO sample (sorted by name), for repeatable runs."""
    from PIL import Image

    for path in sorted(require(COCO_IMAGES).glob("*.jpg")):
        with Image.open(path) as image:
            if image.size == (640, 480):
                return path
    sys.exit(f"no 640x480 JPEG in {COCO_IMAGES}")


def detect_body(image_bytes: bytes, **fields) -> bytes:
    """The JSON body of POST /detect for these image bytes."""
    return json.dumps({"image": base64.b64encode(image_bytes).decode("ascii"), **fields}).encode()


def apigw_v2_event(image_bytes: bytes) -> dict:
    """A recorded API Gateway HTTP API (v2) POST /detect event carrying this image."""
    event = json.loads(EVENT_TEMPLATE.read_text())
    event["body"] = base64.b64encode(detect_body(image_bytes)).decode("ascii")
    event["isBase64Encoded"] = True
    return event


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in (0, 1])."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "p90": percentile(samples, 0.9),
        "n": len(samples),
    }


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A GitHub-flavoured Markdown table (pastes straight into the docs)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def vm_kib(pid: int | str, field: str) -> int:
    """A memory figure (VmRSS, VmHWM, ...) of a process from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def machine_line() -> str:
    """What the numbers were measured on: CPUs usable, load, Python, onnxruntime."""
    import onnxruntime

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpus} CPU(s) usable, load average {load:.2f}, Python {sys.version.split()[0]}, "
        f"onnxruntime {onnxruntime.__version__}"
    )
