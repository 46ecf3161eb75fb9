"""Settings: read from the environment once at cold start, validated there, frozen after."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .apikeys import split_api_keys
from .detector.decode import LAYOUTS
from .detector.errors import ConfigError
from .detector.slicing import DEFAULT_MAX_TILES, SlicingOptionError, SlicingOptions

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
    # Observability (issue 7): EMF metrics on stdout ("auto": only on AWS Lambda).
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
    slicing_mode: str = "auto"
    slicing_tile: tuple[int, int] | None = None  # None: the model input size
    slicing_overlap: float = 0.2
    slicing_whole_image: bool = True
    slicing_merge: str = "nms"
    slicing_match_metric: str = "iou"
    slicing_match_threshold: float = 0.5
    slicing_class_agnostic: bool = False
    max_tiles: int = DEFAULT_MAX_TILES
    # API keys (issue 5): when either is set, every route but /health needs a key. Keys are
    # secrets: kept out of repr() so that logging the settings cannot leak them.
    api_keys: str | None = dataclasses.field(default=None, repr=False)
    api_keys_ssm_parameter: str | None = None
    # Built once from the slicing_* fields above by __post_init__ (every request reads it).
    _slicing: SlicingOptions | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_range("DEFAULT_CONFIDENCE", self.default_confidence, 0.0, 1.0)
        _check_range("DEFAULT_IOU", self.default_iou, 0.0, 1.0)
        _check_range("DEFAULT_MAX_DETECTIONS", self.default_max_detections, 1, 10_000)
        _check_range("MAX_BODY_BYTES", self.max_body_bytes, 1, 2**31)
        _check_range("MAX_IMAGE_BYTES", self.max_image_bytes, 1, 2**31)
        _check_range("MAX_IMAGE_PIXELS", self.max_image_pixels, 1, 2**40)
        if self.model_threads is not None:
            _check_range("MODEL_THREADS", self.model_threads, 1, 256)
        _check_observability(self.metrics, self.metrics_namespace)
        self._check_slicing()
        self._check_api_key_settings()
        if self.model_format is not None and self.model_format not in LAYOUTS:
            raise ConfigError(
                f"MODEL_FORMAT={self.model_format!r} is not a known layout; "
                f"use one of: {', '.join(LAYOUTS)} (or leave it unset to detect it)."
            )
        _check_event_settings(self)

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
        """Parse every field from environ (by upper-case name), then apply overrides as-is."""
        values: dict[str, Any] = {}
        settable = [field for field in dataclasses.fields(cls) if field.init]
        for field in settable:
            raw = environ.get(field.name.upper(), "").strip()
            if raw:
                values[field.name] = _parse(field.name.upper(), raw, field.default)
        unknown = set(overrides or {}) - {f.name for f in settable}
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        values.update(overrides or {})
        return cls(**values)


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
    if name in ("MODEL_PATH", "MODEL_LABELS"):
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


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} is out of range; it must be in [{low}, {high}].")


def _check_observability(metrics: str, namespace: str) -> None:
    if metrics not in ("auto", "on", "off"):
        raise ConfigError(f"METRICS={metrics!r} must be auto, on or off.")
    if not 1 <= len(namespace) <= 255:
        raise ConfigError("METRICS_NAMESPACE must be 1 to 255 characters (a CloudWatch limit).")


# --- S3 and IoT event triggers (app/events) ---

S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_MAX_KEY_BYTES = 1024
IOT_MAX_TOPIC_BYTES = 256
IOT_MAX_DEVICE_ID_CHARS = 128
DEVICE_ID_FIELD = "{device_id}"


def _check_event_settings(settings: Settings) -> None:
    bucket = settings.results_bucket
    if bucket is not None and not S3_BUCKET_NAME.fullmatch(bucket):
        raise ConfigError(f"RESULTS_BUCKET={bucket!r} is not a valid S3 bucket name.")
    prefix = settings.results_prefix
    # An empty prefix would put results among the uploads and defeat the recursion guard.
    if not prefix or prefix.startswith("/") or len(prefix.encode()) > S3_MAX_KEY_BYTES // 2:
        raise ConfigError(
            f"RESULTS_PREFIX={prefix!r} must be a non-empty S3 key prefix such as "
            "'detections/' (no leading '/', at most 512 bytes)."
        )
    _check_range("S3_MAX_OBJECT_BYTES", settings.s3_max_object_bytes, 1, 2**31)
    _check_topic_template(settings.iot_result_topic)
    endpoint = settings.iot_data_endpoint
    if endpoint is not None and not endpoint.startswith("https://"):
        raise ConfigError(f"IOT_DATA_ENDPOINT={endpoint!r} must be an https:// URL.")
    _check_job_settings(settings)


# S3 takes at most 5 GB in one POST upload; a presigned POST policy lives at most 7 days.
S3_MAX_POST_BYTES = 5 * 1024**3
PRESIGN_MAX_EXPIRES_S = 7 * 24 * 3600
SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


def _check_job_settings(settings: Settings) -> None:
    bucket = settings.jobs_bucket
    if bucket is not None and not S3_BUCKET_NAME.fullmatch(bucket):
        raise ConfigError(f"JOBS_BUCKET={bucket!r} is not a valid S3 bucket name.")
    prefix = settings.jobs_prefix
    if not prefix.endswith("/") or prefix.startswith("/") or len(prefix.encode()) > 512:
        raise ConfigError(
            f"JOBS_PREFIX={prefix!r} must be an S3 key prefix ending in '/' such as 'jobs/' "
            "(no leading '/', at most 512 bytes)."
        )
    if prefix.startswith(settings.results_prefix) or settings.results_prefix.startswith(prefix):
        raise ConfigError(
            f"JOBS_PREFIX={prefix!r} and RESULTS_PREFIX={settings.results_prefix!r} overlap; "
            "job state and upload results must live under different prefixes."
        )
    _check_range("JOB_MAX_IMAGE_BYTES", settings.job_max_image_bytes, 1, S3_MAX_POST_BYTES)
    _check_range("JOB_UPLOAD_EXPIRES_S", settings.job_upload_expires_s, 1, PRESIGN_MAX_EXPIRES_S)
    _check_range("JOBS_RETENTION_DAYS", settings.jobs_retention_days, 1, 36500)
    topic = settings.jobs_topic_arn
    if topic is not None and not SNS_TOPIC_ARN.fullmatch(topic):
        raise ConfigError(f"JOBS_TOPIC_ARN={topic!r} is not a standard SNS topic ARN.")
    if settings.job_upload_expires_s >= settings.jobs_retention_days * 24 * 3600:
        raise ConfigError(
            "JOB_UPLOAD_EXPIRES_S must be shorter than JOBS_RETENTION_DAYS: a job would be "
            "deleted while its upload URL is still valid."
        )


def _check_topic_template(template: str) -> None:
    """One {device_id} field, no MQTT wildcards, not a reserved $ topic, within IoT's size cap."""
    rest = template.replace(DEVICE_ID_FIELD, "")
    longest = template.replace(DEVICE_ID_FIELD, "x" * IOT_MAX_DEVICE_ID_CHARS)
    if (
        template.count(DEVICE_ID_FIELD) != 1
        or any(char in rest for char in "{}+#\x00")
        or template.startswith("$")
        or len(longest.encode()) > IOT_MAX_TOPIC_BYTES
    ):
        raise ConfigError(
            f"IOT_RESULT_TOPIC={template!r} must contain {DEVICE_ID_FIELD} exactly once, no "
            f"other braces, no MQTT wildcards (+ #), not start with $, and stay within "
            f"{IOT_MAX_TOPIC_BYTES} bytes with a {IOT_MAX_DEVICE_ID_CHARS}-character device id."
        )
