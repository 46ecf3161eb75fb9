"""Benchmark: what thin images cost: model runs (views fed to the model) and time per request.

    .venv/bin/python bench/thin_images.py                         # YOLOX-Nano, 1 round
    .venv/bin/python bench/thin_images.py --models yolox_nano yolov8n_int8 --rounds 3

Each image is a tiny grey PNG made here (100000x1 is 370 bytes), sent as POST /detect through
the app in this process with the default settings ("auto" slicing, tiles at the model input,
20% overlap, the whole-image pass). A model run is one view (a tile or the whole image) fed to
the model, counted where the model is called. Times: wall clock and this process's CPU time
(both threads of parallel views count), medians over rounds. The bound column is the one stated
in docs/hardening.md (app/detector/slicing.py max_model_runs) for the image's pixel count.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time

from _common import SHARED, machine_line, print_table, require

from app import create_app
from app.detector import Model, load_model
from app.detector.slicing import SlicingOptions, max_model_runs
from tests.model_runs import CountingModel, grey_png

SHAPES_WH = [
    (100_000, 1),
    (1, 100_000),
    (340_000, 1),
    (100_000, 2),
    (20_000, 16),
    (4_000, 103),  # under a quarter of a 416 px tile: slivers, not sliced
    (4_000, 104),  # a quarter: a row of tiles
    (1920, 1080),
]


def measure(model: Model, image_wh: tuple[int, int], rounds: int) -> list[object]:
    counting = CountingModel(model)
    client = create_app(model=counting).test_client()
    png = grey_png(*image_wh)
    body = {"image": base64.b64encode(png).decode("ascii")}
    wall_s, cpu_s, runs, status = [], [], 0, 0
    for _ in range(rounds):
        counting.runs = 0
        started, started_cpu = time.perf_counter(), time.process_time()
        status = client.post("/detect", json=body).status_code
        wall_s.append(time.perf_counter() - started)
        cpu_s.append(time.process_time() - started_cpu)
        runs = counting.runs
    pixels = image_wh[0] * image_wh[1]
    bound = max_model_runs(pixels, model.info.input_wh, SlicingOptions().overlap)
    return [
        f"{image_wh[0]}x{image_wh[1]}",
        len(png),
        status,
        runs,
        bound,
        statistics.median(wall_s) * 1000,
        statistics.median(cpu_s) * 1000,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["yolox_nano"], help="../shared names")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for name in args.models:
        model = load_model(require(SHARED / "models" / f"{name}.onnx"))
        rows = [measure(model, image_wh, args.rounds) for image_wh in SHAPES_WH]
        print_table(
            f"{name} ({model.info.input_wh[0]}x{model.info.input_wh[1]}), {machine_line()}",
            ["image", "PNG bytes", "status", "model runs", "bound", "wall ms", "CPU ms"],
            rows,
        )


if __name__ == "__main__":
    main()
