"""Soak: the real local server (`python -m app serve`, waitress) on loopback under sustained
concurrent load mixing valid images and the hostile corpus of tests/hostile.py.

    .venv/bin/python bench/soak.py                      # 3000 requests or 180 s, 4 clients
    .venv/bin/python bench/soak.py --requests 20000 --duration-s 1800 --clients 8

Prints the 5xx count (must be 0), answers that differ from what is expected (must be 0: hostile
inputs get their exact status and code, valid images the same detections as when sent alone),
answers by status and code, p50/p99 latency, and the server's RSS at start, after warm-up and
at the end (growth after warm-up must stay under 10 %). Exits 1 when any of those fails.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
if str(REPO_ROOT) not in sys.path:  # run as `python bench/soak.py`
    sys.path.insert(0, str(REPO_ROOT))

from tests.hostile import build_corpus, corpus_settings, error_problems  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, also when imported
from _server import serve  # noqa: E402

MAX_RSS_GROWTH = 0.10
RSS_SAMPLES = 4
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Payload:
    """One request to send, and what must come back: (status, code) or a valid answer."""

    name: str
    method: str
    path: str
    body: bytes
    content_type: str | None
    expected: tuple[int, str] | None  # None: 200 with the detections of the baseline run


@dataclass(frozen=True)
class Outcome:
    payload: Payload
    status: int  # 0: the connection failed
    code: str  # error code, "ok", or the transport error
    latency_ms: float
    as_expected: bool


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="stop after this many")
    parser.add_argument("--duration-s", type=float, default=180.0, help="or after this long")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (THREADS)")
    parser.add_argument("--model-threads", type=int, help="MODEL_THREADS (default: all CPUs)")
    parser.add_argument("--valid-fraction", type=float, default=0.5)
    parser.add_argument("--warmup", type=int, default=200, help="requests before the RSS baseline")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolox_nano.onnx")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_payloads() -> tuple[list[Payload], list[Payload]]:
    """(valid, hostile). Lying Content-Length cases are left out: http.client cannot send them
    without the server waiting for bytes that never come (that case is tests/test_hostile.py's)."""
    images = [
        SHARED / "data" / "demo" / "small-vehicles1.jpeg",
        SHARED / "data" / "demo" / "boats.jpg",
    ]
    images += sorted((SHARED / "data" / "coco-val2017-sample" / "images").glob("*.jpg"))[:6]
    valid = [
        Payload(
            f"valid/{path.name}",
            "POST",
            "/detect",
            json.dumps({"image": base64.b64encode(path.read_bytes()).decode()}).encode(),
            "application/json",
            None,
        )
        for path in images
    ]
    hostile = [
        Payload(
            case.name,
            case.method,
            case.path,
            case.body,
            case.content_type,
            (case.status, case.code),
        )
        for case in build_corpus()
        if case.content_length is None
    ]
    return valid, hostile


@contextlib.contextmanager
def local_server(args: argparse.Namespace) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python -m app serve` with the corpus' limits, until the block ends."""
    settings = {name.upper(): str(value) for name, value in corpus_settings().items()}
    settings |= {"MODEL_PATH": str(args.model), "LOG_LEVEL": "WARNING"}
    if args.model_threads:
        settings["MODEL_THREADS"] = str(args.model_threads)
    unset = ("API_KEYS", "API_KEYS_SSM_PARAMETER")
    with serve(settings, threads=args.threads, unset=unset) as (process, port):
        yield process, port


def rss_kb(pid: int) -> dict[str, int]:
    """Resident set size now (VmRSS) and at its peak (VmHWM), in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


class Client:
    """One keep-alive connection; reconnects after the server closes it."""

    def __init__(self, port: int, baseline: dict[str, list]) -> None:
        self.port = port
        self.baseline = baseline
        self.connection: http.client.HTTPConnection | None = None

    def send(self, payload: Payload) -> Outcome:
        started = time.perf_counter()
        try:
            status, content_type, body = self._exchange(payload)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Outcome(payload, 0, type(exc).__name__, _ms(started), False)
        latency_ms = _ms(started)
        if status == 200:
            answer = json.loads(body)["detections"]
            expected = (
                payload.expected is None
                and self.baseline.setdefault(payload.name, answer) == answer
            )
            return Outcome(payload, status, "ok", latency_ms, expected)
        problems = error_problems(status, content_type, body)
        code = json.loads(body)["error"]["code"] if not problems else "malformed_error_body"
        return Outcome(payload, status, code, latency_ms, payload.expected == (status, code))

    def _exchange(self, payload: Payload) -> tuple[int, str, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S
            )
        headers = {"Content-Type": payload.content_type} if payload.content_type else {}
        self.connection.request(
            payload.method, payload.path, body=payload.body or None, headers=headers
        )
        response = self.connection.getresponse()
        body = response.read()
        if response.will_close:
            self.close()
        return response.status, response.getheader("Content-Type", ""), body

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run_phase(
    port, baseline, schedule: list[Payload], clients: int, deadline: float
) -> list[Outcome]:
    """Send the schedule from `clients` threads sharing one queue, until done or the deadline."""
    queue = collections.deque(schedule)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def work() -> None:
        client = Client(port, baseline)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    break
                payload = queue.popleft()
            outcome = client.send(payload)
            with lock:
                outcomes.append(outcome)
        client.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def schedule(valid: list[Payload], hostile: list[Payload], count: int, args, rng) -> list[Payload]:
    return [
        rng.choice(valid) if rng.random() < args.valid_fraction else rng.choice(hostile)
        for _ in range(count)
    ]


def percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def report(
    outcomes: list[Outcome], early: list[Outcome], rss: dict, elapsed_s: float, args
) -> bool:
    """Print the figures; True when the soak passed. Rates and latencies are the measured phase's;
    the pass/fail counts include the baseline and warm-up requests (`early`) too."""
    checked = outcomes + early
    server_errors = sum(o.status >= 500 for o in checked)
    transport = sum(o.status == 0 for o in checked)
    unexpected = [o for o in checked if not o.as_expected]
    growth = (rss["end"]["VmRSS"] - rss["warm"]["VmRSS"]) / rss["warm"]["VmRSS"]
    print(
        f"\nsoak: {len(outcomes)} requests in {elapsed_s:.1f} s "
        f"({len(outcomes) / elapsed_s:.1f} req/s), {args.clients} clients, server "
        f"THREADS={args.threads} MODEL_THREADS={args.model_threads or 'all CPUs'} "
        f"({os.cpu_count()} CPUs), {100 * args.valid_fraction:.0f} % valid"
    )
    print(f"(+ {len(early)} baseline and warm-up requests, counted in the next three lines)")
    print(f"5xx answers:          {server_errors}")
    print(f"transport errors:     {transport}")
    print(f"unexpected answers:   {len(unexpected)}")
    for outcome in unexpected[:10]:
        expected = outcome.payload.expected or "200 as when sent alone"
        print(f"    {outcome.payload.name}: got {outcome.status} {outcome.code}, not {expected}")
    _print_answers(outcomes)
    _print_latencies(outcomes)
    for moment, sample in rss.items():
        print(
            f"server RSS {moment:<6} {sample['VmRSS'] / 1024:7.1f} MiB"
            f"  (peak so far {sample['VmHWM'] / 1024:.1f} MiB)"
        )
    print(f"RSS growth after warm-up: {100 * growth:+.1f} % (limit {100 * MAX_RSS_GROWTH:.0f} %)")
    passed = server_errors == 0 and transport == 0 and not unexpected and growth < MAX_RSS_GROWTH
    print("PASS" if passed else "FAIL")
    return passed


def _print_answers(outcomes: list[Outcome]) -> None:
    print("answers by status and code:")
    counts = collections.Counter((o.status, o.code) for o in outcomes)
    for (status, code), count in sorted(counts.items()):
        print(f"    {status} {code:<28} {count:6d}  {100 * count / len(outcomes):5.1f} %")


def _print_latencies(outcomes: list[Outcome]) -> None:
    groups = {
        "valid": [o for o in outcomes if o.payload.expected is None],
        "hostile": [o for o in outcomes if o.payload.expected is not None],
        "all": outcomes,
    }
    for kind, chosen in groups.items():
        latencies = [o.latency_ms for o in chosen]
        print(
            f"latency {kind:<8} n={len(latencies):5d}  p50 {percentile(latencies, 0.5):7.1f} ms"
            f"  p99 {percentile(latencies, 0.99):7.1f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    valid, hostile = build_payloads()
    baseline: dict[str, list] = {}
    with local_server(args) as (process, port):
        rss = {"start": rss_kb(process.pid)}
        # Every valid image once, alone: its answer is what every later one must equal.
        early = run_phase(port, baseline, valid, 1, time.monotonic() + STARTUP_TIMEOUT_S)
        warm = schedule(valid, hostile, args.warmup, args, rng)
        early += run_phase(port, baseline, warm, args.clients, time.monotonic() + args.duration_s)
        rss["warm"] = rss_kb(process.pid)
        started = time.monotonic()
        outcomes = []
        planned = schedule(valid, hostile, args.requests, args, rng)
        for part in range(RSS_SAMPLES):  # in parts, to sample the RSS along the way
            chunk = planned[
                part * len(planned) // RSS_SAMPLES : (part + 1) * len(planned) // RSS_SAMPLES
            ]
            outcomes += run_phase(port, baseline, chunk, args.clients, started + args.duration_s)
            moment = "end" if part == RSS_SAMPLES - 1 else f"{100 * (part + 1) // RSS_SAMPLES}%"
            rss[moment] = rss_kb(process.pid)
        elapsed_s = time.monotonic() - started
        alive = process.poll() is None
    passed = report(outcomes, early, rss, elapsed_s, args) and alive
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
