"""`pip install .` as a new user tries it, from a folder outside the repository: the wheel
carries our own models and not the fetched one; the fetched default goes to the per-user data
folder, never into site-packages; `detect` then runs with no flags and by model name.

The fresh venv gets the dependencies from this one (a .pth file), so no index is needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from app.locations import default_models_dir, user_models_dir
from tests.conftest import REPO_ROOT, shared_path

USER = "/home/u/.local/share/small-object-detect/models"
# Where an installed package finds its models; a source tree keeps model/ beside app/.
LOCATIONS = [
    ("/r/site-packages", {}, USER),
    ("/r/dist-packages", {"XDG_DATA_HOME": "/x"}, "/x/small-object-detect/models"),
    ("/r/site-packages", {"XDG_DATA_HOME": "relative"}, USER),  # XDG: relative is ignored
    ("/checkout", {"XDG_DATA_HOME": "/x"}, "/checkout/model"),
    ("/var/task", {}, "/var/task/model"),  # the Lambda image
]  # fmt: skip


@pytest.mark.parametrize(("root", "environ", "expected"), LOCATIONS)
def test_default_models_dir(monkeypatch, root, environ, expected):
    monkeypatch.setenv("HOME", "/home/u")
    assert default_models_dir(Path(root), environ) == Path(expected)


def test_this_checkout_keeps_its_model_folder():
    assert default_models_dir() == REPO_ROOT / "model" != user_models_dir()


def _run(*command, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the tree (the build leaves nothing in the checkout),
    with a fetched default model in model/ as a checkout has after setup."""
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source)
    for name in ("app", "model"):
        shutil.copytree(
            REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(shared_path("models", "yolox_nano.onnx"), source / "model")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = _run(*pip, "-w", str(dist), ".", cwd=source)
    assert done.returncode == 0, done.stderr
    (built,) = dist.glob("*.whl")
    return built


def test_the_wheel_carries_our_models_and_not_the_fetched_one(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    ours = sorted(
        p.name for p in (REPO_ROOT / "model").glob("*.onnx") if p.with_suffix(".md").is_file()
    )
    assert ours and [n for n in names if n.endswith(".onnx")] == [
        f"app/bundled_models/{name}" for name in ours
    ]
    assert "app/http/static/index.html" in names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict]:
    """A fresh venv with the wheel installed, and a user's environment (HOME, no MODELS_DIR)."""
    root = tmp_path_factory.mktemp("user")
    venv = root / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=root).returncode == 0
    python = venv / "bin" / "python"
    site = _run(
        str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root
    )
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
    ]
    done = _run(*pip, str(wheel), cwd=root)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "XDG_"))}
    env.update(HOME=str(root / "home"), PYTHONPATH="", LOG_LEVEL="WARNING")
    return venv / "bin" / "small-object-detect", env


def test_a_pip_install_fetches_to_the_user_folder_and_detects_from_anywhere(installed, tmp_path):
    command, env = installed
    image = str(shared_path("data", "demo", "small-vehicles1.jpeg"))
    models = Path(env["HOME"], ".local", "share", "small-object-detect", "models")

    before = _run(str(command), "models", cwd=tmp_path, env=env)
    assert before.returncode == 1 and "small-object-detect fetch-model" in before.stderr
    missing = _run(str(command), "detect", image, cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "`small-object-detect fetch-model`" in missing.stderr

    source = str(shared_path("models", "yolox_nano.onnx"))
    fetched = _run(str(command), "fetch-model", "--from", source, cwd=tmp_path, env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert (models / "yolox_nano.onnx").is_file()

    for flags, label in (((), "car"), (("--model", "aerial-vehicles"), "vehicle")):
        done = _run(str(command), "detect", image, *flags, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert label in {d["label"] for d in json.loads(done.stdout)["detections"]}
        assert "1 image, " in done.stderr
    assert _run(str(command), "models", cwd=tmp_path, env=env).returncode == 0
