"""The real local server: `python -m app serve` (waitress) in a subprocess, over loopback.

Requests go through urllib.request only; the server runs with a small MAX_BODY_BYTES so the
body-size limit can be exercised without megabytes of traffic.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .conftest import REPO_ROOT, b64, shared_path
from .live_server import free_port, stop_process

# Small enough to test cheaply, above the demo request (its ~431 KB of base64 JPEG in JSON).
MAX_BODY_BYTES = 500_000
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
CONCURRENT_REQUESTS = 8


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


def server_env(**settings: str) -> dict[str, str]:
    """This process's environment without any service setting, plus the given ones."""
    from app.config import Settings

    env = dict(os.environ)
    for field in dataclasses.fields(Settings):
        env.pop(field.name.upper(), None)
    env.update(settings, PYTHONUNBUFFERED="1")
    return env


def serve_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "app", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--threads", "4",
    ]  # fmt: skip


def http(
    url: str,
    *,
    data: bytes | None = None,
    content_type: str | None = None,
    method: str | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> Reply:
    """One request; HTTP error statuses are replies too (their responses get closed)."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, _lower(exc.headers), exc.read())


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclasses.dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen

    def url(self, path: str) -> str:
        return self.base_url + path


def _wait_until_healthy(process: subprocess.Popen, url: str, stderr_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the server exited with {process.returncode} before answering GET /health; "
                f"stderr:\n{stderr_path.read_text(errors='replace')}"
            )
        try:
            if http(url, timeout=2).status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(
        f"the server did not answer GET /health within {STARTUP_TIMEOUT_S:.0f} s; "
        f"stderr:\n{stderr_path.read_text(errors='replace')}"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    model_path = shared_path("models", "yolox_nano.onnx")
    logs = tmp_path_factory.mktemp("server")
    port = free_port()
    env = server_env(MODEL_PATH=str(model_path), MAX_BODY_BYTES=str(MAX_BODY_BYTES))
    # Output goes to files, not pipes: a full pipe would stall the server, and files need no
    # reader thread. Both are closed in teardown, as is the process.
    with (logs / "stdout.txt").open("wb") as out, (logs / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            serve_command(port), cwd=REPO_ROOT, env=env, stdout=out, stderr=err
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(process, base_url + "/health", logs / "stderr.txt")
            yield Server(base_url, process)
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def detect_body(demo_jpeg) -> bytes:
    body = json.dumps({"image": b64(demo_jpeg)}).encode("utf-8")
    assert len(body) < MAX_BODY_BYTES, "raise MAX_BODY_BYTES: the demo request is over it"
    return body


def comparable(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "timings_ms"}


def test_health(server):
    reply = http(server.url("/health"))

    assert reply.status == 200
    assert reply.json() == {"status": "ok", "model": "yolox_nano"}


def test_detect_demo_image(server, detect_body, demo_jpeg):
    reply = http(server.url("/detect"), data=detect_body, content_type="application/json")

    assert reply.status == 200, reply.body[:500]
    body = reply.json()
    assert body["count"] == len(body["detections"]) >= 1
    assert "car" in {d["label"] for d in body["detections"]}
    width, height = Image.open(io.BytesIO(demo_jpeg)).size
    assert body["image"] == {"width": width, "height": height}
    for found in body["detections"]:
        box = found["box"]
        assert 0 <= box["x1"] <= box["x2"] <= width, found
        assert 0 <= box["y1"] <= box["y2"] <= height, found
    assert body["model"]["name"] == "yolox_nano"
    assert body["timings_ms"]["total"] > 0


# Requests the server must refuse with a JSON error: (id, method, path, content type, body,
# status, error code). The 600 KB body is over the server's MAX_BODY_BYTES of 500,000.
OVERSIZED = json.dumps({"image": "A" * 600_000}).encode("ascii")
REFUSALS = [
    ("text_plain", "POST", "/detect", "text/plain", b'{"image": "x"}', 415,
     "unsupported_media_type"),
    ("truncated_raw_jpeg", "POST", "/detect", "image/jpeg", b"\xff\xd8\xff\xe0", 422,
     "corrupt_image"),
    ("form", "POST", "/detect", "application/x-www-form-urlencoded", b"image=x", 415,
     "unsupported_media_type"),
    ("not_json", "POST", "/detect", "application/json", b"not JSON", 400, "invalid_json"),
    ("too_large", "POST", "/detect", "application/json", OVERSIZED, 413, "payload_too_large"),
    ("unknown_route", "GET", "/nope", None, None, 404, "not_found"),
    ("wrong_method", "GET", "/detect", None, None, 405, "method_not_allowed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "content_type", "data", "status", "code"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSALS],
)
def test_refusals_are_json_errors(server, method, path, content_type, data, status, code):
    reply = http(server.url(path), data=data, content_type=content_type, method=method)

    assert reply.status == status, reply.body[:500]
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if status == 413:
        # The limit, however the message formats it ("500,000" or "500000").
        assert str(MAX_BODY_BYTES) in error["message"].replace(",", "").replace("_", "")


def test_concurrent_requests_share_one_session(server, detect_body):
    barrier = threading.Barrier(CONCURRENT_REQUESTS)

    def post() -> Reply:
        barrier.wait(timeout=REQUEST_TIMEOUT_S)  # all requests in flight together
        return http(server.url("/detect"), data=detect_body, content_type="application/json")

    with concurrent.futures.ThreadPoolExecutor(CONCURRENT_REQUESTS) as pool:
        replies = list(pool.map(lambda _: post(), range(CONCURRENT_REQUESTS)))

    assert [reply.status for reply in replies] == [200] * CONCURRENT_REQUESTS
    bodies = [comparable(reply.json()) for reply in replies]
    assert bodies[0]["count"] >= 1
    assert all(body == bodies[0] for body in bodies[1:])
    assert server.process.poll() is None, "the server died under concurrent load"


def test_serve_without_model_exits_with_one_line(tmp_path):
    missing = tmp_path / "not-fetched" / "yolox_nano.onnx"
    started = time.monotonic()
    result = subprocess.run(
        serve_command(free_port()),
        cwd=REPO_ROOT,
        env=server_env(MODEL_PATH=str(missing)),
        capture_output=True,
        text=True,
        timeout=60,  # a server that starts anyway never exits: TimeoutExpired fails the test
        check=False,
    )
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed < 30, f"took {elapsed:.1f} s to give up"
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "small-object-detect fetch-model" in lines[0]
    assert "MODEL_PATH" in lines[0]
    assert "Serving" not in result.stdout
