"""Checks behind Settings: value ranges, the AWS-facing settings (S3 and IoT triggers, jobs),
API keys."""

from __future__ import annotations

import re
from typing import Any, Protocol

from .detector.errors import ConfigError

S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_MAX_KEY_BYTES = 1024
IOT_MAX_TOPIC_BYTES = 256
IOT_MAX_DEVICE_ID_CHARS = 128
DEVICE_ID_FIELD = "{device_id}"


class EventSettings(Protocol):
    """What these checks read of `app.config.Settings`, read-only as its frozen fields are (a
    protocol, so this module does not import the module that imports it)."""

    @property
    def results_bucket(self) -> str | None: ...
    @property
    def results_prefix(self) -> str: ...
    @property
    def s3_max_object_bytes(self) -> int: ...
    @property
    def iot_result_topic(self) -> str: ...
    @property
    def iot_data_endpoint(self) -> str | None: ...
    @property
    def jobs_bucket(self) -> str | None: ...
    @property
    def jobs_prefix(self) -> str: ...
    @property
    def job_max_image_bytes(self) -> int: ...
    @property
    def job_upload_expires_s(self) -> int: ...
    @property
    def jobs_retention_days(self) -> int: ...
    @property
    def jobs_topic_arn(self) -> str | None: ...


def check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} is out of range; it must be in [{low}, {high}].")


def check_event_settings(settings: EventSettings) -> None:
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
    check_range("S3_MAX_OBJECT_BYTES", settings.s3_max_object_bytes, 1, 2**31)
    _check_topic_template(settings.iot_result_topic)
    endpoint = settings.iot_data_endpoint
    if endpoint is not None and not endpoint.startswith("https://"):
        raise ConfigError(f"IOT_DATA_ENDPOINT={endpoint!r} must be an https:// URL.")
    _check_job_settings(settings)


# S3 takes at most 5 GB in one POST upload; a presigned POST policy lives at most 7 days.
S3_MAX_POST_BYTES = 5 * 1024**3
PRESIGN_MAX_EXPIRES_S = 7 * 24 * 3600
SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


def _check_job_settings(settings: EventSettings) -> None:
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
    check_range("JOB_MAX_IMAGE_BYTES", settings.job_max_image_bytes, 1, S3_MAX_POST_BYTES)
    check_range("JOB_UPLOAD_EXPIRES_S", settings.job_upload_expires_s, 1, PRESIGN_MAX_EXPIRES_S)
    check_range("JOBS_RETENTION_DAYS", settings.jobs_retention_days, 1, 36500)
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


# API keys -------------------------------------------------------------------------
MIN_API_KEY_CHARS = 16  # shorter keys can be guessed; API Gateway's own minimum is 20
MAX_API_KEY_CHARS = 1024  # what app.http.auth reads of a presented key


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
