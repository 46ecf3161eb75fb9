"""bench/airborne_settings_cv.py's parts: the held-out sessions dealt into two halves that both
hold every class and never split a session; the scored copy loses only the chosen settings."""

from __future__ import annotations

from types import SimpleNamespace

import onnx
import pytest

from app.detector.model import RECOMMENDED_SETTINGS_KEY
from bench.airborne_settings_cv import SESSIONS, halves, without_settings
from tests.conftest import shared_path

CLIPS = {  # clip number -> frames; blocks of six clips are one session
    "AIRPLANE": [30, 31, 36, 54], "BIRD": [42, 48, 49], "DRONE": [0, 66, 78, 84],
    "HELICOPTER": [18, 60],
}  # fmt: skip


def images():
    return [
        SimpleNamespace(name=f"V_{kind}_{clip:03d}-{frame:05d}.jpg")
        for kind, clips in CLIPS.items()
        for clip in clips
        for frame in (0, 25)
    ]


def sessions(half) -> set[str]:
    return {SESSIONS(im.name) for im in half}


def test_both_halves_hold_every_class_and_no_session_is_split():
    first, second = halves(images())
    assert len(first) + len(second) == len(images())
    assert not sessions(first) & sessions(second)
    for half in (first, second):
        assert {s.split("-")[0] for s in sessions(half)} == set(CLIPS)
    assert sessions(first) == {
        "AIRPLANE-30-35", "AIRPLANE-54-59", "BIRD-42-47", "DRONE-0-5", "DRONE-78-83",
        "HELICOPTER-18-23",
    }  # fmt: skip  # each class's sessions sorted, dealt alternately


def test_a_class_of_one_session_leaves_the_other_half_without_it():
    only = [im for im in images() if not im.name.startswith("V_HELICOPTER_060")]
    first, second = halves(only)
    assert "HELICOPTER-18-23" in sessions(first)
    assert not any(s.startswith("HELICOPTER") for s in sessions(second))


@pytest.mark.parametrize("carried", [True, False])
def test_the_scored_copy_drops_only_the_recommended_settings(tmp_path, carried):
    proto = onnx.load(str(shared_path("models", "yolox_nano.onnx")))
    entries = {"names": '["a"]'} | ({RECOMMENDED_SETTINGS_KEY: "{}"} if carried else {})
    onnx.helper.set_model_props(proto, entries)
    source = tmp_path / "in" / "m.onnx"
    source.parent.mkdir()
    onnx.save(proto, str(source))
    copy = without_settings(source, str(tmp_path))
    kept = {p.key: p.value for p in onnx.load(str(copy)).metadata_props}
    assert kept == {"names": '["a"]'}
    source_keys = {p.key for p in onnx.load(str(source)).metadata_props}
    assert (RECOMMENDED_SETTINGS_KEY in source_keys) is carried  # the source left as it was
