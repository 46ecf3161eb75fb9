"""scripts/lambda_task_root.sh: the one layout of the function's folder, which the Dockerfile
builds the image's /var/task with and tests/test_local_lambda.py runs the function from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.detector.model import optimized_path
from tests.conftest import REPO_ROOT, shared_path

SCRIPT = REPO_ROOT / "scripts" / "lambda_task_root.sh"
AERIAL = "aerial-vehicles"  # our own model, kept in the repository's model/
# A python3 that writes its arguments to $PYTHON_CALLS and runs pip as a no-op (no network
# here), anything else as this interpreter.
RECORDING_PYTHON = f"""#!/bin/sh
echo "$*" >> "$PYTHON_CALLS"
if [ "$1 $2" = "-m pip" ]; then exit 0; fi
exec "{sys.executable}" "$@"
"""


def lay_out(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess:
    python = tmp_path / "python3"
    if not python.exists():
        python.write_text(RECORDING_PYTHON)
        python.chmod(0o755)
    env = {**os.environ, "PYTHON": str(python), "PYTHON_CALLS": str(tmp_path / "calls")}
    command = ["sh", str(SCRIPT), *map(str, args), str(tmp_path / "task")]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def python_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_lays_out_app_handler_and_the_listed_models_optimised_and_compiled(tmp_path):
    yolox = shared_path("models", "yolox_nano.onnx")
    done = lay_out(tmp_path, "--no-deps", "--models", f"yolox_nano,{AERIAL}", "--model-file", yolox)

    assert done.returncode == 0, done.stderr
    task = tmp_path / "task"
    sources = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "app").rglob("*.py")}
    assert {p.relative_to(task) for p in (task / "app").rglob("*.py")} == sources
    assert (task / "handler.py").read_bytes() == (REPO_ROOT / "handler.py").read_bytes()
    models = {p.name for p in (task / "model").glob("*.onnx")}
    served = [task / "model" / f"{name}.onnx" for name in ("yolox_nano", AERIAL)]
    assert models == {p.name for p in served} | {optimized_path(p).name for p in served}
    assert (task / "model" / "yolox_nano.onnx").read_bytes() == yolox.read_bytes()
    assert list((task / "app" / "__pycache__").glob("__init__.*.pyc"))
    assert list((task / "__pycache__").glob("handler.*.pyc"))
    assert not any("-m pip" in call for call in python_calls(tmp_path))


def test_the_image_keeps_only_the_models_it_lists(tmp_path):
    yolox = shared_path("models", "yolox_nano.onnx")
    done = lay_out(tmp_path, "--no-deps", "--models", AERIAL, "--model-file", yolox)

    assert done.returncode == 0, done.stderr
    models = sorted(p.name for p in (tmp_path / "task" / "model").glob("*.onnx"))
    assert models == [f"{AERIAL}.onnx", optimized_path(Path(f"{AERIAL}.onnx")).name]


# (arguments, what runs pip, whether app/ is laid out)
DEPENDENCY_STEPS = [
    (["--deps-only"], True, False),  # the image's first, cached layer
    (["--no-deps", "--models", AERIAL], False, True),  # then this; also the local Lambda's
    (["--models", AERIAL], True, True),  # both at once
]


@pytest.mark.parametrize(("args", "pip", "code"), DEPENDENCY_STEPS)
def test_requirements_go_into_the_task_root_unless_no_deps(tmp_path, args, pip, code):
    done = lay_out(tmp_path, *args)

    assert done.returncode == 0, done.stderr
    task = tmp_path / "task"
    installs = [call for call in python_calls(tmp_path) if call.startswith("-m pip install")]
    expected = f"--target {task} -r {REPO_ROOT / 'requirements.txt'}"
    assert [call.endswith(expected) for call in installs] == ([True] if pip else [])
    assert (task / "handler.py").is_file() == code


@pytest.mark.parametrize("model_bytes", [None, b""])
def test_refuses_a_task_root_without_its_model(tmp_path, model_bytes):
    # An image without its model would only answer 503: no layout, a message that says how.
    extra = []
    if model_bytes is not None:
        (tmp_path / "gone.onnx").write_bytes(model_bytes)
        extra = ["--model-file", tmp_path / "gone.onnx"]
    done = lay_out(tmp_path, "--no-deps", "--models", f"{AERIAL},gone", *extra)

    assert done.returncode != 0
    assert "model/gone.onnx is missing" in done.stderr
    assert "FETCH_MODEL=1" in done.stderr and "scripts/setup.sh" in done.stderr


@pytest.mark.parametrize(
    "models", ["", "../yolox_nano", "sub/model", ".hidden", "a,,b", "a,", ",a", "a b", "a,../b"]
)
def test_refuses_a_model_list_that_is_not_names_of_model(tmp_path, models):
    done = lay_out(tmp_path, "--no-deps", "--models", models)

    assert done.returncode != 0
    assert f"--models {models} (the image's MODEL): name a file of model/" in done.stderr
    assert not (tmp_path / "task" / "app").exists()
