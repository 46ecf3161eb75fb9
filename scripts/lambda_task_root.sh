#!/bin/sh
# Lays out the Lambda function's folder, the task root, as the image has it: the runtime
# requirements installed into it, app/, handler.py, and model/ holding exactly the models
# --models lists, each pre-optimised, with the code compiled to bytecode. The Dockerfile builds
# the image's /var/task with it, and tests/local_lambda.py builds the same folder to run the
# function the way Lambda does, so the two cannot drift (docs/deploy-aws.md, "Run it as Lambda
# does, locally").
#
#   scripts/lambda_task_root.sh [options] TASK_ROOT
#     --models LIST      the models served, comma-separated, the default first (yolox_nano):
#                        model/<name>.onnx each; model/'s other model files are left out
#     --model-file PATH  also put this ONNX file in model/ under its own name, as
#                        scripts/setup.sh would have (e.g. ../shared/models/yolox_nano.onnx)
#     --fetch-model      fetch the default model into model/ (python -m app.cli.fetch_model)
#     --deps-only        only install requirements.txt into TASK_ROOT (the image's cached layer)
#     --no-deps          everything but that install: whatever runs the folder must already
#                        have requirements.txt installed (the image's layer below, a dev venv)
# PYTHON names the interpreter (default python3), as for scripts/setup.sh. The sources are the
# checkout this script is in (the build context, in the image).
set -eu

usage() {
  echo "usage: scripts/lambda_task_root.sh [--models LIST] [--model-file PATH]..." \
    "[--fetch-model] [--deps-only | --no-deps] TASK_ROOT" >&2
  exit 2
}

models=yolox_nano
model_files=""
fetch=0
deps=1
code=1
root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --models) [ $# -ge 2 ] || usage; models=$2; shift ;;
    --model-file) [ $# -ge 2 ] || usage; model_files="$model_files
$2"; shift ;;
    --fetch-model) fetch=1 ;;
    --deps-only) code=0 ;;
    --no-deps) deps=0 ;;
    -*) usage ;;
    *) [ -z "$root" ] || usage; root=$1 ;;
  esac
  shift
done
[ -n "$root" ] || usage
python=${PYTHON:-python3}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root"
root=$(cd "$root" && pwd)

if [ "$deps" = 1 ]; then
  # Into the task root, which Lambda puts first on sys.path: the pins win over anything the
  # base image ships (its boto3 among them).
  "$python" -m pip install --no-cache-dir --disable-pip-version-check \
    --target "$root" -r "$source_dir/requirements.txt"
fi
[ "$code" = 1 ] || exit 0

# Names of model/ only: no path, no hidden file, no empty name in the list.
case ",$models," in *,,*|*/*|*,.*|*" "*)
  echo "--models $models (the image's MODEL): name a file of model/ without its .onnx, or" \
    "several, comma-separated, such as yolox_nano,aerial-vehicles" >&2
  exit 1;;
esac

# The sources as the build context has them (.dockerignore): no bytecode, no scratch files.
# (Python rather than find: the base image is a minimal one.)
cp -R "$source_dir/app" "$source_dir/handler.py" "$source_dir/model" "$root/"
"$python" -c 'import pathlib, shutil, sys
for cache in list(pathlib.Path(sys.argv[1]).rglob("__pycache__")): shutil.rmtree(cache)' "$root/app"
rm -f "$root"/model/*.tmp*
echo "$model_files" | while IFS= read -r file; do
  [ -z "$file" ] || cp "$file" "$root/model/"
done

cd "$root"
if [ "$fetch" = 1 ]; then "$python" -m app.cli.fetch_model; fi
for name in $(echo "$models" | tr ',' ' '); do
  if [ ! -s "model/$name.onnx" ]; then
    echo "model/$name.onnx is missing: run scripts/setup.sh (or python -m app.cli.fetch_model)" \
      "before building, or build with --build-arg FETCH_MODEL=1 (here: --fetch-model)" >&2
    exit 1
  fi
done
# The image serves exactly the models listed (stale optimised copies go too).
for file in model/*.onnx; do
  case ",$models," in *",$(basename "$file" .onnx),"*) ;; *) rm -f "$file";; esac
done

# Cold start (docs/performance.md): pre-optimise each model's graph and compile the app's
# bytecode here, once, rather than at every init; the task root is read-only on Lambda, so no
# .pyc could be cached there later. bench/coldstart.py measures each.
for name in $(echo "$models" | tr ',' ' '); do
  "$python" -m app.cli.optimize_model "model/$name.onnx"
done
"$python" -m compileall -q app handler.py
