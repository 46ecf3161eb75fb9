"""The env file tune writes (app/tuning/report.py): Settings and a shell read it as it is."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from app.config import Settings
from app.detector import SlicingOptions
from app.tuning.report import env_text
from app.tuning.space import Setting

SETTINGS = {
    "everything changed": Setting(
        SlicingOptions(
            mode="on",
            tile_wh=(320, 320),
            overlap=0.25,
            whole_image=False,
            merge="greedy_nmm",
            match_metric="ios",
            match_threshold=0.8,
            class_agnostic=True,
        ),
        0.3,
    ),
    "whole image only, oblong tile": Setting(SlicingOptions(mode="off", tile_wh=(640, 384)), 0.6),
    "the defaults": Setting(SlicingOptions(tile_wh=(416, 416)), 0.45),
}
COMMENTS = ["Tuned by `python -m app tune` on today", "command: python -m app tune a --labels b"]


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines; comment and blank lines skipped."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_env_file_round_trips_into_settings(name):
    setting = SETTINGS[name]
    text = env_text(setting, 0.31, COMMENTS)
    settings = Settings.from_env(parse_env_file(text))
    assert settings.slicing_defaults() == setting.slicing
    assert (settings.default_iou, settings.default_confidence) == (setting.iou, 0.31)
    others = (
        {f.name for f in dataclasses.fields(Settings) if f.init}
        - {f"slicing_{f.name}" for f in dataclasses.fields(SlicingOptions)}
        - {"slicing_tile", "default_iou", "default_confidence"}
    )
    untouched = Settings()
    assert all(getattr(settings, f) == getattr(untouched, f) for f in others)


def test_env_file_is_what_a_shell_exports(tmp_path):
    """`set -a; . FILE; set +a` (docs/tuning.md) exports exactly the file's lines."""
    path = tmp_path / "tuned.env"
    path.write_text(env_text(SETTINGS["everything changed"], 0.05, COMMENTS))
    script = f"set -a; . '{path}'; set +a; env"
    exported = subprocess.run(
        ["bash", "-c", script], env={}, capture_output=True, text=True, check=True
    ).stdout
    expected = parse_env_file(path.read_text())
    assert {k: v for k, v in parse_env_file(exported).items() if k in expected} == expected
    assert expected["SLICING_TILE"] == "320"
