"""Command line: `python -m app.cli.optimize_model` pre-optimises the model at image build time."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import DEFAULT_MODEL_PATH


def main(argv: list[str] | None = None) -> int:
    from ..detector import ModelError
    from ..detector.model import save_optimized

    parser = argparse.ArgumentParser(
        prog="python -m app.cli.optimize_model",
        description="Save the model's graph optimised beside it, so that every cold start "
        "loads the optimised graph instead of optimising it again (see docs/performance.md).",
    )
    default_model = Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH)
    parser.add_argument("model", nargs="?", type=Path, default=default_model)
    args = parser.parse_args(argv)
    try:
        target = save_optimized(args.model)
    except ModelError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
