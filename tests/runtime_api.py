"""A local Lambda Runtime API: the HTTP service Lambda offers the runtime inside an execution
environment, so that `python -m awslambdaric handler.handler` runs here as it runs there.

Follows "AWS Lambda runtime API" (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html),
version 2018-06-01:
    GET  /2018-06-01/runtime/invocation/next                 blocks until an event, 200 with
         Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
    POST /2018-06-01/runtime/invocation/{RequestId}/response  202, the function's answer
    POST /2018-06-01/runtime/invocation/{RequestId}/error     202, an error document
         (errorMessage, errorType, stackTrace), optionally Lambda-Runtime-Function-Error-Type
    POST /2018-06-01/runtime/init/error                       202, init failed (the runtime exits)
An unknown request id answers 400, a response over Lambda's 6 MB synchronous payload 413 (the
invocation then fails with Function.ResponseSizeTooLarge, as Lambda reports it). One invocation
at a time, as in one execution environment.

Times are time.perf_counter() of this process: the first `next` call ends the init phase, and
an invocation lasts from its event being handed out to its answer (Lambda's REPORT line).
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6_291_556  # Lambda's synchronous response limit, as the runtime API says
INVOCATION_PATH = re.compile(rf"{PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
TOO_LARGE = (
    f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
)
POLL_S = 0.2  # how often a wait checks whether the environment (or its process) is gone


@dataclass(frozen=True)
class Invocation:
    """What the function answered: a response, or an error document (`error_type` set)."""

    request_id: str
    body: bytes
    error_type: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def json(self):
        return json.loads(self.body)


@dataclass
class _Pending:
    request_id: str
    event: bytes
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    started_s: float = 0.0
    result: Invocation | None = None


class RuntimeApi:
    """One execution environment's Runtime API, as a WSGI app (serve it with
    tests/live_server.py); `invoke` is what Lambda's Invoke does."""

    def __init__(self, function_arn: str, timeout_s: int) -> None:
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.first_next_s: float | None = None
        self.init_errors: list[tuple[str | None, dict]] = []  # (error type header, document)
        self._events: queue.Queue[_Pending] = queue.Queue(maxsize=1)
        self._current: _Pending | None = None
        self._one_at_a_time = threading.Lock()
        self._closed = threading.Event()

    def invoke(
        self, event: object, *, wait_s: float, alive: Callable[[], bool] = lambda: True
    ) -> Invocation:
        """Hand the event to the function; its answer. TimeoutError after wait_s, or
        RuntimeError as soon as alive() says the function's process is gone."""
        with self._one_at_a_time:
            deadline_ms = int(time.time() * 1000) + self.timeout_s * 1000
            pending = _Pending(str(uuid.uuid4()), json.dumps(event).encode(), deadline_ms)
            self._events.put(pending)
            give_up = time.monotonic() + wait_s
            while not pending.done.wait(POLL_S):
                if not alive():
                    raise RuntimeError(f"the function exited during {pending.request_id}")
                if time.monotonic() > give_up:
                    raise TimeoutError(f"no answer to {pending.request_id} in {wait_s} s")
            assert pending.result is not None
            return pending.result

    def close(self) -> None:
        """Release a `next` call still waiting (the environment is going away)."""
        self._closed.set()

    def __call__(self, environ, start_response):
        request = Request(environ)
        return self._route(request)(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.method == "GET" and request.path == f"{PREFIX}/invocation/next":
            return self._next()
        if request.method == "POST" and request.path == f"{PREFIX}/init/error":
            self.init_errors.append((_error_type(request), _document(request)))
            return _json(202, {"status": "OK"})
        match = INVOCATION_PATH.fullmatch(request.path)
        if request.method == "POST" and match:
            return self._answer(match["id"], match["kind"], request)
        return _json(404, {"errorMessage": "Not found", "errorType": "NotFound"})

    def _next(self) -> Response:
        if self.first_next_s is None:
            self.first_next_s = time.perf_counter()
        while not self._closed.is_set():
            try:
                pending = self._events.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self._current = pending
            pending.started_s = time.perf_counter()
            headers = {
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
                "Lambda-Runtime-Trace-Id": _trace_id(),
            }
            return Response(pending.event, 200, headers, content_type="application/json")
        return _json(500, {"errorMessage": "Shutting down", "errorType": "Runtime.Shutdown"})

    def _answer(self, request_id: str, kind: str, request: Request) -> Response:
        pending = self._current
        if pending is None or pending.request_id != request_id:
            unknown = {"errorMessage": f"Invalid request ID: {request_id}"}
            return _json(400, {**unknown, "errorType": "InvalidRequestID"})
        body, error_type = request.get_data(), None
        if kind == "error":  # the header is optional: awslambdaric's C client does not send it
            error_type = _error_type(request) or _document(request).get("errorType") or "Unhandled"
        too_large = kind == "response" and len(body) > MAX_RESPONSE_BYTES
        if too_large:
            error_type = "Function.ResponseSizeTooLarge"
            body = json.dumps({"errorMessage": TOO_LARGE, "errorType": error_type}).encode()
        duration_ms = (time.perf_counter() - pending.started_s) * 1000
        pending.result = Invocation(request_id, body, error_type, duration_ms)
        self._current = None
        pending.done.set()
        return _json(413, json.loads(body)) if too_large else _json(202, {"status": "OK"})


def _error_type(request: Request) -> str | None:
    return request.headers.get("Lambda-Runtime-Function-Error-Type")


def _document(request: Request) -> dict:
    try:
        return json.loads(request.get_data())
    except ValueError:
        return {"raw": request.get_data(as_text=True)}


def _trace_id() -> str:
    """An X-Ray trace header as Lambda passes it (sampling off)."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")
