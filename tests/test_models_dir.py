"""MODELS_DIR keeps to itself (app/registry.py): a model file or link whose real path is outside
the folder stops start-up naming it, unless MODELS_ALLOW_LINKS_OUT is set; dangling links and
folders named *.onnx are logged, not skipped silently."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest

from app import create_app
from app.cli.models import list_models
from app.config import Settings
from app.detector import ConfigError
from app.registry import ModelRegistry, model_file, scan_models_dir
from tests.onnx_graphs import constant_output_model


@pytest.fixture
def tiny_onnx(tmp_path_factory) -> Path:
    """A real ONNX model (64x64 input, no boxes), in a folder of its own: "elsewhere"."""
    rows = np.zeros((1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 7), np.float32)
    return constant_output_model(tmp_path_factory.mktemp("elsewhere") / "tiny.onnx", rows)


@pytest.fixture
def models_dir(tmp_path, tiny_onnx) -> Path:
    """A MODELS_DIR with one real model file in it."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "local.onnx").write_bytes(tiny_onnx.read_bytes())
    return folder


def registry_of(models_dir: Path, **settings) -> ModelRegistry:
    return ModelRegistry.from_settings(
        Settings.from_env({}, {"models_dir": models_dir, **settings})
    )


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda tiny: tiny, id="a model elsewhere"),
        pytest.param(lambda tiny: Path("/etc/passwd"), id="/etc/passwd"),
        pytest.param(lambda tiny: Path("../elsewhere/x.onnx"), id="relative, dangling out"),
    ],
)
def test_a_link_out_of_the_folder_stops_start_up_naming_it(models_dir, tiny_onnx, target):
    link = models_dir / "outside.onnx"
    link.symlink_to(target(tiny_onnx))
    if not link.exists():  # a dangling link is reported, not refused: make its target exist
        link.resolve().parent.mkdir(parents=True, exist_ok=True)
        link.resolve().write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"outside\.onnx .* is a link to .*, outside the folder"):
        registry_of(models_dir)
    with pytest.raises(ConfigError, match="MODELS_ALLOW_LINKS_OUT=true"):
        create_app({"models_dir": models_dir, "model_path": models_dir / "local.onnx"})


def test_links_out_are_served_when_the_setting_allows_them(models_dir, tiny_onnx):
    (models_dir / "mounted.onnx").symlink_to(tiny_onnx)
    (models_dir / "passwd.onnx").symlink_to("/etc/passwd")
    registry = registry_of(models_dir, models_allow_links_out=True)
    assert set(registry.names) == {"local", "mounted", "passwd"}
    assert registry.get("mounted").model.info.input_wh == (64, 64)


def test_links_inside_the_folder_and_a_linked_folder_are_fine(tmp_path, models_dir):
    (models_dir / "alias.onnx").symlink_to("local.onnx")  # a second name for the same file
    assert set(registry_of(models_dir).names) == {"local", "alias"}
    mounted = tmp_path / "mounted-models"
    mounted.symlink_to(models_dir)  # MODELS_DIR itself a link: its files are still inside it
    assert set(registry_of(mounted).names) == {"local", "alias"}


def test_dangling_links_and_folders_are_reported_not_served(models_dir, caplog):
    (models_dir / "gone.onnx").symlink_to(models_dir / "deleted.onnx")
    (models_dir / "loop.onnx").symlink_to("loop.onnx")
    (models_dir / "folder.onnx").mkdir()
    with caplog.at_level(logging.WARNING, logger="app.registry"):
        assert registry_of(models_dir).names == ("local",)
    reported = "\n".join(caplog.messages)
    assert (
        "gone.onnx is a link to " in reported and "deleted.onnx, which does not exist" in reported
    )
    assert "loop.onnx is a link to loop.onnx, which does not exist (or loops)" in reported
    assert "folder.onnx is a folder, not a model file; it is not served" in reported


def test_the_commands_refuse_a_link_out_too(models_dir, monkeypatch):
    (models_dir / "passwd.onnx").symlink_to("/etc/passwd")
    monkeypatch.setenv("MODELS_DIR", str(models_dir))
    stdout, stderr = io.StringIO(), io.StringIO()
    assert list_models(False, stdout, stderr) == 2
    assert stderr.getvalue().startswith("error: The model file passwd.onnx in MODELS_DIR")
    assert stderr.getvalue().count("\n") == 1 and stdout.getvalue() == ""
    with pytest.raises(ConfigError, match=r"passwd\.onnx"):
        model_file("local", Settings.from_env({}, {"models_dir": models_dir}))


@pytest.mark.parametrize(("raw", "allowed"), [("true", True), ("false", False), ("", False)])
def test_the_setting_is_read_from_the_environment(raw, allowed):
    assert Settings.from_env({"MODELS_ALLOW_LINKS_OUT": raw}).models_allow_links_out is allowed


def test_a_bad_value_of_the_setting_stops_start_up():
    with pytest.raises(ConfigError, match="MODELS_ALLOW_LINKS_OUT='maybe' is not a boolean"):
        Settings.from_env({"MODELS_ALLOW_LINKS_OUT": "maybe"})


def test_scan_of_a_missing_folder_is_empty(tmp_path):
    assert scan_models_dir(tmp_path / "nowhere") == {}
