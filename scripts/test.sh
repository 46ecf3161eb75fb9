#!/usr/bin/env bash
# Install the dev requirements, then lint and run the whole test suite.
# Models and data come from ../shared; tests that need them skip with a reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
