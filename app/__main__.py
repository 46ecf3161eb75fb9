"""Command line: `python -m app serve` runs the API on a real WSGI server (waitress);
`python -m app detect PATH...` runs the detector over images (app/cli.py)."""

from __future__ import annotations

import argparse
import os
import sys

from .cli import add_detect_command, detect_main
from .observability import configure_logging


def serve(host: str, port: int, threads: int) -> int:
    import waitress

    from . import create_app
    from .detector import DetectionError

    try:
        app = create_app()
    except DetectionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    info = app.extensions["model"].info
    print(f"Serving {info.name} ({info.layout.name}) on http://{host}:{port}", flush=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP API locally (waitress)")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve_cmd.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "4")))
    add_detect_command(commands)
    args = parser.parse_args(argv)
    # LOG_FORMAT=json: one JSON object per line, as on Lambda (app/observability.py).
    configure_logging(os.environ.get("LOG_FORMAT", "text"), os.environ.get("LOG_LEVEL", "INFO"))
    if args.command == "detect":
        return detect_main(args)
    return serve(args.host, args.port, args.threads)


if __name__ == "__main__":
    sys.exit(main())
