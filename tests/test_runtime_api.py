"""tests/runtime_api.py speaks the Lambda Runtime API as AWS documents it
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): driven here over HTTP as a
runtime would, without a function process."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from .live_server import serve_in_thread
from .runtime_api import MAX_RESPONSE_BYTES, RuntimeApi

ARN = "arn:aws:lambda:us-east-1:123456789012:function:small-object-detect-dev-api"
PREFIX = "/2018-06-01/runtime"


def call(url: str, path: str, body: bytes | None = None, **headers: str):
    """(status, headers, body) of one request; POST when there is a body."""
    request = urllib.request.Request(f"{url}{PREFIX}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def runtime():
    api = RuntimeApi(ARN, timeout_s=29)
    with serve_in_thread(api) as url:
        yield api, url
        api.close()


def invoke_in_background(api: RuntimeApi, event: object) -> dict:
    """Start api.invoke(event) on a thread; the dict gets its Invocation under "result"."""
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(result=api.invoke(event, wait_s=30)))
    thread.start()
    outcome["thread"] = thread
    return outcome


TOO_LARGE = b'"' + b"x" * MAX_RESPONSE_BYTES + b'"'
# What the runtime posts for the invocation, and what Lambda's client then sees:
# (path under the invocation, body, error type the invocation ends with, status of the post)
ANSWERS = [
    pytest.param("response", b'{"statusCode": 200}', None, 202, id="response"),
    pytest.param("error", b'{"errorType": "ValueError"}', "ValueError", 202, id="error"),
    pytest.param("response", TOO_LARGE, "Function.ResponseSizeTooLarge", 413, id="over_6_MB"),
]


@pytest.mark.parametrize(("kind", "body", "error_type", "status"), ANSWERS)
def test_next_hands_out_the_event_and_the_answer_ends_the_invocation(
    runtime, kind, body, error_type, status
):
    api, url = runtime
    pending = invoke_in_background(api, {"hello": "world"})
    before_ms = time.time() * 1000

    got, headers, event = call(url, "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    answered, _, _ = call(url, f"/invocation/{request_id}/{kind}", body)
    pending["thread"].join(timeout=30)

    assert (got, json.loads(event)) == (200, {"hello": "world"})
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) >= before_ms + 28_000  # the 29 s timeout
    assert answered == status
    result = pending["result"]
    assert (result.request_id, result.error_type) == (request_id, error_type)
    if error_type is None:
        assert result.body == body


def test_unknown_request_id_is_refused_and_init_errors_are_kept(runtime):
    api, url = runtime
    status, _, body = call(url, "/invocation/not-a-request/response", b"{}")
    assert (status, json.loads(body)["errorType"]) == (400, "InvalidRequestID")

    document = {"errorMessage": "DEFAULT_CONFIDENCE=2 is out of range", "errorType": "ConfigError"}
    error_type = {"Lambda-Runtime-Function-Error-Type": "ConfigError"}
    status, _, _ = call(url, "/init/error", json.dumps(document).encode(), **error_type)
    assert status == 202
    assert api.init_errors == [("ConfigError", document)]
    assert api.first_next_s is None


def test_an_invocation_ends_when_the_function_process_is_gone(runtime):
    api, _ = runtime
    with pytest.raises(RuntimeError, match="the function exited"):
        api.invoke({"hello": "world"}, wait_s=30, alive=lambda: False)
