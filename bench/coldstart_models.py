"""Cold start and memory with 1, 2 and 4 models in MODELS_DIR: lazy (today) against eager.

    .venv/bin/python bench/coldstart_models.py               # a few minutes
    .venv/bin/python bench/coldstart_models.py --counts 1,2,4 --rounds 5

Each child is a fresh interpreter that imports `handler` (the default model loads, with its
warm-up run) and answers the first API Gateway event, as bench/coldstart.py's "ours" row; the
project is compiled to .pyc and every model has its pre-optimised copy beside it, as in the
image. "lazy" stops there (the other models would load on their first request); "eager" then
loads every other model as well, so "eager - lazy" is what loading all models at cold start
would add. RSS is the child's peak resident set (ru_maxrss) when it is done.
The models: yolox_nano (the default), yolov8n_int8, yolo26n_int8, and a second copy of
yolox_nano under another name (../shared/models has three distinct ones).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import _common
from _common import SHARED, coco_640x480, print_table, summary
from coldstart import project_copy, run_child

from app.detector.model import save_optimized

CHILD = """
import json, resource, sys, time
event = json.load(open(sys.argv[1]))
started = time.perf_counter()
import handler
imported = time.perf_counter()
response = handler.handler(event, None)
first = time.perf_counter()
assert response["statusCode"] == 200, response
service = handler.app.extensions["service"]
if sys.argv[2] == "eager":
    for name in service.names:
        service.registry.get(name)
done = time.perf_counter()
assert sys.argv[2] == "lazy" or all(service.registry.is_loaded(n) for n in service.names)
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# run_child reports every value x 1000 (seconds -> ms): RSS is sent / 1000 to arrive in MiB.
print(json.dumps({"total": done - started, "import": imported - started,
                  "first event": first - imported, "other models": done - first,
                  "rss": rss_mib / 1000}))
"""

SOURCES = [
    ("yolox_nano", "yolox_nano.onnx"),
    ("yolov8n_int8", "yolov8n_int8.onnx"),
    ("yolo26n_int8", "yolo26n_int8.onnx"),
    ("yolox-copy", "yolox_nano.onnx"),
]


def models_dir(scratch: Path, count: int) -> Path:
    folder = scratch / f"models-{count}"
    folder.mkdir()
    for name, source in SOURCES[:count]:
        shutil.copyfile(SHARED / "models" / source, folder / f"{name}.onnx")
        save_optimized(folder / f"{name}.onnx")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,2,4", help="models in MODELS_DIR, e.g. 1,2,4")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(f"bench/coldstart_models.py: {_common.machine_line()}")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        code = project_copy(scratch, compiled=True)
        event = scratch / "event.json"
        event.write_text(json.dumps(_common.apigw_v2_event(coco_640x480().read_bytes())))
        env = {**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
        subjects = {}
        for count in counts:
            folder = models_dir(scratch, count)
            child_env = {**env, "MODELS_DIR": str(folder),
                         "MODEL_PATH": str(folder / "yolox_nano.onnx")}  # fmt: skip
            for mode in ("lazy", "eager") if count > 1 else ("lazy",):
                subjects[(count, mode)] = (CHILD, [str(event), mode], child_env)
        results = {key: [] for key in subjects}
        for code_, argv, child_env in subjects.values():  # warm the file cache
            run_child(code_, argv, child_env, None)
        for _ in range(args.rounds):  # interleaved, so machine noise hits every variant alike
            for key, (code_, argv, child_env) in subjects.items():
                results[key].append(run_child(code_, argv, child_env, None))
    rows = []
    lazy_ms = {}
    for (count, mode), runs in results.items():
        median = {k: summary([r[k] for r in runs])["median"] for k in runs[0]}
        if mode == "lazy":
            lazy_ms[count] = median["total"]
        extra = median["total"] - lazy_ms[count]
        per_model = f"{extra / (count - 1):.0f}" if mode == "eager" else "-"
        rows.append((count, mode, median["total"], median["cpu"], median["other models"],
                     per_model, median["rss"]))  # fmt: skip
    print_table(
        f"Cold start by models in MODELS_DIR ({args.rounds} interleaved runs each, medians)",
        ("models", "loading", "in-process ms", "process CPU ms", "other models ms",
         "eager ms per extra model", "peak RSS MiB"),
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
