"""Small-object detection API: the Flask app factory.

The layers, one package each (dependencies point one way: adapters -> service -> schemas ->
detector; the contracts in pyproject.toml, checked by lint-imports, hold them there):
    app/detector/   the pure library: image bytes in, Detections out (no Flask, no AWS)
    app/schemas/    the request/response contract every entry point shares
    app/service.py  the detection service: which model and settings, validation, the answer
    app/http/       the Flask side: views, jobs, OpenAPI, pages, DeepStack, uploads, auth
    app/events/     the AWS event adapters: S3, SQS worker, IoT
    app/jobs/       job state in S3, shared by POST /jobs and the worker
    app/aws.py      every boto3 client, one retry and timeout configuration, AWS error triage
    app/tuning/     pure: the settings search behind `tune` (AP50, model passes, k-fold)
    app/training/   `train` alone: the only package that imports torch
    app/cli/        the command line: serve, detect, tune, train, work, enqueue, submit,
                    models, and the model fetcher and optimiser (app/__main__.py lists them)
    app/config.py   one frozen Settings, read from the environment once
    app/observability.py  logs and metrics (the Flask hooks: app/http/observability.py)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    model=None,
    fail_fast: bool = True,
):
    """Build the app: settings from the environment (then test_config), model loaded once.

    model: an already loaded `app.detector.Model` to share (tests, several apps per process):
    it is the default model, under its own name; MODELS_DIR's other models load on first use.
    fail_fast: raise when the model cannot be loaded (local server: stop with the reason);
    False serves 503 `model_unavailable` instead (Lambda: an init crash only shows as 502).
    """
    from flask import Flask  # imported here so `app.detector` users need not pay for Flask

    from .config import Settings
    from .http.api import bp
    from .http.auth import install_auth
    from .http.deepstack import bp as deepstack_bp
    from .http.errors import register_error_handlers
    from .http.jobs import bp as jobs_bp
    from .http.observability import init_observability
    from .http.openapi import bp as openapi_bp
    from .http.pages import bp as pages_bp
    from .service import start_service

    settings = Settings.from_env(os.environ, test_config)
    # The default loads now, the others on first use; its recommended settings apply.
    service = start_service(settings, model=model, fail_fast=fail_fast)
    settings = service.settings
    app = Flask(__name__, static_folder=None)  # app/http/pages.py serves the static files
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["settings"] = settings
    app.extensions["model"] = service.loaded
    app.extensions["service"] = service
    register_error_handlers(app)
    install_auth(app, settings, fail_fast=fail_fast)
    app.register_blueprint(bp)
    for extra in (jobs_bp, deepstack_bp, openapi_bp, pages_bp):  # the ecosystem routes
        app.register_blueprint(extra)
    init_observability(app, settings)
    return app
