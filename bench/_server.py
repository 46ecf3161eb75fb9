"""The real local server (`python -m app serve`) as a benchmark subject, over loopback."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import REPO_ROOT

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_server(model_path: Path, *, threads: int = 4) -> Iterator[tuple[int, int]]:
    """Run `python -m app serve` on a free port; yields (port, pid) once /health answers."""
    with serve({"MODEL_PATH": str(model_path)}, threads=threads) as (process, port):
        yield port, process.pid


@contextlib.contextmanager
def serve(
    settings: dict[str, str], *, threads: int, unset: tuple[str, ...] = ()
) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python -m app serve` on a free port with these settings over this environment (and
    the variables in unset removed); yields (process, port) once /health answers, stops it
    after the block."""
    env = {**os.environ, **settings, "PYTHONUNBUFFERED": "1"}
    for name in unset:
        env.pop(name, None)
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--threads", str(threads)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            _wait_until_healthy(process, port, log)
            yield process, port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_healthy(process: subprocess.Popen, port: int, log) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            sys.exit(f"the server exited early ({process.returncode}):\n{output}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        time.sleep(0.2)
    sys.exit(f"the server did not answer GET /health within {STARTUP_TIMEOUT_S:.0f} s")


def post_detect(connection: http.client.HTTPConnection, body: bytes) -> bytes:
    """One POST /detect on a keep-alive connection; fails loudly on anything but 200."""
    connection.request("POST", "/detect", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit(f"POST /detect answered {response.status}: {data[:300]!r}")
    return data
