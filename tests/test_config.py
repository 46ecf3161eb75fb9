"""Settings from the environment: parsed, validated at cold start, overridable by tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import DEFAULT_MODEL_PATH, Settings
from app.detector import ConfigError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.model_path == DEFAULT_MODEL_PATH
    assert (settings.default_confidence, settings.default_iou) == (0.25, 0.45)
    assert settings.max_body_bytes == 6 * 1024 * 1024


def test_environment_is_parsed_by_type():
    settings = Settings.from_env(
        {
            "MODEL_PATH": "/opt/m.onnx",
            "MODEL_FORMAT": "ultralytics",
            "MODEL_THREADS": "2",
            "DEFAULT_CONFIDENCE": "0.4",
            "DEFAULT_MAX_DETECTIONS": "50",
            "MAX_BODY_BYTES": "1000",
            "MODEL_LABELS": " ",  # blank means unset
        }
    )
    assert settings.model_path == Path("/opt/m.onnx")
    assert settings.model_format == "ultralytics"
    assert (settings.model_threads, settings.default_confidence) == (2, 0.4)
    assert (settings.default_max_detections, settings.max_body_bytes) == (50, 1000)
    assert settings.model_labels is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DEFAULT_CONFIDENCE": "high"}, "DEFAULT_CONFIDENCE='high' is not a valid float"),
        ({"DEFAULT_CONFIDENCE": "nan"}, "DEFAULT_CONFIDENCE"),
        ({"DEFAULT_CONFIDENCE": "1.5"}, r"out of range; it must be in \[0.0, 1.0\]"),
        ({"DEFAULT_MAX_DETECTIONS": "0"}, "DEFAULT_MAX_DETECTIONS"),
        ({"MAX_BODY_BYTES": "1e6"}, "MAX_BODY_BYTES='1e6' is not a valid int"),
        ({"MODEL_THREADS": "0"}, "MODEL_THREADS"),
        ({"MODEL_THREADS": "many"}, "MODEL_THREADS"),
        ({"MODEL_FORMAT": "yolov99"}, "MODEL_FORMAT='yolov99' is not a known layout"),
    ],
)
def test_bad_environment_fails_at_start_with_the_variable_named(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_overrides_win_and_unknown_overrides_are_refused():
    assert Settings.from_env({"DEFAULT_IOU": "0.3"}, {"default_iou": 0.6}).default_iou == 0.6
    with pytest.raises(ConfigError, match="no_such_knob"):
        Settings.from_env({}, {"no_such_knob": 1})


def test_slicing_settings_from_the_environment():
    from app.detector.slicing import SlicingOptions

    settings = Settings.from_env(
        {
            "SLICING_MODE": "on",
            "SLICING_TILE": "640x384",
            "SLICING_OVERLAP": "0.3",
            "SLICING_WHOLE_IMAGE": "false",
            "SLICING_MERGE": "greedy_nmm",
            "SLICING_MATCH_METRIC": "ios",
            "SLICING_MATCH_THRESHOLD": "0.6",
            "SLICING_CLASS_AGNOSTIC": "TRUE",
            "MAX_TILES": "50",
        }
    )
    assert settings.slicing_defaults() == SlicingOptions(
        "on", (640, 384), 0.3, False, "greedy_nmm", "ios", 0.6, True, max_tiles=50
    )
    assert Settings.from_env({"SLICING_TILE": "416"}).slicing_tile == (416, 416)
    assert Settings.from_env({}).slicing_defaults() == SlicingOptions()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SLICING_MODE": "sometimes"}, r"SLICING_MODE='sometimes' is out of range: use one of \("),
        ({"SLICING_TILE": "big"}, "SLICING_TILE='big' is not a tile size"),
        ({"SLICING_TILE": "1x2x3"}, "SLICING_TILE"),
        ({"SLICING_TILE": "16"}, r"SLICING_TILE=\(16, 16\) is out of range: use 32 to 4096 px"),
        ({"SLICING_OVERLAP": "0.95"}, "SLICING_OVERLAP"),
        ({"SLICING_WHOLE_IMAGE": "maybe"}, "SLICING_WHOLE_IMAGE='maybe' is not a boolean"),
        ({"SLICING_MERGE": "wbf"}, "SLICING_MERGE"),
        ({"SLICING_MATCH_METRIC": "giou"}, "SLICING_MATCH_METRIC"),
        ({"SLICING_MATCH_THRESHOLD": "2"}, "SLICING_MATCH_THRESHOLD"),
        ({"MAX_TILES": "0"}, "MAX_TILES=0 is out of range: use 1 to 1000000"),
    ],
)
def test_bad_slicing_settings_fail_at_start(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_slicing_defaults_are_built_once_and_follow_replace():
    import dataclasses

    settings = Settings.from_env({"SLICING_OVERLAP": "0.25"})
    assert settings.slicing_defaults() is settings.slicing_defaults()
    assert settings.slicing_defaults().overlap == 0.25
    changed = dataclasses.replace(settings, slicing_overlap=0.4, max_tiles=7)
    assert (changed.slicing_defaults().overlap, changed.slicing_defaults().max_tiles) == (0.4, 7)
    with pytest.raises(ConfigError, match="Unknown setting"):
        Settings.from_env({}, {"_slicing": None})
