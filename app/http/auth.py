"""API keys: who may call the service. One before_request hook, installed by create_app.

Keys come from API_KEYS or, read once at cold start, from the SSM SecureString parameter named
by API_KEYS_SSM_PARAMETER. A caller sends one in `x-api-key` or `Authorization: Bearer <key>`;
on the DeepStack routes also as the multipart form field `api_key`, where DeepStack clients
(Blue Iris, Agent DVR, Home Assistant) put it.
/health (and CORS preflight OPTIONS) stay open. Keys are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from flask import Flask, current_app, request

from .. import aws
from ..config import MAX_API_KEY_CHARS, Settings, split_api_keys
from ..detector.errors import ConfigError, DetectionError
from ..observability import loggable

log = logging.getLogger(__name__)

# Health, and the pages that only describe the API (demo, docs, OpenAPI, their static files):
# they hold no data; every route that runs the model needs a key.
OPEN_ENDPOINTS = frozenset(
    {"api.health", "pages.demo_page", "pages.docs_page", "openapi.openapi_json", "pages.asset"}
)
KEY_HEADER = "X-Api-Key"
# DeepStack's own way to send a key: a form field beside the image.
FORM_KEY_FIELD = "api_key"
FORM_KEY_ENDPOINTS = frozenset({"deepstack.detection", "deepstack.custom_detection"})
SSM_TIMEOUT_S = 3  # Lambda init has 10 s in all: a slow SSM must not eat it
SSM_ATTEMPTS = 3  # the first call and 2 retries


class Unauthorized(DetectionError):
    """No valid API key was presented."""

    code = "unauthorized"


class AuthUnavailable(DetectionError):
    """Keys are configured but could not be loaded: refuse rather than serve everyone."""

    code = "auth_unavailable"


@dataclass(frozen=True)
class KeyRing:
    """SHA-256 digests of the valid keys: comparing fixed-length digests hides key lengths."""

    digests: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> KeyRing:
        return cls(tuple(_digest(key) for key in keys))

    def accepts(self, presented: str) -> bool:
        """Constant time in the keys: every digest is compared, whichever one matches."""
        # Longer than any key cannot match; hash only a bounded prefix of it.
        candidate = _digest(presented[:MAX_API_KEY_CHARS])
        matched = False
        for digest in self.digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched and len(presented) <= MAX_API_KEY_CHARS


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def load_api_keys(settings: Settings) -> tuple[str, ...] | None:
    """The configured keys, or None when authentication is off. Raises ConfigError."""
    if settings.api_keys is not None:
        return split_api_keys(settings.api_keys, "API_KEYS")
    if settings.api_keys_ssm_parameter is not None:
        return _read_ssm_keys(settings.api_keys_ssm_parameter.strip())
    return None


def _read_ssm_keys(name: str) -> tuple[str, ...]:
    # Imported here: only deployments that keep their keys in SSM pay for importing boto3.
    from botocore.exceptions import BotoCoreError, ClientError

    try:  # making the client can fail too (no region): a ConfigError as well
        ssm = aws.new_client(
            "ssm",
            attempts=SSM_ATTEMPTS,
            connect_timeout_s=SSM_TIMEOUT_S,
            read_timeout_s=SSM_TIMEOUT_S,
        )
        reply = ssm.get_parameter(Name=name, WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"Cannot read API keys from SSM parameter {name}: {exc}") from exc
    return split_api_keys(reply["Parameter"]["Value"], f"SSM parameter {name}")


def install_auth(app: Flask, settings: Settings, *, fail_fast: bool) -> None:
    """Load the keys once and register the check; without keys configured, do nothing.

    When loading fails: raise (fail_fast, the local server stops with the reason) or refuse
    every protected request with 503 `auth_unavailable` (Lambda: fail closed, not open).
    """
    try:
        keys = load_api_keys(settings)
    except ConfigError as exc:
        if fail_fast:
            raise
        log.error("API keys could not be loaded; refusing all but /health: %s", exc.message)
        app.before_request(_refuse_all)
        return
    if keys is None:
        log.info("API keys: off (API_KEYS and API_KEYS_SSM_PARAMETER are unset)")
        return
    app.extensions["api_keys"] = KeyRing.of(keys)
    app.before_request(_require_key)
    log.info("API keys: on, %d key(s)", len(keys))


def _is_open() -> bool:
    return request.endpoint in OPEN_ENDPOINTS or request.method == "OPTIONS"


def _refuse_all() -> None:
    if not _is_open():
        raise AuthUnavailable(
            "Authentication is misconfigured on the server, so requests are refused; "
            "see the server log."
        )


def _require_key() -> None:
    if _is_open():
        return
    presented = _presented_keys()
    if not presented:
        form = f' or the form field "{FORM_KEY_FIELD}"' if _takes_form_key() else ""
        raise Unauthorized(
            f"This API needs a key: send it in the {KEY_HEADER.lower()} header, "
            f"as Authorization: Bearer <key>{form}."
        )
    ring: KeyRing = current_app.extensions["api_keys"]
    # Both headers are checked in full, so timing does not tell which one was right.
    results = [ring.accepts(key) for key in presented]
    if not any(results):
        log.debug(
            "refused %s %s: invalid API key", loggable(request.method), loggable(request.path)
        )
        raise Unauthorized("The API key is not valid.")


def _presented_keys() -> list[str]:
    keys = []
    header_key = request.headers.get(KEY_HEADER)
    if header_key:
        keys.append(header_key.strip())
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        keys.append(token.strip())
    if _takes_form_key():
        form_key = request.form.get(FORM_KEY_FIELD, "").strip()
        if form_key:
            keys.append(form_key)
    return keys


def _takes_form_key() -> bool:
    return request.endpoint in FORM_KEY_ENDPOINTS and request.mimetype == "multipart/form-data"
