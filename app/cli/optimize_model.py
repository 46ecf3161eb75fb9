"""`small-object-detect optimize-model` (also `python -m app.cli.optimize_model`): save the model's
graph optimised beside it, at image build time."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import DEFAULT_MODEL_PATH

DESCRIPTION = (
    "Save the model's graph optimised beside it, so that every cold start loads the optimised "
    "graph instead of optimising it again (see docs/performance.md)."
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    default_model = Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH)
    parser.add_argument(
        "model", nargs="?", type=Path, default=default_model, help="default $MODEL_PATH"
    )


def add_optimize_model_command(commands) -> None:
    cmd = commands.add_parser(
        "optimize-model", help="pre-optimise the model (image build time)", description=DESCRIPTION
    )
    _add_arguments(cmd)
    cmd.set_defaults(func=optimize_model_main)


def optimize_model_main(args: argparse.Namespace) -> int:
    from ..detector import ModelError
    from ..detector.model import save_optimized

    try:
        target = save_optimized(args.model)
    except ModelError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    prog = "python -m app.cli.optimize_model"
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    _add_arguments(parser)
    return optimize_model_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
