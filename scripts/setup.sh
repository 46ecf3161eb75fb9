#!/usr/bin/env bash
# One-time setup: a virtualenv in .venv with the pinned requirements, and the default model.
#   scripts/setup.sh          runtime requirements + model
#   scripts/setup.sh --dev    also test/lint/docs tools (the model is not needed by the tests)
#   scripts/setup.sh --train  also torch for `small-object-detect train` (requirements-train.txt,
#                             about 1.1 GB; with --dev too: both, as scripts/test.sh does)
# Offline machines: MODEL_SOURCE_FILE=/path/to/yolox_nano.onnx scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
train=0
for flag in "$@"; do
  case "$flag" in
    --dev) dev=1 ;;
    --train) train=1 ;;
    *) echo "usage: scripts/setup.sh [--dev] [--train]" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Installed once per set of pins: a rerun (scripts/serve.sh runs this every time) does not ask
# PyPI again, so offline it gets to the model step at once instead of after pip's retries.
stamp=".venv/.installed-$dev$train-$(cat requirements*.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  if [ "$dev" = 1 ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt \
      -r requirements-docs.txt
  else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  fi
  if [ "$train" = 1 ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-train.txt
  fi
  # The project itself (editable, pins above): the console script .venv/bin/small-object-detect.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi
if [ "$dev" = 0 ]; then
  .venv/bin/python -m app.cli.fetch_model
  # Performance: save the optimised graph beside the model (faster cold starts); optional.
  .venv/bin/python -m app.cli.optimize_model || echo "note: serving without a pre-optimised model copy"
fi
