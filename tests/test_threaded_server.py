"""One app and one onnxruntime session behind a real threaded WSGI server (waitress, in this
process, on loopback, configured as `python -m app serve` configures it): concurrent answers equal
sequential ones, and oversized bodies are stopped before they are stored."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import waitress

from app import create_app
from app.cli.serve import WAITRESS_BODY_MULTIPLE, waitress_options
from tests.conftest import b64, shared_path
from tests.hostile import JSON, build_corpus, error_problems

SERVER_THREADS = 4
MAX_BODY_BYTES = 1_000_000
CLIENT_THREADS = 8
HOSTILE_NAMES = [
    "image/png_50000x50000",
    "image/jpeg_truncated",
    "image/svg",
    "body/nan_literal",
    "body/duplicate_image_key",
    "body/text_plain",
]


@pytest.fixture(scope="module")
def server_port(yolox_model) -> Iterator[int]:
    app = create_app({"max_body_bytes": MAX_BODY_BYTES}, model=yolox_model)
    options = waitress_options(app, SERVER_THREADS)
    server = waitress.create_server(app, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()
        thread.join(timeout=10)


def exchange(port: int, body: bytes, content_type: str | None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request("POST", "/detect", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def post(port: int, body: bytes, content_type: str | None) -> tuple[int, dict]:
    """(status, JSON answer without timings); error bodies must have the documented shape."""
    status, kind, payload = exchange(port, body, content_type)
    if status != 200:
        assert error_problems(status, kind, payload) == []
    answer = json.loads(payload)
    answer.pop("timings_ms", None)
    return status, answer


@pytest.fixture(scope="module")
def requests_() -> list[tuple[bytes, str | None]]:
    images = [
        shared_path("data", "demo", "small-vehicles1.jpeg"),
        shared_path("data", "demo", "boats.jpg"),
        *sorted(shared_path("data", "coco-val2017-sample", "images").glob("*.jpg"))[:3],
    ]
    valid = [(json.dumps({"image": b64(path.read_bytes())}).encode(), JSON) for path in images]
    hostile = [
        (case.body, case.content_type) for case in build_corpus() if case.name in HOSTILE_NAMES
    ]
    assert len(hostile) == len(HOSTILE_NAMES)
    return valid + hostile


def test_concurrent_answers_equal_sequential_answers(server_port, requests_):
    sequential = [post(server_port, body, kind) for body, kind in requests_]
    assert sum(status == 200 and answer["count"] > 0 for status, answer in sequential) >= 4
    barrier = threading.Barrier(CLIENT_THREADS)

    def client(offset: int) -> list[tuple[int, dict]]:
        # Each client walks the requests from a different start, so different images overlap.
        order = [(offset + i) % len(requests_) for i in range(len(requests_))]
        barrier.wait(timeout=60)
        answers = {index: post(server_port, *requests_[index]) for index in order}
        return [answers[index] for index in range(len(requests_))]

    with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
        results = list(pool.map(client, range(CLIENT_THREADS)))

    for answers in results:
        assert answers == sequential


@pytest.mark.parametrize(
    "body_bytes", [MAX_BODY_BYTES + 1, WAITRESS_BODY_MULTIPLE * MAX_BODY_BYTES]
)
def test_oversized_bodies_get_the_apps_json_413(server_port, requests_, body_bytes):
    body = b'{"image": "' + b"A" * (body_bytes - 13) + b'"}'
    status, content_type, payload = exchange(server_port, body, JSON)

    assert (status, content_type) == (413, JSON)
    assert json.loads(payload)["error"]["code"] == "payload_too_large"
    assert post(server_port, *requests_[0])[0] == 200  # and the server is fine afterwards


def test_far_oversized_bodies_are_refused_from_the_header(server_port, requests_):
    """Past the multiple, waitress answers from Content-Length alone: the body is never sent."""
    length = WAITRESS_BODY_MULTIPLE * MAX_BODY_BYTES + 1
    with socket.create_connection(("127.0.0.1", server_port), timeout=30) as sock:
        sock.sendall(
            b"POST /detect HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {length}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk

    assert reply.startswith(b"HTTP/1.1 413 ")
    assert post(server_port, *requests_[0])[0] == 200
