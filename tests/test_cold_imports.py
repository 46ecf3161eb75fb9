"""Cold start: the HTTP path imports nothing it does not need (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, shared_path

# Packages an HTTP request never needs; each costs tens to hundreds of ms at a cold start.
NOT_ON_THE_HTTP_PATH = (
    "boto3", "botocore", "s3transfer", "pandas", "scipy", "matplotlib", "cv2", "torch", "tqdm",
)  # fmt: skip

CHILD = """
import base64, io, json, sys
import numpy as np
from PIL import Image

import handler

buffer = io.BytesIO()
Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(buffer, "JPEG")
body = json.dumps({"image": base64.b64encode(buffer.getvalue()).decode()})
event = json.load(open(sys.argv[1]))
event["body"] = base64.b64encode(body.encode()).decode()
response = handler.handler(event, None)
print(json.dumps({"status": response["statusCode"], "modules": sorted(sys.modules)}))
"""


def run_child(code: str, argument: Path) -> subprocess.CompletedProcess:
    """code in a fresh interpreter with argument as sys.argv[1], serving the shared YOLOX-Nano."""
    env = {
        **os.environ,
        "MODEL_PATH": str(shared_path("models", "yolox_nano.onnx")),
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.run(
        [sys.executable, "-c", code, str(argument)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_handler_and_first_request_skip_unneeded_packages():
    done = run_child(CHILD, REPO_ROOT / "tests" / "fixtures" / "events" / "apigw_http_v2.json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "onnxruntime" in loaded and "flask" in loaded  # the check saw a real request
    assert loaded.isdisjoint(NOT_ON_THE_HTTP_PATH), loaded & set(NOT_ON_THE_HTTP_PATH)


def test_only_app_training_imports_torch():
    """torch is a training dependency (requirements-train.txt): no other package may need it."""
    offenders = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in sorted((REPO_ROOT / "app").rglob("*.py"))
        if "training" not in path.parts
        and any(
            line.strip().startswith(("import torch", "from torch"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []


DETECT_CHILD = """
import json, runpy, sys

sys.argv = ["small-object-detect", "detect", sys.argv[1], "--format", "json", "--no-progress"]
try:
    runpy.run_module("app", run_name="__main__", alter_sys=True)
except SystemExit as done:
    status = done.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def test_the_detect_command_loads_no_web_framework_or_aws_sdk():
    """`python -m app detect` is the library on the command line: no Flask, no boto3."""
    done = run_child(DETECT_CHILD, shared_path("data", "demo", "small-vehicles1.jpeg"))
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["status"] == 0, done.stderr
    assert json.loads(done.stdout)["count"] > 0  # it did detect
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "onnxruntime" in loaded
    assert loaded.isdisjoint({"flask", "werkzeug", "boto3", "botocore"}), loaded
