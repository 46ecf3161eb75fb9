"""Cold start against the floor, in fresh interpreters, several interleaved runs, medians.

    .venv/bin/python bench/coldstart.py               # about a minute
    .venv/bin/python bench/coldstart.py --cpus 1      # children pinned to one CPU
    .venv/bin/python bench/coldstart.py --importtime  # also: the costliest imports of `handler`
    .venv/bin/python bench/coldstart.py --baseline ../main  # also: another checkout's cold start

floor: `import onnxruntime` + a bare InferenceSession (default options) + one session.run;
       also with the service's session options (threads, no spinning), for comparison.
ours:  `import handler` (Flask app, model loaded with its warm-up run) + the first API Gateway
       HTTP API (v2) event, a base64 JPEG, answered by `handler.handler`; built as the image
       should be: pre-optimised model copy beside the model, app code compiled to .pyc.
A/B rows each take one of those measures away, so each one's gain is measured in the same run.
Times run from the child's first statement to its answer ("in-process"); "process" adds the
interpreter's own start-up, the same for every variant; "process CPU" is the child's user +
system CPU time (all threads), the steadier figure when other work shares the machine.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import DEFAULT_MODEL, REPO_ROOT, coco_640x480, print_table, require, summary

from app.detector.model import optimized_path, save_optimized

TARGET_RATIO = 1.6
FLOOR = "floor: import onnxruntime + session + 1 run"
TUNED_FLOOR = "floor with our session options"
OURS = "ours: import handler + first event"
# A/B only: handler.py turns the cyclic GC off during init; this makes that a no-op.
KEEP_GC = "import gc\ngc.disable = lambda: None\n"

FLOOR_CHILD = """
import json, os, sys, time
started = time.perf_counter()
import numpy as np
import onnxruntime as ort
imported = time.perf_counter()
options = ort.SessionOptions()
if sys.argv[3] == "tuned":  # the session options the service uses (app/detector/model.py)
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
created = time.perf_counter()
shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
for _ in range(int(sys.argv[2])):
    session.run(None, {session.get_inputs()[0].name: np.zeros(shape, np.float32)})
done = time.perf_counter()
print(json.dumps({"total": done - started, "import": imported - started,
                  "session": created - imported, "run": done - created}))
"""

HANDLER_CHILD = """
import gc, json, sys, time
event = json.load(open(sys.argv[1]))  # the Lambda runtime hands over a parsed event
in_gc = [0.0, 0.0]  # seconds spent in cyclic-GC passes, start of the current pass
gc.callbacks.append(lambda phase, info: in_gc.__setitem__(
    phase == "start", time.perf_counter() - in_gc[1] + in_gc[0] if phase == "stop" else
    time.perf_counter()))
started = time.perf_counter()
import handler
imported = time.perf_counter()
response = handler.handler(event, None)
done = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"total": done - started, "import": imported - started,
                  "first event": done - imported, "in GC": in_gc[0]}))
"""


def run_child(code: str, argv: list[str], env: dict[str, str], cpus: set[int] | None) -> dict:
    # cwd is the interpreter's first import path for `-c`: run where no project code lies,
    # so that PYTHONPATH alone says which copy of the project is imported.
    """One fresh interpreter; its timings in ms, plus the whole process's wall time."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        preexec_fn=pin,
        check=False,
    )
    wall_s = time.perf_counter() - started
    cpu_s = _children_cpu_s() - cpu_before
    if done.returncode != 0:
        sys.exit(f"a benchmark child failed:\n{done.stderr[-3000:]}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    timings.update(process=wall_s, cpu=cpu_s)
    return {name: seconds * 1000 for name, seconds in timings.items()}


def _children_cpu_s() -> float:
    """User + system CPU seconds of all waited-for children: less swayed by other load than
    wall time, since waiting for a busy CPU costs no CPU time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def model_dirs(model: Path, scratch: Path) -> tuple[Path, Path]:
    """The model alone, and the model beside its pre-optimised copy (what the image ships)."""

    plain, optimised = scratch / "plain" / model.name, scratch / "optimised" / model.name
    for path in (plain, optimised):
        path.parent.mkdir()
        shutil.copyfile(model, path)
    save_optimized(optimised)
    return plain, optimised


def project_copy(scratch: Path, *, compiled: bool, root: Path = REPO_ROOT) -> Path:
    """The project's code as the image ships it: compiled to .pyc at build time, or not (a
    plain COPY). The children never write .pyc, as on Lambda's read-only /var/task."""
    target = scratch / f"{root.name}-{'compiled' if compiled else 'source'}"
    shutil.copytree(root / "app", target / "app", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(root / "handler.py", target / "handler.py")
    if compiled:
        compileall.compile_dir(target, quiet=1)
    return target


def variants(
    model: Path, scratch: Path, baseline: Path | None = None
) -> dict[str, tuple[str, list[str], dict[str, str]]]:
    plain, optimised = model_dirs(model, scratch)
    compiled, uncompiled = (project_copy(scratch, compiled=flag) for flag in (True, False))
    event = scratch / "event.json"
    event.write_text(json.dumps(_common.apigw_v2_event(coco_640x480().read_bytes())))
    env = {**os.environ, "PYTHONPATH": str(compiled), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MODEL_PATH", None)
    shipped = {**env, "MODEL_PATH": str(optimised)}
    before = {}
    if baseline is not None:  # another checkout of the project, e.g. main before a change
        old_code = project_copy(scratch, compiled=True, root=baseline)
        before = {f"baseline: {baseline}": (
            HANDLER_CHILD, [str(event)], {**shipped, "PYTHONPATH": str(old_code)}
        )}  # fmt: skip
    return before | {
        FLOOR: (FLOOR_CHILD, [str(model), "1", "bare"], env),
        "floor + a 2nd run (= the warm-up's price)": (
            FLOOR_CHILD, [str(model), "2", "bare"], env
        ),
        TUNED_FLOOR: (FLOOR_CHILD, [str(model), "1", "tuned"], env),
        "floor with our options, pre-optimised copy": (
            FLOOR_CHILD, [str(optimized_path(optimised)), "1", "tuned"], env
        ),
        OURS: (HANDLER_CHILD, [str(event)], shipped),
        "A/B: ours without the pre-optimised copy": (
            HANDLER_CHILD, [str(event)], {**shipped, "MODEL_PATH": str(plain)}
        ),
        "A/B: ours with GC left on during init": (
            KEEP_GC + HANDLER_CHILD, [str(event)], shipped
        ),
        "A/B: ours with app code not compiled": (
            HANDLER_CHILD, [str(event)], {**shipped, "PYTHONPATH": str(uncompiled)}
        ),
    }  # fmt: skip


def measure(
    subjects: dict[str, tuple[str, list[str], dict[str, str]]], rounds: int, cpus
) -> dict[str, list[dict]]:
    """Interleaved: every variant once per round, so machine noise hits them alike."""
    results: dict[str, list[dict]] = {name: [] for name in subjects}
    for code, argv, env in subjects.values():  # warm the OS file cache first
        run_child(code, argv, env, cpus)
    for _ in range(rounds):
        for name, (code, argv, env) in subjects.items():
            results[name].append(run_child(code, argv, env, cpus))
    return results


def report(results: dict[str, list[dict]]) -> dict[str, tuple[float, float]]:
    """Print the table; returns each variant's (in-process, process CPU) medians in ms."""
    floor = summary([r["total"] for r in results[FLOOR]])["median"]
    rows, medians = [], {}
    for name, runs in results.items():
        total = summary([r["total"] for r in runs])
        parts = [k for k in runs[0] if k not in ("total", "process", "cpu")]
        breakdown = ", ".join(f"{k} {summary([r[k] for r in runs])['median']:.0f}" for k in parts)
        process = summary([r["process"] for r in runs])["median"]
        cpu = summary([r["cpu"] for r in runs])["median"]
        medians[name] = (total["median"], cpu)
        ratio = f"{total['median'] / floor:.2f}x"
        rows.append((name, total["median"], total["p90"], ratio, process, cpu, breakdown))
    print_table(
        f"Cold start ({len(results[FLOOR])} interleaved runs each, ms)",
        ("variant", "in-process", "p90", "/ floor", "process", "process CPU", "parts"),
        rows,
    )
    return medians


def summary_rows(medians: dict[str, tuple[float, float]]) -> list[tuple]:
    """The target, then what each measure of ours saves (its A/B row minus ours)."""
    ours, floor = medians[OURS], medians[FLOOR]
    ratio = ours[0] / floor[0]
    tuned = ours[0] / medians[TUNED_FLOOR][0]
    rows = [
        (f"{OURS} / floor", f"{ratio:.2f}x", f"<= {TARGET_RATIO}x", ratio <= TARGET_RATIO),
        (f"{OURS} / {TUNED_FLOOR}", f"{tuned:.2f}x", "-", "-"),
    ]
    for name, (total, cpu) in medians.items():
        if name.startswith(("A/B", "baseline")):
            saved = f"{total - ours[0]:+.0f} ms in-process, {cpu - ours[1]:+.0f} ms CPU"
            rows.append((name.removeprefix("A/B: ours "), saved, "-", "-"))
    return rows


def import_costs(model: Path, code_dir: Path, top: int = 15) -> None:
    """`python -X importtime -c 'import handler'`, summed by top-level package."""
    env = {
        **os.environ, "PYTHONPATH": str(code_dir), "MODEL_PATH": str(model),
        "PYTHONDONTWRITEBYTECODE": "1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import handler"],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    self_ms: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _, name = line[12:].split("|")
        package = name.strip().split(".")[0]
        self_ms[package] = self_ms.get(package, 0.0) + int(self_us) / 1000
    rows = sorted(self_ms.items(), key=lambda item: -item[1])[:top]
    print_table(
        "`import handler` by package: own import time (-X importtime inflates it; `handler` "
        "itself is create_app, i.e. the model load and its warm-up run)",
        ("package", "ms"),
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=require, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cpus", type=int, help="pin the children to this many CPUs")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout of the project to compare (e.g. main)"
    )
    args = parser.parse_args()
    cpus = set(sorted(os.sched_getaffinity(0))[: args.cpus]) if args.cpus else None
    pinned = f", children pinned to CPU(s) {sorted(cpus)}" if cpus else ""
    print(f"bench/coldstart.py: {_common.machine_line()}; model {args.model.name}{pinned}")
    with tempfile.TemporaryDirectory() as scratch:
        subjects = variants(args.model, Path(scratch), args.baseline)
        medians = report(measure(subjects, args.rounds, cpus))
        if args.importtime:
            import_costs(args.model, Path(scratch) / f"{REPO_ROOT.name}-compiled")
    print_table("Summary (A/B rows: the cost of leaving that measure out)",
                ("measure", "result", "target", "met"), summary_rows(medians))  # fmt: skip


if __name__ == "__main__":
    main()
