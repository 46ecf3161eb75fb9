"""Per-request latency against the floor (a bare session.run), stage by stage, in-process and
over loopback; peak RSS of the real server; session-option A/B; CPU time -> Lambda cost.

    .venv/bin/python bench/latency.py            # about a minute on 2 CPUs
    .venv/bin/python bench/latency.py --quick    # fewer iterations, for a smoke run
    .venv/bin/python bench/latency.py --plot docs/img   # also latency-stages.svg for the docs

Every figure is a median (and p90) over interleaved rounds, so that noise from other work on the
machine hits every row alike; ratios compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import _common
import _plots
import numpy as np
from _common import DEFAULT_MODEL, LARGE_IMAGE, coco_640x480, print_table, require, summary
from _cost import LAMBDA_MEMORY_MB, cost_table, lambda_threads
from _server import local_server, post_detect

from app import create_app
from app.detector import DetectOptions, Model, detect_bytes, load_model
from app.detector.cpus import usable_cpus, whole_cpus
from app.detector.draft import decode_scaled
from app.detector.model import PROVIDERS, create_session, session_options
from app.detector.pipeline import DetectionResult
from app.detector.postprocess import postprocess
from app.detector.preprocess import decode_image, letterbox, to_tensor
from app.schemas.detect import decode_base64_image, detection_response, parse_json_body

TARGET_RATIO = 1.25
TARGET_RSS_MB = 250
MAX_PIXELS = 100_000_000
END_TO_END = "POST /detect in-process, slicing off"
AB_BLOCK = 10  # consecutive calls per step and round in the session A/B


def timed_rounds(
    steps: dict[str, Callable[[], object]],
    rounds: int,
    *,
    cpu: dict | None = None,
    block: int = 1,
) -> dict[str, list[float]]:
    """Run every step `block` times per round, steps in a shuffled order; returns wall ms per
    call. cpu: if given, also filled with process CPU ms per call (all threads); block > 1
    keeps a step's pool threads, still spinning after it, from charging the next step.
    """
    for step in steps.values():  # warm caches, lazy imports and allocators first
        step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for name in steps:
        (cpu if cpu is not None else {})[name] = []
    order = list(steps.items())
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)  # a step right after session.run shares the CPUs with its spinning pool
        for name, step in order:
            for _ in range(block):
                cpu_started, started = time.process_time(), time.perf_counter()
                step()
                samples[name].append((time.perf_counter() - started) * 1000)
                if cpu is not None:
                    cpu[name].append((time.process_time() - cpu_started) * 1000)
    return samples


def input_feed(model, data: bytes) -> dict[str, np.ndarray]:
    """The session.run feed for these image bytes, prepared as the pipeline prepares it."""
    info = model.info
    image = decode_image(data, max_pixels=MAX_PIXELS)
    canvas, _ = letterbox(image, info.input_wh, centered=info.layout.centered)
    batch = np.empty((1, 3, info.input_wh[1], info.input_wh[0]), np.float32)
    to_tensor(canvas, bgr=info.layout.bgr, scale=info.layout.input_scale, out=batch[0])
    return {info.input_name: batch}


def stage_steps(model, data: bytes, client) -> dict[str, Callable[[], object]]:
    """The floor, each stage of POST /detect on fixed inputs, and the whole request."""
    info, options = model.info, DetectOptions()
    # Whole-image pass only: the ratio compares one model call with one model call. The
    # default (slicing "auto") slices images >= 2x the model input; that row is separate.
    body = _common.detect_body(data, slicing={"mode": "off"})
    default_body = _common.detect_body(data)
    text = json.loads(body)["image"]
    decoded = decode_scaled(data, max_pixels=MAX_PIXELS, min_size_wh=info.input_wh)
    image = decoded.pixels
    canvas, box = letterbox(image, info.input_wh, centered=info.layout.centered)
    batch = np.empty((1, 3, info.input_wh[1], info.input_wh[0]), np.float32)
    to_tensor(canvas, bgr=info.layout.bgr, scale=info.layout.input_scale, out=batch[0])
    feed = {info.input_name: batch}
    output = model.run(batch)
    candidates = info.layout.decoder(output, info.input_wh, options.confidence, 80)
    found = postprocess(candidates, options, needs_nms=info.layout.needs_nms)
    result = DetectionResult(found, decoded.image_wh, {"total": 1.0})
    full = decode_image(data, max_pixels=MAX_PIXELS)
    return {
        "floor: bare session.run": lambda: model.session.run(None, feed),
        "parse JSON body": lambda: parse_json_body(body),
        "base64 decode": lambda: decode_base64_image(text, 1 << 30),
        f"image decode (JPEG scale 1/{decoded.draft_scale})": lambda: decode_scaled(
            data, max_pixels=MAX_PIXELS, min_size_wh=info.input_wh
        ),
        "A/B: image decode, full size": lambda: decode_image(data, max_pixels=MAX_PIXELS),
        "A/B: letterbox from full size": lambda: letterbox(
            full, info.input_wh, centered=info.layout.centered
        ),
        "letterbox": lambda: letterbox(image, info.input_wh, centered=info.layout.centered),
        "to_tensor": lambda: to_tensor(
            canvas, bgr=info.layout.bgr, scale=info.layout.input_scale, out=batch[0]
        ),
        "output decode": lambda: info.layout.decoder(output, info.input_wh, 0.25, 80),
        "NMS + top-k": lambda: postprocess(candidates, options, needs_nms=True),
        "to image px": lambda: decoded.to_image(box.to_image(found.xyxy, image.size)),
        "JSON response": lambda: json.dumps(detection_response(result, info)),
        "pipeline, no HTTP: detect_bytes + JSON": lambda: json.dumps(
            detection_response(detect_bytes(model, data, options), info)
        ),
        END_TO_END: lambda: _post(client, body),
        "POST /detect in-process, default slicing (auto)": lambda: _post(client, default_body),
    }


def _post(client, body: bytes) -> None:
    response = client.post("/detect", data=body, content_type="application/json")
    if response.status_code != 200:
        raise SystemExit(f"POST /detect answered {response.status_code}: {response.data[:300]!r}")


def _median_p90(samples: list[float]) -> tuple[float, float]:
    stats = summary(samples)
    return stats["median"], stats["p90"]


def stage_table(name: str, samples: dict[str, list[float]], end_to_end: str) -> float:
    """Print one image's stage table; returns end_to_end / floor (medians)."""
    floor = summary(samples["floor: bare session.run"])["median"]
    rows = []
    for stage, values in samples.items():
        stats = summary(values)
        rows.append((stage, stats["median"], stats["p90"], f"{stats['median'] / floor:.2f}x"))
    print_table(name, ("stage", "median ms", "p90 ms", "/ floor"), rows)
    return summary(samples[end_to_end])["median"] / floor


# Where a request's time goes: stage rows of stage_steps -> the part of the request they are.
STAGE_PARTS = {
    "parse JSON body": "decode",
    "base64 decode": "decode",
    "image decode (": "decode",
    "letterbox": "preprocess",
    "to_tensor": "preprocess",
    "floor: bare session.run": "inference",
    "output decode": "postprocess",
    "NMS + top-k": "postprocess",
    "to image px": "postprocess",
    "JSON response": "postprocess",
}
PIPELINE = "pipeline, no HTTP: detect_bytes + JSON"


def request_parts(samples: dict[str, list[float]]) -> dict[str, float]:
    """Median ms of each part of one in-process POST /detect: the stages measured one by one,
    what the pipeline takes beyond their sum, and what Flask adds on top of the pipeline."""
    medians = {name: summary(values)["median"] for name, values in samples.items()}
    parts = dict.fromkeys(("decode", "preprocess", "inference", "postprocess"), 0.0)
    for stage, value in medians.items():
        part = next((p for prefix, p in STAGE_PARTS.items() if stage.startswith(prefix)), None)
        if part is not None:
            parts[part] += value
    parts["pipeline, other"] = max(0.0, medians[PIPELINE] - sum(parts.values()))
    parts["HTTP (Flask)"] = max(0.0, medians[END_TO_END] - sum(parts.values()))
    return parts


def plot_stages(folder: Path, parts: dict[Path, dict[str, float]], floors: dict[Path, float]):
    """latency-stages.svg: per image, the model floor alone and a request's parts stacked."""
    from PIL import Image

    bars = {}
    for path, request in parts.items():
        with Image.open(path) as image:
            size = f"{image.width}x{image.height} JPEG"
        bars[f"{size}: model floor"] = {"inference": floors[path]}
        bars[f"{size}: POST /detect"] = request
    _plots.stacked_bars(
        folder / "latency-stages.svg",
        "Where a POST /detect's time goes, against the model floor\n"
        "in-process, slicing off; median ms; floor = bare session.run",
        bars,
        ["decode", "preprocess", "inference", "postprocess", "pipeline, other", "HTTP (Flask)"],
        xlabel="milliseconds (median)",
    )


def loopback(model, model_path, data: bytes, rounds: int) -> tuple[dict[str, list[float]], float]:
    """POST /detect through the real server (keep-alive) beside the floor; returns peak RSS MB."""
    feed = input_feed(model, data)
    body = _common.detect_body(data)
    large_body = _common.detect_body(LARGE_IMAGE.read_bytes())
    with local_server(model_path) as (port, pid):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        post_detect(connection, large_body)  # the peak includes a 1920x1080 request
        samples = timed_rounds(
            {
                "floor: bare session.run": lambda: model.session.run(None, feed),
                "POST /detect over loopback": lambda: post_detect(connection, body),
            },
            rounds,
        )
        post_detect(connection, large_body)
        connection.close()
        peak_mb = _common.vm_kib(pid, "VmHWM") / 1024
    return samples, peak_mb


def session_ab(model, model_path, data: bytes, rounds: int) -> None:
    """Session options A/B on the 640x480 image: bare session.run and the whole in-process
    request, wall and process CPU; then 1 against 2 threads pinned to one CPU (a 1-vCPU
    Lambda). Sessions take turns in blocks of AB_BLOCK calls; sharing the CPU caches among
    them inflates every row alike: compare rows, not these figures with other tables."""
    import onnxruntime as ort

    threads = usable_cpus()
    spins = 1 < threads <= whole_cpus()  # the product's rule (model.session_options)
    on_off = {True: "on", False: "off"}
    sessions = {
        f"product: {threads} threads, spinning {on_off[spins]}": model.session,
        f"{threads} threads, spinning {on_off[not spins]}": ort.InferenceSession(
            str(model_path), session_options(allow_spinning=not spins), providers=PROVIDERS
        ),
        "1 thread": create_session(model_path, threads=1),
        "onnxruntime defaults": ort.InferenceSession(str(model_path), providers=PROVIDERS),
    }
    _session_table("Session options A/B (640x480)", sessions, model, data, rounds)
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        allowed = os.sched_getaffinity(0)
        # onnxruntime's pool threads inherit the affinity of the thread creating the session.
        os.sched_setaffinity(0, {min(allowed)})
        try:
            pinned = {f"1 CPU, {n} threads": create_session(model_path, threads=n) for n in (1, 2)}
            pinned["1 CPU, 2 threads, spinning on"] = ort.InferenceSession(
                str(model_path), session_options(2, allow_spinning=True), providers=PROVIDERS
            )
            _session_table("Oversubscription A/B: pinned to 1 CPU", pinned, model, data, rounds)
        finally:
            os.sched_setaffinity(0, allowed)


def _session_table(title: str, sessions: dict, model, data: bytes, rounds: int) -> None:
    """Bare run and POST /detect per session, interleaved."""
    feed, body = input_feed(model, data), _common.detect_body(data)
    steps = {}
    for name, session in sessions.items():
        client = create_app(model=Model(session, model.info)).test_client()
        steps[(name, "run")] = lambda s=session: s.run(None, feed)
        steps[(name, "POST")] = lambda c=client: _post(c, body)
    cpu: dict = {}
    wall = timed_rounds(steps, max(1, rounds // AB_BLOCK), cpu=cpu, block=AB_BLOCK)
    med = {key: (summary(wall[key])["median"], summary(cpu[key])["median"]) for key in steps}
    rows = [(name, *med[(name, "run")], *med[(name, "POST")]) for name in sessions]
    print_table(title, ("session", "run ms", "run CPU ms", "POST ms", "POST CPU ms"), rows)


def cpu_per_request(model_path, data: bytes, rounds: int) -> dict[int, tuple[float, float]]:
    """threads -> (wall, process CPU) ms per in-process POST /detect, for the thread counts
    the service picks at the Lambda sizes priced; requests back to back as a Lambda
    environment serves them (one session at a time: no cache sharing)."""
    body = _common.detect_body(data)
    measured = {}
    for threads in sorted({lambda_threads(memory_mb) for memory_mb in LAMBDA_MEMORY_MB}):
        client = create_app(model=load_model(model_path, threads=threads)).test_client()
        cpu: dict = {}
        wall = timed_rounds({"POST": lambda c=client: _post(c, body)}, rounds, cpu=cpu)
        measured[threads] = (summary(wall["POST"])["median"], summary(cpu["POST"])["median"])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=require, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=100, help="rounds for the 640x480 image")
    parser.add_argument("--quick", action="store_true", help="a fifth of the rounds")
    parser.add_argument(
        "--plot", type=Path, metavar="DIR", help="also write latency-stages.svg to DIR"
    )
    args = parser.parse_args()
    rounds = max(5, args.rounds // 5) if args.quick else args.rounds
    print(f"bench/latency.py: {_common.machine_line()}; model {args.model.name}")
    model = load_model(args.model)
    client = create_app(model=model).test_client()
    small, large = coco_640x480(), require(LARGE_IMAGE)
    ratios, parts, floors = {}, {}, {}
    for path, n in ((small, rounds), (large, max(5, rounds // 3))):
        samples = timed_rounds(stage_steps(model, path.read_bytes(), client), n)
        ratios[path.name] = stage_table(f"{path.name}: stages ({n} rounds)", samples, END_TO_END)
        parts[path] = request_parts(samples)
        floors[path] = summary(samples["floor: bare session.run"])["median"]
    if args.plot:
        plot_stages(args.plot, parts, floors)
    loop, peak_mb = loopback(model, args.model, small.read_bytes(), max(5, rounds // 2))
    loop_ratio = stage_table(
        f"{small.name}: over loopback (keep-alive)", loop, "POST /detect over loopback"
    )
    session_ab(model, args.model, small.read_bytes(), max(5, rounds // 2))
    cost_table(cpu_per_request(args.model, small.read_bytes(), rounds))
    print_table(
        "Summary",
        ("measure", "result", "target", "met"),
        [
            (f"in-process / floor, {small.name}", f"{ratios[small.name]:.2f}x",
             f"<= {TARGET_RATIO}x", ratios[small.name] <= TARGET_RATIO),
            (f"in-process / floor, {large.name}", f"{ratios[large.name]:.2f}x", "-", "-"),
            (f"loopback / floor, {small.name}", f"{loop_ratio:.2f}x", "-", "-"),
            ("server peak RSS (VmHWM)", f"{peak_mb:.0f} MB", f"<= {TARGET_RSS_MB} MB",
             peak_mb <= TARGET_RSS_MB),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
