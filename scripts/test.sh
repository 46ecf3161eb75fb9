#!/usr/bin/env bash
# Install the dev requirements, then lint, run the whole test suite and build the docs site.
# Models and data come from ../shared; tests that need them skip with a reason when it is absent,
# except with CI set: then the run stops at once (tests/conftest.py), so green means they ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
# The demo-page tests (tests/test_pages.py) drive Debian's Chromium; install it where we may
# (root with apt-get, as in CI). Elsewhere those tests skip and say why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers (pyproject.toml [tool.importlinter]): e.g. app.http and app.events never import
# each other, app.detector imports nothing else of the app.
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
# The docs site: --strict turns a broken link, anchor or missing page into a failure. Not with
# --quiet: it hides the warnings from the strict count too, and the build then always passes.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$(mktemp -d)"
