"""First-run paths: the console script the project installs, and the benchmarks' --model PATH."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import tomllib

from bench._common import require
from tests.conftest import REPO_ROOT, shared_path


def test_the_console_script_runs_detect():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["small-object-detect"].partition(":")
    main = getattr(importlib.import_module(module), name)
    image, model = shared_path("data", "demo", "small-vehicles1.jpeg"), shared_path("models")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["detect", str(image), "--model", str(model / "yolox_nano.onnx")])
    assert status == 0 and json.loads(out.getvalue())["count"] >= 3


def test_bench_model_argument_takes_a_path_string():
    model = shared_path("models", "yolox_nano.onnx")
    assert require(str(model)) == model  # argparse hands type= functions a str
