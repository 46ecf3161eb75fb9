# The AWS Lambda image of the detection API (also runs as a plain HTTP server; see README).
#   docker build --platform linux/amd64 -t small-object-detect .
# MODEL picks the model the image serves: model/${MODEL}.onnx (default yolox_nano, the COCO
# model), e.g. our own vehicles-from-above model, kept in the repository:
#   docker build --platform linux/amd64 --build-arg MODEL=aerial-vehicles -t small-object-detect .
# The default model must be in model/ first (scripts/setup.sh or `python -m app.cli.fetch_model`
# puts it there), or let the build fetch it with the project's verified fetcher:
#   docker build --platform linux/amd64 --build-arg FETCH_MODEL=1 -t small-object-detect .
FROM public.ecr.aws/lambda/python:3.12

# Runtime dependencies only (no test or lint tools), in their own layer for caching.
COPY requirements.txt ${LAMBDA_TASK_ROOT}/
RUN pip install --no-cache-dir -r ${LAMBDA_TASK_ROOT}/requirements.txt

COPY app/ ${LAMBDA_TASK_ROOT}/app/
COPY handler.py ${LAMBDA_TASK_ROOT}/
COPY model/ ${LAMBDA_TASK_ROOT}/model/

# The model served: model/${MODEL}.onnx. Its settings (recommended_settings in its metadata)
# come with it; the environment still wins (docs/configuration.md).
ARG MODEL=yolox_nano
ENV MODEL_PATH=${LAMBDA_TASK_ROOT}/model/${MODEL}.onnx
# An image without its model would only answer 503: refuse to build one.
ARG FETCH_MODEL=0
RUN case "${MODEL}" in ""|*/*|.*) echo "MODEL=${MODEL}: name a file of model/ without" \
      "its .onnx, such as aerial-vehicles" >&2; exit 1;; esac \
 && if [ "${FETCH_MODEL}" = 1 ]; then python3 -m app.cli.fetch_model; fi \
 && if [ ! -s "${LAMBDA_TASK_ROOT}/model/${MODEL}.onnx" ]; then \
      echo "model/${MODEL}.onnx is missing: run scripts/setup.sh (or python -m app.cli.fetch_model)" \
           "before building, or build with --build-arg FETCH_MODEL=1" >&2; exit 1; fi

# Cold start (README, Performance): pre-optimise the model's graph and compile the app's
# bytecode here, once, rather than at every init; the task root is read-only on Lambda, so
# no .pyc could be cached there later. bench/coldstart.py measures each (about 8 and 29 ms).
RUN cd "${LAMBDA_TASK_ROOT}" \
 && python3 -m app.cli.optimize_model "model/${MODEL}.onnx" \
 && python3 -m compileall -q app handler.py

# The model loads (with one warm-up inference) when Lambda imports handler during init.
CMD ["handler.handler"]
