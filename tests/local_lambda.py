"""The function run the way Lambda runs it: the task root (tests/lambda_sandbox.py) under
`python -m awslambdaric <handler>`, as the AWS Python base image starts it, against a local
Runtime API (tests/runtime_api.py), with AWS at a moto server in its own process, reached over
HTTP through AWS_ENDPOINT_URL. tests/test_local_lambda.py runs its scenarios so, and
`python -m tests.run_lambda` sends one event so (docs/deploy-aws.md, "Run it as Lambda does,
locally").
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .aws_events import ACCOUNT_ID
from .lambda_sandbox import Sandbox
from .live_server import free_port, serve_in_thread, stop_process
from .runtime_api import Invocation, RuntimeApi
from .serverless_config import FunctionConfig

STARTUP_TIMEOUT_S = 120.0  # generous: the test machine may be busy with other work
# What Lambda hands every function (besides its own settings); credentials are dummies that
# only the moto server sees.
LAMBDA_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto's server in its own process on loopback; yields its URL. It records every request
    it gets (moto's recorder), which is how IoT Data publishes are read back over HTTP."""
    port = free_port()
    env = {
        **os.environ,
        "MOTO_ENABLE_RECORDING": "1",
        "MOTO_RECORDER_FILEPATH": str(workdir / "moto-recording.jsonl"),
    }
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(workdir / "moto.log", "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(lambda: _answers(f"{url}/moto-api/data.json"), process, "moto server")
            yield url
        finally:
            _stop(process)


@dataclass(frozen=True)
class Report:
    """Lambda's REPORT line for the first invocation of an execution environment."""

    init_ms: float  # process start to the first `next` call
    max_memory_mb: float  # the process's peak RSS (VmHWM) so far
    memory_size_mb: int


class LocalLambda:
    """One execution environment: the Runtime API and the function process behind it."""

    def __init__(
        self,
        function: FunctionConfig,
        api: RuntimeApi,
        process: subprocess.Popen,
        log: Path,
        started_s: float,
    ) -> None:
        self.function, self.api, self.process = function, api, process
        self.log, self.started_s = log, started_s

    def invoke(self, event: object, *, wait_s: float = STARTUP_TIMEOUT_S) -> Invocation:
        if not self.alive():
            raise RuntimeError(f"the function has exited:\n{self.log_tail()}")
        try:
            return self.api.invoke(event, wait_s=wait_s, alive=self.alive)
        except (RuntimeError, TimeoutError) as exc:
            raise type(exc)(f"{exc}\n{self.log_tail()}") from None

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_init(self) -> None:
        """Until the function asks for its first event, or its init failed (init_errors)."""
        _wait_for(lambda: self.api.first_next_s or self.api.init_errors, self.process, "init")

    def report(self) -> Report:
        """Init Duration and the peak RSS so far (call it while the process runs)."""
        if self.api.first_next_s is None:
            raise RuntimeError(f"init has not finished:\n{self.log_tail()}")
        return Report(
            init_ms=(self.api.first_next_s - self.started_s) * 1000,
            max_memory_mb=peak_rss_mb(self.process.pid),
            memory_size_mb=self.function.memory_mb,
        )

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


def function_environment(
    function: FunctionConfig, sandbox: Sandbox, runtime_api: str, aws_url: str, models: str
) -> dict[str, str]:
    """The environment Lambda gives the function: its own, the image's, serverless.yml's."""
    return {
        **LAMBDA_ENV,
        "LAMBDA_TASK_ROOT": str(sandbox.task_root),
        "_HANDLER": function.handler,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_s),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local/[$LATEST]0",
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_ENDPOINT_URL": aws_url,
        "HOME": str(sandbox.home),
        "TMPDIR": str(sandbox.tmp),
        # The Dockerfile's ENV: the first model of MODEL is the default.
        "MODEL_PATH": str(sandbox.task_root / "model" / f"{models.split(',')[0]}.onnx"),
        **function.environment,
    }


@contextlib.contextmanager
def run_function(
    sandbox: Sandbox,
    function: FunctionConfig,
    aws_url: str,
    *,
    models: str,
    settings: Mapping[str, str] | None = None,
) -> Iterator[LocalLambda]:
    """Start the function (settings: environment variables over serverless.yml's); yields it
    once it started (waiting for init is `wait_for_init`), stops it after the block."""
    arn = f"arn:aws:lambda:{function.region}:{ACCOUNT_ID}:function:{function.name}"
    api = RuntimeApi(arn, function.timeout_s)
    with serve_in_thread(api) as url, tempfile.NamedTemporaryFile(suffix=".log") as log:
        runtime = url.removeprefix("http://")
        env = function_environment(function, sandbox, runtime, aws_url, models)
        env.update(settings or {})
        argv = sandbox.command([sys.executable, "-m", "awslambdaric", function.handler])
        started_s = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=sandbox.task_root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield LocalLambda(function, api, process, Path(log.name), started_s)
        finally:
            _stop(process)
            api.close()


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process, in MiB: the nearest figure to Lambda's Max Memory Used
    (which counts the whole execution environment; here, the function's process alone)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(ready, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            if ready():
                return
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {STARTUP_TIMEOUT_S} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    stop_process(process)
