"""The command line as a whole: every subcommand dispatches through argparse to its own module,
and the model tools run both as subcommands and as `python -m app.cli.<tool>`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from app.__main__ import COMMANDS, build_parser, main
from app.detector.model import optimized_path
from tests.conftest import REPO_ROOT, shared_path

# What each subcommand needs on its command line to parse (beyond its defaults).
MINIMAL_ARGS = {
    "serve": [],
    "detect": ["x.jpg"],
    "tune": ["images", "--labels", "labels"],
    "train": ["images", "--labels", "labels"],
    "work": ["--queue-url", "https://q"],
    "enqueue": ["s3://b/p", "--queue-url", "https://q"],
    "submit": ["x.jpg", "--api", "https://api"],
    "models": [],
    "fetch-model": [],
    "optimize-model": [],
    "choose-settings": ["model.onnx", "--from", "twin.onnx"],
}


def test_every_command_is_registered_once_and_dispatches_to_its_module():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert sorted(commands) == sorted(MINIMAL_ARGS)
    assert len(COMMANDS) == len(MINIMAL_ARGS)
    for name, argv in MINIMAL_ARGS.items():
        args = build_parser().parse_args([name, *argv])
        module = "app.cli." + name.replace("-", "_")
        assert args.func.__module__ == module, name
        assert args.func.__name__ == name.replace("-", "_") + "_main"


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.fixture
def model_file():
    return shared_path("models", "yolox_nano.onnx")


def test_fetch_model_subcommand_copies_a_local_file(model_file, tmp_path, capsys):
    dest = tmp_path / "model" / "m.onnx"
    assert main(["fetch-model", "--from", str(model_file), "--dest", str(dest)]) == 0
    assert dest.read_bytes() == model_file.read_bytes()
    assert capsys.readouterr().out.startswith(f"copied {model_file} -> {dest}")
    assert main(["fetch-model", "--from", str(tmp_path / "none.onnx"), "--dest", str(dest)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_optimize_model_subcommand_writes_the_copy(model_file, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(model_file, model)
    assert main(["optimize-model", str(model)]) == 0
    assert optimized_path(model).is_file()
    assert capsys.readouterr().out == f"wrote {optimized_path(model)}\n"


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["-m", "app.cli.fetch_model", "--help"], "--sha256"),
        (["-m", "app.cli.optimize_model", "--help"], "optimised"),
        (["-m", "app", "fetch-model", "--help"], "--sha256"),
        (["-m", "app", "optimize-model", "--help"], "optimised"),
        (["-m", "app", "--help"], "optimize-model"),
    ],
)
def test_module_entry_points_still_run(argv, expect):
    """The Dockerfile, scripts/setup.sh and the docs call `python -m app.cli.fetch_model`."""
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
