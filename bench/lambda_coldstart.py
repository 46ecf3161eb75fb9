"""Cold start as Lambda's REPORT line shows it, with the function run the way Lambda runs it
(tests/local_lambda.py), against a bare model load measured in the same run.

    .venv/bin/python bench/lambda_coldstart.py              # 5 rounds; as root (the sandbox)
    .venv/bin/python bench/lambda_coldstart.py --rounds 9

Each round starts the `api` function of serverless.yml afresh: its task root laid out by
scripts/lambda_task_root.sh, read-only, under `python -m awslambdaric handler.handler`, as a
user of its own, against a local Runtime API and a moto server.
Init Duration: the process's start to its first `next` call (interpreter, awslambdaric, then
`import handler`: the Flask app, the model load and its warm-up run).
First / second invocation: an API Gateway HTTP API (v2) POST /detect of a 640x480 COCO JPEG,
from the event handed out to the answer received.
Floor: a fresh interpreter, same user and sandbox, that imports onnxruntime, creates a session
on the same model file (default options) and runs it once; its process start to exit.
Peak RSS: the function's VmHWM after both invocations, against its memory size.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common
from _common import DEFAULT_MODEL, apigw_v2_event, coco_640x480, print_table, require
from coldstart import FLOOR_CHILD

from tests.lambda_sandbox import Sandbox, SandboxUnavailable
from tests.local_lambda import moto_server, run_function
from tests.serverless_config import function_config

MODEL = "yolox_nano"


def floor_ms(sandbox: Sandbox, model: Path) -> tuple[float, float]:
    """The bare model load in the function's sandbox: (process start to exit, its own first
    statement to its end), ms."""
    argv = sandbox.command([sys.executable, "-c", FLOOR_CHILD, str(model), "1", "bare"])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(sandbox.home), "TMPDIR": str(sandbox.tmp)}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=sandbox.tmp, capture_output=True, check=True)
    process_ms = (time.perf_counter() - started) * 1000
    return process_ms, json.loads(done.stdout.splitlines()[-1])["total"] * 1000


def lambda_round(sandbox: Sandbox, aws_url: str, event: dict) -> dict[str, float]:
    """One cold start of the api function: Init Duration, two invocations, peak RSS."""
    config = function_config("api", sandbox.task_root)
    with run_function(sandbox, config, aws_url, models=MODEL) as function:
        function.wait_for_init()
        first, second = function.invoke(event), function.invoke(event)
        if not (first.ok and first.json()["statusCode"] == 200 and second.ok):
            sys.exit(f"the function did not answer 200:\n{function.log_tail()}")
        report = function.report()
    return {
        "init": report.init_ms,
        "first": first.duration_ms,
        "second": second.duration_ms,
        "rss": report.max_memory_mb,
        "memory size": report.memory_size_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=require, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the runtime API's request lines
    print(f"bench/lambda_coldstart.py: {_common.machine_line()}; model {args.model.name}")
    event = apigw_v2_event(coco_640x480().read_bytes())
    try:
        sandbox = Sandbox.create(MODEL, [args.model])
    except SandboxUnavailable as exc:
        sys.exit(f"cannot run the function as Lambda does here: {exc}")
    floors, rounds = [], []
    try:
        with moto_server(sandbox.base) as aws_url:
            lambda_round(sandbox, aws_url, event)  # warm the file cache, not counted
            for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
                floors.append(floor_ms(sandbox, sandbox.task_root / "model" / args.model.name))
                rounds.append(lambda_round(sandbox, aws_url, event))
    finally:
        sandbox.remove()
    report(floors, rounds)


def report(floors: list[tuple[float, float]], rounds: list[dict[str, float]]) -> None:
    floor = statistics.median(process for process, _ in floors)
    in_process = statistics.median(own for _, own in floors)
    median = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    rows = [
        ("floor: bare model load (process start to exit)", floor, "1.00x"),
        ("floor, without the interpreter's own start", in_process, f"{in_process / floor:.2f}x"),
    ]
    for name, label in (
        ("init", "Init Duration"),
        ("first", "first invocation (Duration)"),
        ("second", "second invocation (Duration)"),
    ):
        rows.append((label, median[name], f"{median[name] / floor:.2f}x"))
    print_table(f"Local Lambda, medians of {len(rounds)} cold starts (ms)",
                ("measure", "ms", "/ floor"), rows)  # fmt: skip
    share = median["rss"] / median["memory size"]
    print_table("Memory", ("measure", "MB", "of memory size"), [
        ("Max Memory Used (peak RSS, VmHWM)", median["rss"], f"{share:.1%}"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", median["memory size"], "100%"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
