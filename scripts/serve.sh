#!/usr/bin/env bash
# Set everything up, then serve the API on http://127.0.0.1:8080 (HOST, PORT, THREADS to change).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m app serve "$@"
