"""API keys as the settings carry them: a comma- or newline-separated list, each key checked
for what HTTP headers can carry (app/config.py validates API_KEYS with it at cold start,
app/http/auth.py the SSM parameter's value)."""

from __future__ import annotations

import re
from typing import Any

from .detector.errors import ConfigError

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
