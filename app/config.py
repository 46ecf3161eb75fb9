"""Settings: read from the environment once at cold start, validated there, frozen after."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_checks import (  # noqa: F401  (re-exported: app/events and app/http read them here)
    DEVICE_ID_FIELD,
    MAX_API_KEY_CHARS,
    S3_BUCKET_NAME,
    S3_MAX_KEY_BYTES,
    check_event_settings,
    check_range,
    split_api_keys,
)
from .detector.decode import LAYOUTS
from .detector.errors import ConfigError
from .detector.postprocess import DetectOptions
from .detector.slicing import SlicingOptionError, SlicingOptions
from .locations import DEFAULT_MODEL_PATH, DEFAULT_MODELS_DIR, REPO_ROOT  # noqa: F401

if TYPE_CHECKING:
    from .detector.model import ModelInfo

LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
# The request defaults are the detector's own, declared once there (a setting overrides them).
_DETECT, _SLICING = DetectOptions(), SlicingOptions()


@dataclass(frozen=True)
class Settings:
    """Every knob of the service. Field names are the env var names, lower-cased."""

    model_path: Path = DEFAULT_MODEL_PATH  # the default model (app/registry.py)
    models_dir: Path = DEFAULT_MODELS_DIR  # every *.onnx file in it is a model, by file stem
    # A model file in MODELS_DIR whose real path is outside it stops start-up unless this is set.
    models_allow_links_out: bool = False
    model_format: str | None = None
    model_labels: Path | None = None
    model_threads: int | None = None
    default_confidence: float = _DETECT.confidence
    default_iou: float = _DETECT.iou
    default_max_detections: int = _DETECT.max_detections
    default_flip: bool = _DETECT.flip  # the test-time flip (app/detector/flip.py)
    max_body_bytes: int = LAMBDA_SYNC_PAYLOAD_BYTES
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    # Observability: EMF metrics on stdout ("auto": only on AWS Lambda).
    metrics: str = "auto"
    metrics_namespace: str = "SmallObjectDetection"

    # --- S3 and IoT event triggers (app/events) ---
    results_bucket: str | None = None  # None: write each result beside its source object
    results_prefix: str = "detections/"
    s3_max_object_bytes: int = 20 * 1024 * 1024
    iot_result_topic: str = "detections/{device_id}"
    iot_data_endpoint: str | None = None  # None: the regional endpoint boto3 picks
    # --- Jobs: big images over HTTP through presigned S3 uploads (app/http/jobs.py) ---
    jobs_bucket: str | None = None  # None: POST /jobs answers 503 jobs_unavailable
    jobs_prefix: str = "jobs/"
    job_max_image_bytes: int = 100 * 1024 * 1024
    job_upload_expires_s: int = 900
    # The bucket's lifecycle rule deletes jobs this long after creation (serverless.yml).
    jobs_retention_days: int = 7
    jobs_topic_arn: str | None = None  # None: no completion notifications (app/jobs/notify.py)
    # Small-object mode (sliced inference): defaults of the request's "slicing" object.
    slicing_mode: str = _SLICING.mode
    slicing_tile: tuple[int, int] | None = _SLICING.tile_wh  # None: the model input size
    slicing_overlap: float = _SLICING.overlap
    slicing_whole_image: bool = _SLICING.whole_image
    slicing_merge: str = _SLICING.merge
    slicing_match_metric: str = _SLICING.match_metric
    slicing_match_threshold: float = _SLICING.match_threshold
    slicing_class_agnostic: bool = _SLICING.class_agnostic
    max_tiles: int = _SLICING.max_tiles
    # API keys: when either is set, every route but /health needs a key. Keys are
    # secrets: kept out of repr() so that logging the settings cannot leak them.
    api_keys: str | None = dataclasses.field(default=None, repr=False)
    api_keys_ssm_parameter: str | None = None
    # Fields the operator set (environment or overrides): they win over a model's recommended
    # settings (settings_for_model). Set by from_env, so not an environment variable itself.
    explicit: frozenset[str] = dataclasses.field(
        default=frozenset(), init=False, repr=False, compare=False
    )
    # Built once from the slicing_* fields above by __post_init__ (every request reads it).
    _slicing: SlicingOptions | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_range("DEFAULT_CONFIDENCE", self.default_confidence, 0.0, 1.0)
        check_range("DEFAULT_IOU", self.default_iou, 0.0, 1.0)
        check_range("DEFAULT_MAX_DETECTIONS", self.default_max_detections, 1, 10_000)
        check_range("MAX_BODY_BYTES", self.max_body_bytes, 1, 2**31)
        check_range("MAX_IMAGE_BYTES", self.max_image_bytes, 1, 2**31)
        check_range("MAX_IMAGE_PIXELS", self.max_image_pixels, 1, 2**40)
        if self.model_threads is not None:
            check_range("MODEL_THREADS", self.model_threads, 1, 256)
        _check_observability(self.metrics, self.metrics_namespace)
        self._check_slicing()
        self._check_api_key_settings()
        if self.model_format is not None and self.model_format not in LAYOUTS:
            raise ConfigError(
                f"MODEL_FORMAT={self.model_format!r} is not a known layout; "
                f"use one of: {', '.join(LAYOUTS)} (or leave it unset to detect it)."
            )
        check_event_settings(self)

    def _check_slicing(self) -> None:
        """SlicingOptions checks the values; this names the variable that holds a bad one."""
        try:
            slicing = SlicingOptions(
                mode=self.slicing_mode,
                tile_wh=self.slicing_tile,
                overlap=self.slicing_overlap,
                whole_image=self.slicing_whole_image,
                merge=self.slicing_merge,
                match_metric=self.slicing_match_metric,
                match_threshold=self.slicing_match_threshold,
                class_agnostic=self.slicing_class_agnostic,
                max_tiles=self.max_tiles,
            )
        except SlicingOptionError as exc:
            variable = {"tile_wh": "SLICING_TILE", "max_tiles": "MAX_TILES"}.get(
                exc.field, f"SLICING_{exc.field.upper()}"
            )
            raise ConfigError(
                f"{variable}={exc.value!r} is out of range: {exc.expected}."
            ) from None
        object.__setattr__(self, "_slicing", slicing)  # frozen: set once, here

    def slicing_defaults(self) -> SlicingOptions:
        """The slicing a request gets for every field it leaves out (max_tiles: always)."""
        assert self._slicing is not None  # __post_init__ built it or raised
        return self._slicing

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
        """Parse every field from environ (by upper-case name), then apply overrides as-is.

        Both are explicit: they win over a model's recommended settings.
        """
        values = parse_variables(environ, ENV_FIELDS)
        unknown = set(overrides or {}) - set(ENV_FIELDS.values())
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        values.update(overrides or {})
        if "models_dir" in values and "model_path" not in values:  # the default is in it too
            values["model_path"] = default_model_in(Path(values["models_dir"]))
        return _with_explicit(cls(**values), frozenset(values))


# Files beside the models that are not models: the pre-optimised copies (save_optimized).
NOT_MODELS = (".optimized.onnx",)


def default_model_in(models_dir: Path) -> Path:
    """The default model when MODELS_DIR is set and MODEL_PATH is not: yolox_nano.onnx (the
    fetched default) if it is there, else the folder's first model by name."""
    fetched = models_dir / DEFAULT_MODEL_PATH.name
    if fetched.is_file() or not models_dir.is_dir():
        return fetched
    found = sorted(
        p for p in models_dir.glob("*.onnx") if p.is_file() and not p.name.endswith(NOT_MODELS)
    )
    return found[0] if found else fetched


def _with_explicit(settings: Settings, explicit: frozenset[str]) -> Settings:
    object.__setattr__(settings, "explicit", explicit)  # frozen: set once, as it is made
    return settings


# Environment variable -> field, for every field read from the environment.
ENV_FIELDS = {f.name.upper(): f.name for f in dataclasses.fields(Settings) if f.init}
_DEFAULTS = {field.name: field.default for field in dataclasses.fields(Settings)}
# What a model may recommend in its metadata (`tune` writes them): request defaults only, the
# DEFAULT_* and SLICING_* variables. The operator's limits (MAX_TILES too), paths, keys and
# buckets are never a model's to set.
MODEL_SETTINGS = tuple(name for name in ENV_FIELDS if name.startswith(("DEFAULT_", "SLICING_")))


def parse_variables(variables: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, Any]:
    """{field: value} for each variable of `fields` (name -> field) that is set and non-empty."""
    values: dict[str, Any] = {}
    for name, field in fields.items():
        raw = variables.get(name, "").strip()
        if raw:
            values[field] = _parse(name, raw, _DEFAULTS[field])
    return values


def settings_for_model(settings: Settings, model: ModelInfo | None) -> Settings:
    """The settings that serve `model`: its recommended settings (ONNX metadata
    `recommended_settings`, see ModelInfo) fill every field the operator did not set
    explicitly; a request's own options still win over both (docs/configuration.md).

    Raises ConfigError naming the model and the setting when one is not a model's to set or
    its value is invalid (parsed and checked exactly as the environment is).
    """
    recommended = model.recommended_settings if model is not None else {}
    if not recommended:
        return settings
    refused = sorted(set(recommended) - set(MODEL_SETTINGS))
    if refused:
        raise ConfigError(
            f"The model {model.name} recommends {refused[0]}, which a model cannot set; its "
            f"recommended_settings may hold: {', '.join(MODEL_SETTINGS)}."
        )
    fields = {name: ENV_FIELDS[name] for name in MODEL_SETTINGS}
    unset = {name: f for name, f in fields.items() if f not in settings.explicit}
    try:
        served = dataclasses.replace(settings, **parse_variables(recommended, unset))
    except ConfigError as exc:
        raise ConfigError(
            f"The model {model.name} recommends an invalid setting: {exc.message}"
        ) from None
    return _with_explicit(served, settings.explicit)


def _parse(name: str, raw: str, default: Any) -> Any:
    """Convert by the field's default type; None defaults are paths or strings."""
    kind = type(default)
    if kind is bool:
        return _parse_bool(name, raw)
    if name == "SLICING_TILE":
        return _parse_tile(raw)
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
    if name in ("MODEL_PATH", "MODEL_LABELS", "MODELS_DIR"):
        return Path(raw)
    if name == "MODEL_THREADS":
        return _parse(name, raw, 0)
    return raw


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse_bool(name: str, raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false.") from None


def _parse_tile(raw: str) -> tuple[int, int]:
    """Parse "416" (a square tile) or "640x384" (width x height) into (width, height)."""
    try:
        sides = [int(side) for side in raw.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise ConfigError(f"SLICING_TILE={raw!r} is not a tile size; use 416 or 640x384.")
    return (sides[0], sides[-1])


def _check_observability(metrics: str, namespace: str) -> None:
    if metrics not in ("auto", "on", "off"):
        raise ConfigError(f"METRICS={metrics!r} must be auto, on or off.")
    if not 1 <= len(namespace) <= 255:
        raise ConfigError("METRICS_NAMESPACE must be 1 to 255 characters (a CloudWatch limit).")
