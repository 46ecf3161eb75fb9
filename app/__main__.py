"""Command line: `small-object-detect serve` (or `python -m app serve`) runs the API on a real
WSGI server (waitress); `detect PATH...` runs the detector over images; `tune IMAGES_DIR
--labels LABELS` finds the slicing settings that find labelled objects best; `work` drains the
SQS queue, `enqueue` backfills it, `submit IMAGE` sends a big image through a deployed API's
jobs. The console script is installed into .venv by scripts/setup.sh; the tools live in
app/cli/."""

from __future__ import annotations

import argparse
import os
import sys

from .cli.detect import add_detect_command, detect_main
from .cli.enqueue import add_enqueue_command, enqueue_main
from .cli.serve import serve
from .cli.submit import add_submit_command, submit_main
from .cli.train import add_train_command, train_main
from .cli.tune import add_tune_command, tune_main
from .cli.work import add_work_command, work_main
from .observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="small-object-detect", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the HTTP API locally (waitress)")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve_cmd.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "4")))
    add_detect_command(commands)
    add_tune_command(commands)
    add_train_command(commands)
    add_work_command(commands)
    add_enqueue_command(commands)
    add_submit_command(commands)
    args = parser.parse_args(argv)
    # LOG_FORMAT=json: one JSON object per line, as on Lambda (app/observability.py).
    configure_logging(os.environ.get("LOG_FORMAT", "text"), os.environ.get("LOG_LEVEL", "INFO"))
    if args.command == "detect":
        return detect_main(args)
    if args.command == "tune":
        return tune_main(args)
    if args.command == "train":
        return train_main(args)
    if args.command == "work":
        return work_main(args)
    if args.command == "enqueue":
        return enqueue_main(args)
    if args.command == "submit":
        return submit_main(args)
    return serve(args.host, args.port, args.threads)


if __name__ == "__main__":
    sys.exit(main())
