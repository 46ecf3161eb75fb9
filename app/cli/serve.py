"""`python -m app serve`: the HTTP API on a real WSGI server (waitress)."""

from __future__ import annotations

import argparse
import os
import sys


def add_serve_command(commands) -> None:
    cmd = commands.add_parser(
        "serve",
        help="run the HTTP API locally (waitress)",
        description="Serve the API on waitress (the model loads first; see docs/cli.md).",
    )
    cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="default $HOST")
    cmd.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8080")), help="default $PORT"
    )
    cmd.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("THREADS", "4")),
        help="request threads (default $THREADS or 4)",
    )
    cmd.add_argument(
        "--model",
        help="the default model: a name in MODELS_DIR or an ONNX file (default MODEL_PATH); "
        "every model in MODELS_DIR is served by name beside it",
    )
    cmd.set_defaults(func=serve_main)


def serve_main(args: argparse.Namespace) -> int:
    return serve(args.host, args.port, args.threads, model=args.model)


def serve(host: str, port: int, threads: int, *, model: str | None = None) -> int:
    import waitress

    from .. import create_app
    from ..config import Settings
    from ..detector import DetectionError
    from ..registry import model_file

    try:
        config = None
        if model:
            config = {"model_path": model_file(model, Settings.from_env(os.environ))}
        app = create_app(config)
    except DetectionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    info, names = app.extensions["model"].info, app.extensions["service"].names
    others = f"; by name: {', '.join(names)}" if len(names) > 1 else ""
    print(f"Serving {info.name} ({info.layout.name}) on http://{host}:{port}{others}", flush=True)
    waitress.serve(app, host=host, port=port, **waitress_options(app, threads))
    return 0


# Waitress buffers a whole body (to a temporary file past 512 KB) before the app can refuse it,
# and by default accepts 1 GB. Bodies up to this multiple of MAX_BODY_BYTES still get the app's
# JSON 413; beyond it waitress answers a plain-text 413 itself without storing them.
WAITRESS_BODY_MULTIPLE = 4


def waitress_options(app, threads: int) -> dict:
    """Keyword arguments for waitress.serve / create_server for this app."""
    max_body_bytes = app.extensions["settings"].max_body_bytes
    return {
        "threads": threads,
        "ident": "detect-api",
        # + 1: waitress refuses a body whose length is >= its limit.
        "max_request_body_size": WAITRESS_BODY_MULTIPLE * max_body_bytes + 1,
    }
