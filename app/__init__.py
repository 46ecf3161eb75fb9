"""Small-object detection API: the Flask app factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    model=None,
    fail_fast: bool = True,
):
    """Build the app: settings from the environment (then test_config), model loaded once.

    model: an already loaded `app.detector.Model` to share (tests, several apps per process).
    fail_fast: raise when the model cannot be loaded (local server: stop with the reason);
    False serves 503 `model_unavailable` instead (Lambda: an init crash only shows as 502).
    """
    from flask import Flask  # imported here so `app.detector` users need not pay for Flask

    from .api import bp
    from .auth import install_auth
    from .config import Settings
    from .deepstack import bp as deepstack_bp
    from .detector import ModelError, load_model
    from .errors import register_error_handlers
    from .observability import init_observability
    from .openapi import bp as openapi_bp
    from .pages import bp as pages_bp

    settings = Settings.from_env(os.environ, test_config)
    if model is None:
        try:
            model = load_model(
                settings.model_path,
                layout=settings.model_format,
                labels_path=settings.model_labels,
                threads=settings.model_threads,
            )
        except ModelError as exc:
            if fail_fast:
                raise
            log.error("model unavailable: %s", exc.message)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["settings"] = settings
    app.extensions["model"] = model
    register_error_handlers(app)
    install_auth(app, settings, fail_fast=fail_fast)
    app.register_blueprint(bp)
    for extra in (deepstack_bp, openapi_bp, pages_bp):  # issue 7: the ecosystem routes
        app.register_blueprint(extra)
    init_observability(app, settings)
    return app
