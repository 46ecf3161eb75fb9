"""Benchmark: our sliced inference vs the bare session.run floor vs SAHI 0.12, plus peak memory.

    .venv/bin/pip install -r requirements-bench.txt
    .venv/bin/python bench/slicing.py                      # both models, 3 rounds, conf 0.001
    .venv/bin/python bench/slicing.py --confidence 0.25 --models yolox_nano --rounds 5
    .venv/bin/python bench/slicing.py --models yolox_nano+dynamic   # batches of 8 tiles
    .venv/bin/python bench/slicing.py --skip-memory --plot docs/img   # also SVG plots for the docs
    # our own model (tiles batched) against itself one tile per call, and the COCO model, each
    # with the settings the service uses for it (its own recommended settings):
    .venv/bin/python bench/slicing.py --settings model --skip-memory \
        --models model/aerial-vehicles.onnx model/aerial-vehicles.onnx+per-tile yolox_nano

On ../shared/data/aerial-cars-sample (decoded once; every method gets the same RGB arrays), with
the reference settings (bench/_models.py; `--settings model`: the service's for each model):
COCO car/bus/truck (every class of a non-COCO model), per-view NMS IoU 0.65, <= 500 boxes, tiles
at the model input with 20% overlap, a whole-image pass, class-aware NMS merge at IoU 0.5. A
model is a ../shared name or an .onnx path, `+dynamic` a dynamic-batch copy, `+per-tile` the
model fed one view per call. Methods run
interleaved image by image, in rotating order, so load from other processes hits all alike;
times are medians over rounds. Two floors: bare session.run on every view one after another
(the product's session), and bare runs of the one-thread session on as many threads as ours uses
side by side ("floor xN"): what our overhead is, measured against how we run the model. Then an
8000x8000 JPEG, each method in a fresh process: peak RSS. The speed table also scores the whole
image at the model input (slicing off): what slicing buys in AP50.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from app.detector import DetectOptions, Model, detect_array, detect_bytes, load_model  # noqa: E402
from app.detector.cpus import usable_cpus  # noqa: E402
from app.detector.preprocess import decode_image  # noqa: E402
from app.detector.slicing import SlicingOptions, plan_tiles  # noqa: E402
from app.detector.views import fill_slot  # noqa: E402
from bench import _plots  # noqa: E402
from bench._models import (  # noqa: E402
    BenchModel,
    bench_model,
    model_path,
    sahi_settings,
    split_variant,
    vehicle_classes,
)
from bench.sahi_baseline import run_sahi, sahi_model  # noqa: E402
from tests.evaluation import coco_scores, yolo_labels_to_coco  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
AERIAL = SHARED / "data" / "aerial-cars-sample"
VEHICLES = frozenset({2, 5, 7})  # COCO car, bus, truck
BIG_SIDE_PX = 8000
METHODS = ("ours", "floor", "floor_parallel", "sahi")


def premade_views(model: Model, image: np.ndarray, slicing: SlicingOptions) -> list[np.ndarray]:
    """The (1, 3, H, W) inputs our run feeds: every tile, then the whole image (or only the
    whole image, when the slicing leaves this image whole)."""
    info = model.info
    tiles = plan_tiles((image.shape[1], image.shape[0]), slicing, info.input_wh)
    if tiles is None:
        tiles = np.zeros((0, 4), np.int64)
    views = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in tiles.tolist()]
    if len(tiles) == 0 or (slicing.whole_image and len(tiles) > 1):
        views.append(image)
    tensors = []
    for view in views:
        tensor = np.empty((1, 3, info.input_wh[1], info.input_wh[0]), np.float32)
        fill_slot(view, tensor[0], info)
        tensors.append(tensor)
    return tensors


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure(row: BenchModel, images: list[np.ndarray], rounds: int) -> dict:
    """Per method: total seconds per round, and the first round's outputs (for AP)."""
    model, options = row.model, row.options
    detector = sahi_model(model, options)
    session, input_name = model.session, model.info.input_name
    slicing = options.slicing
    tile_wh = slicing.tile_wh or model.info.input_wh
    settings = sahi_settings(slicing)

    def floor(tensors):
        return [session.run(None, {input_name: t}) for t in tensors]

    # The floor of running views side by side as ours does: bare runs of the one-thread
    # session, on as many threads as ours uses (the same pool size rule).
    serial, workers = model.serial(), usable_cpus()
    pool = ThreadPoolExecutor(workers)

    def floor_parallel(tensors):
        if serial is None or workers == 1:
            return floor(tensors)
        return list(pool.map(lambda t: serial.session.run(None, {input_name: t}), tensors))

    totals = {name: [0.0] * rounds for name in METHODS}
    outputs: dict[str, list] = {"ours": [], "sahi": []}
    for round_index in range(rounds):
        for n, image in enumerate(images):
            tensors = premade_views(model, image, slicing)
            sliced = plan_tiles(image.shape[1::-1], slicing, model.info.input_wh) is not None

            def sahi(image=image, sliced=sliced):
                return run_sahi(detector, image, tile_wh, settings, sliced=sliced)

            methods = {
                "ours": lambda image=image: detect_array(model, image, options),
                "floor": lambda tensors=tensors: floor(tensors),
                "floor_parallel": lambda tensors=tensors: floor_parallel(tensors),
                "sahi": sahi,
            }
            names = list(methods)
            for name in names[n % len(names) :] + names[: n % len(names)]:  # rotate the first
                seconds, result = timed(methods[name])
                totals[name][round_index] += seconds
                if round_index == 0 and name in outputs:
                    outputs[name].append(result)
    return {"totals": totals, "outputs": outputs}


def ap50(truth: dict, ours: list, sahi: list) -> tuple[float, float]:
    """AP50 of both methods' first-round outputs, scored as the accuracy test scores them."""
    rows_sahi = []
    for image, predictions in zip(truth["images"], sahi, strict=True):
        for p in predictions:
            xyxy = [p.bbox.minx, p.bbox.miny, p.bbox.maxx, p.bbox.maxy]
            rows_sahi.append(_coco_row(image["id"], xyxy, p.score.value))
    return ap50_of(truth, ours), coco_scores(truth, rows_sahi, max_dets=500)["ap50"]


def ap50_of(truth: dict, found: list) -> float:
    """AP50 of our detections (one Detections per image of truth)."""
    rows = []
    for image, detections in zip(truth["images"], found, strict=True):
        boxes = zip(detections.xyxy.tolist(), detections.confidence.tolist(), strict=True)
        rows += [_coco_row(image["id"], xyxy, score) for xyxy, score in boxes]
    return coco_scores(truth, rows, max_dets=500)["ap50"]


def _coco_row(image_id: int, xyxy: list[float], score: float) -> dict:
    x1, y1, x2, y2 = xyxy
    bbox = [x1, y1, x2 - x1, y2 - y1]
    return {"image_id": image_id, "category_id": 1, "bbox": bbox, "score": score}


def speed_table(
    names: list[str], settings: str, confidence: float, rounds: int, limit: int | None
) -> list[dict]:
    """Print the speed and AP50 table; returns its rows (medians in seconds, AP50s) by model."""
    truth = yolo_labels_to_coco(AERIAL / "images", AERIAL / "labels", "vehicle")
    truth["images"] = truth["images"][:limit]
    paths = [AERIAL / "images" / image["file_name"] for image in truth["images"]]
    images = [decode_image(path.read_bytes(), max_pixels=10**9) for path in paths]
    print(
        f"aerial sample: {len(images)} images, confidence {confidence}, {rounds} rounds, "
        f"{settings} settings"
    )
    print(
        f"| model | views | batch | ours s | floor s | floor x{usable_cpus()} s | SAHI s "
        "| ours/floor | ours/floor x | SAHI/ours | AP50 ours | AP50 SAHI | AP50 whole image |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for name in names:
        row = bench_model(name, settings, confidence)
        model, slicing = row.model, row.options.slicing
        views = sum(len(premade_views(model, image, slicing)) for image in images)
        result = measure(row, images, rounds)
        ours, floor, floor_x, sahi = (statistics.median(result["totals"][k]) for k in METHODS)
        ap_ours, ap_sahi = ap50(truth, result["outputs"]["ours"], result["outputs"]["sahi"])
        whole = dataclasses.replace(row.options, slicing=SlicingOptions(mode="off"))
        ap_whole = ap50_of(truth, [detect_array(model, image, whole) for image in images])
        print(
            f"| {row.label} | {views} | {row.batch} | {ours:.2f} | {floor:.2f} | {floor_x:.2f} "
            f"| {sahi:.2f} | {ours / floor:.3f} | {ours / floor_x:.3f} | {sahi / ours:.2f} "
            f"| {ap_ours:.4f} | {ap_sahi:.4f} | {ap_whole:.4f} |",
            flush=True,
        )
        seconds = {"ours": ours, "floor": floor, "floor_parallel": floor_x, "sahi": sahi}
        ap = {"ours": ap_ours, "sahi": ap_sahi, "whole": ap_whole}
        summary = {"model": row.label, "images": len(images), "views": views}
        rows.append({**summary, "seconds": seconds, "ap50": ap})
    return rows


def plot_speed(rows: list[dict], folder: Path, confidence: float, rounds: int) -> None:
    """slicing-speed.svg (seconds per method and model) and slicing-accuracy.svg (AP50)."""
    groups = [f"{row['model']}\n({row['views']} views)" for row in rows]
    images = rows[0]["images"]
    _plots.grouped_bars(
        folder / "slicing-speed.svg",
        f"Sliced inference, {images} aerial images, confidence {confidence}\n"
        f"seconds for all images, median of {rounds} round{'s' * (rounds > 1)} (lower is better)",
        groups,
        {m: [row["seconds"][m] for row in rows] for m in ("ours", "sahi", *METHODS[1:3])},
        ylabel="seconds for all images",
        labels={
            "ours": "ours",
            "sahi": "SAHI 0.12",
            "floor": "floor: bare session.run, one after another",
            "floor_parallel": f"floor x{usable_cpus()}: one-thread runs side by side",
        },
    )
    _plots.grouped_bars(
        folder / "slicing-accuracy.svg",
        f"AP50 on {images} aerial images, confidence {confidence}\n"
        "whole image against sliced (higher is better)",
        groups,
        {m: [row["ap50"][m] for row in rows] for m in ("whole", "ours", "sahi")},
        ylabel="AP50 (vehicles)",
        fmt="{:.3f}",
        labels={
            "whole": "whole image at the model input",
            "ours": "sliced: ours",
            "sahi": "sliced: SAHI 0.12",
        },
    )


def make_big_jpeg(path: Path) -> None:
    """An 8000x8000 mosaic of the aerial images (real content, so real detections), as JPEG."""
    from PIL import Image

    canvas = Image.new("RGB", (BIG_SIDE_PX, BIG_SIDE_PX))
    sources = sorted((AERIAL / "images").iterdir())
    x = y = row_h = 0
    for n in range(10_000):
        with Image.open(sources[n % len(sources)]) as source:
            tile = source.convert("RGB")
        if x + tile.width > BIG_SIDE_PX:
            x, y, row_h = 0, y + row_h, 0
        if y >= BIG_SIDE_PX:
            break
        canvas.paste(tile, (x, y))
        x, row_h = x + tile.width, max(row_h, tile.height)
    canvas.save(path, quality=90)


def memory_child(path: Path, name: str, method: str) -> None:
    """In a fresh process: load, detect twice, print peak RSS (VmHWM) and the faster time."""
    model = load_model(model_path(split_variant(name)[0]))
    baseline_mb = _vm_hwm_mb()
    # The service defaults otherwise (slicing "auto": 576 tiles of 416 px).
    options = DetectOptions(class_ids=vehicle_classes(model.info), slicing=SlicingOptions())
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        if method == "ours":
            result = detect_bytes(model, path.read_bytes(), options)
            count, tiles = len(result.detections), result.slicing.tiles
        else:
            detector = sahi_model(model, options)
            settings = sahi_settings(options.slicing)
            count = len(run_sahi(detector, str(path), model.info.input_wh, settings))
            tiles = None
        seconds.append(time.perf_counter() - started)
    report = {"peak_mb": _vm_hwm_mb(), "after_load_mb": baseline_mb, "seconds": min(seconds)}
    print(json.dumps({**report, "detections": count, "tiles": tiles}))


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_table(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jpg"
        make_big_jpeg(path)
        size_mib = path.stat().st_size / 2**20
        print(
            f"\n{BIG_SIDE_PX}x{BIG_SIDE_PX} JPEG ({size_mib:.1f} MiB), {name}, confidence 0.25, "
            "car/bus/truck, slicing defaults; each in a fresh process:"
        )
        print("| method | tiles | detections | seconds | RSS after model load MB | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for method in ("ours", "sahi"):
            command = [sys.executable, __file__, "--memory-child", str(path), name, method]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {method} | {row['tiles'] or '-'} | {row['detections']} | {row['seconds']:.1f} "
                f"| {row['after_load_mb']:.0f} | {row['peak_mb']:.0f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["yolox_nano", "yolov8n_int8"],
        help="../shared model names or .onnx paths, each optionally +dynamic or +per-tile",
    )
    parser.add_argument(
        "--settings",
        choices=["reference", "model"],
        default="reference",
        help="the reference pipeline's, or what the service uses for each model",
    )
    parser.add_argument("--confidence", type=float, default=0.001)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=None, help="first N images only")
    parser.add_argument("--skip-speed", action="store_true", help="only the 8000x8000 memory table")
    parser.add_argument("--skip-memory", action="store_true", help="only the speed table")
    parser.add_argument("--memory-child", nargs=3, metavar=("JPEG", "MODEL", "METHOD"))
    parser.add_argument(
        "--plot", type=Path, metavar="DIR", help="also write SVG plots of the speed table to DIR"
    )
    args = parser.parse_args()
    if args.memory_child:
        path, name, method = args.memory_child
        memory_child(Path(path), name, method)
        return
    if not args.skip_speed:
        rows = speed_table(args.models, args.settings, args.confidence, args.rounds, args.images)
        if args.plot:
            plot_speed(rows, args.plot, args.confidence, args.rounds)
    if not args.skip_memory:
        memory_table(args.models[0])


if __name__ == "__main__":
    main()
