"""Command line: `python -m app serve` runs the API on a real WSGI server (waitress)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


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
    waitress.serve(app, host=host, port=port, threads=threads, ident="detect-api")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP API locally (waitress)")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve_cmd.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "4")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper())
    return serve(args.host, args.port, args.threads)


if __name__ == "__main__":
    sys.exit(main())
