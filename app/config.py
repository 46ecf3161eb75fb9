"""Settings: read from the environment once at cold start, validated there, frozen after."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detector.decode import LAYOUTS
from .detector.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "model" / "yolox_nano.onnx"
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Every knob of the service. Field names are the env var names, lower-cased."""

    model_path: Path = DEFAULT_MODEL_PATH
    model_format: str | None = None
    model_labels: Path | None = None
    model_threads: int | None = None
    default_confidence: float = 0.25
    default_iou: float = 0.45
    default_max_detections: int = 300
    max_body_bytes: int = LAMBDA_SYNC_PAYLOAD_BYTES
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    # API keys (issue 5): when either is set, every route but /health needs a key. Keys are
    # secrets: kept out of repr() so that logging the settings cannot leak them.
    api_keys: str | None = dataclasses.field(default=None, repr=False)
    api_keys_ssm_parameter: str | None = None

    def __post_init__(self) -> None:
        _check_range("DEFAULT_CONFIDENCE", self.default_confidence, 0.0, 1.0)
        _check_range("DEFAULT_IOU", self.default_iou, 0.0, 1.0)
        _check_range("DEFAULT_MAX_DETECTIONS", self.default_max_detections, 1, 10_000)
        _check_range("MAX_BODY_BYTES", self.max_body_bytes, 1, 2**31)
        _check_range("MAX_IMAGE_BYTES", self.max_image_bytes, 1, 2**31)
        _check_range("MAX_IMAGE_PIXELS", self.max_image_pixels, 1, 2**40)
        if self.model_threads is not None:
            _check_range("MODEL_THREADS", self.model_threads, 1, 256)
        self._check_api_key_settings()
        if self.model_format is not None and self.model_format not in LAYOUTS:
            raise ConfigError(
                f"MODEL_FORMAT={self.model_format!r} is not a known layout; "
                f"use one of: {', '.join(LAYOUTS)} (or leave it unset to detect it)."
            )

    def _check_api_key_settings(self) -> None:
        if self.api_keys is not None and self.api_keys_ssm_parameter is not None:
            raise ConfigError(
                "Set API_KEYS or API_KEYS_SSM_PARAMETER, not both: it would be unclear which "
                "keys are valid."
            )
        if self.api_keys is not None:
            split_api_keys(self.api_keys, "API_KEYS")
        if self.api_keys_ssm_parameter is not None and (
            not isinstance(self.api_keys_ssm_parameter, str)
            or not self.api_keys_ssm_parameter.strip()
        ):
            raise ConfigError("API_KEYS_SSM_PARAMETER must be an SSM parameter name or ARN.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None):
        """Parse every field from environ (by upper-case name), then apply overrides as-is."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(field.name.upper(), "").strip()
            if raw:
                values[field.name] = _parse(field.name.upper(), raw, field.default)
        unknown = set(overrides or {}) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        values.update(overrides or {})
        return cls(**values)


def _parse(name: str, raw: str, default: Any) -> Any:
    """Convert by the field's default type; None defaults are paths or strings."""
    kind = type(default)
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}.") from None
    if name in ("MODEL_PATH", "MODEL_LABELS"):
        return Path(raw)
    if name == "MODEL_THREADS":
        return _parse(name, raw, 0)
    return raw


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} is out of range; it must be in [{low}, {high}].")


# API keys (issue 5) -------------------------------------------------------------------------
MIN_API_KEY_CHARS = 16  # shorter keys can be guessed; API Gateway's own minimum is 20
MAX_API_KEY_CHARS = 1024  # what app.auth reads of a presented key


def split_api_keys(raw: Any, source: str) -> tuple[str, ...]:
    """Comma- or newline-separated keys -> tuple; raise ConfigError naming the bad position.

    Messages never quote a key: they end up in logs.
    """
    if not isinstance(raw, str):
        raise ConfigError(f"{source} must be a string of comma-separated keys.")
    keys = tuple(re.split(r"\s*[,\n]\s*", raw.strip()))
    for position, key in enumerate(keys, start=1):
        where = f"{source}: key {position} of {len(keys)}"
        if not key:
            raise ConfigError(f"{where} is empty; remove the stray comma or set a key.")
        if not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
            raise ConfigError(
                f"{where} has whitespace, control or non-ASCII characters; "
                "HTTP headers cannot carry it reliably."
            )
        if not MIN_API_KEY_CHARS <= len(key) <= MAX_API_KEY_CHARS:
            raise ConfigError(
                f"{where} must be {MIN_API_KEY_CHARS} to {MAX_API_KEY_CHARS} characters long."
            )
    return keys
