"""Command line: `small-object-detect serve` (or `python -m app serve`) runs the API on a real
WSGI server (waitress); `detect PATH...` runs the detector over images; `tune IMAGES_DIR
--labels LABELS` finds the slicing settings that find labelled objects best; `work` drains the
SQS queue, `enqueue` backfills it, `submit IMAGE` sends a big image through a deployed API's
jobs; `train` fine-tunes a model on labelled images (`choose-settings` chooses a trained
model's settings again); `models` lists the models served by name;
`fetch-model` and `optimize-model` put the model in place.
The console script is installed into .venv by scripts/setup.sh; each command and its arguments
live in its module in app/cli/."""

from __future__ import annotations

import argparse
import os
import sys

from .cli.choose_settings import add_choose_settings_command
from .cli.detect import add_detect_command
from .cli.enqueue import add_enqueue_command
from .cli.fetch_model import add_fetch_model_command
from .cli.models import add_models_command
from .cli.optimize_model import add_optimize_model_command
from .cli.serve import add_serve_command
from .cli.submit import add_submit_command
from .cli.train import add_train_command
from .cli.tune import add_tune_command
from .cli.work import add_work_command
from .observability import configure_logging

# Each adds its subcommand with its own arguments and sets `func`, which main() calls with the
# parsed arguments and whose return value is the exit status.
COMMANDS = (
    add_serve_command,
    add_detect_command,
    add_tune_command,
    add_train_command,
    add_choose_settings_command,
    add_work_command,
    add_enqueue_command,
    add_submit_command,
    add_models_command,
    add_fetch_model_command,
    add_optimize_model_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="small-object-detect", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # LOG_FORMAT=json: one JSON object per line, as on Lambda (app/observability.py).
    configure_logging(os.environ.get("LOG_FORMAT", "text"), os.environ.get("LOG_LEVEL", "INFO"))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
