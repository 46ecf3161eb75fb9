# syntax=docker/dockerfile:1.7
# (1.7: for ${MODEL%%,*} below, the first name of the list.)
# The AWS Lambda image of the detection API (also runs as a plain HTTP server; see README).
#   docker build --platform linux/amd64 -t small-object-detect .
# MODEL lists the models the image serves, comma-separated, the default first: each is
# model/<name>.onnx (default yolox_nano, the COCO model), e.g. our own vehicles-from-above
# model, kept in the repository, alone or beside the COCO one (requests pick it by name):
#   docker build --platform linux/amd64 --build-arg MODEL=aerial-vehicles -t small-object-detect .
#   docker build --platform linux/amd64 --build-arg MODEL=yolox_nano,aerial-vehicles -t ... .
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

# The models served: model/<name>.onnx for each name of MODEL (MODELS_DIR, app/config.py,
# defaults to model/), the first the default. Their settings (recommended_settings in their
# metadata) come with them; the environment still wins (docs/configuration.md).
ARG MODEL=yolox_nano
ENV MODEL_PATH=${LAMBDA_TASK_ROOT}/model/${MODEL%%,*}.onnx
# An image without its models would only answer 503: refuse to build one. Other model files
# of model/ are removed, so that the image serves exactly the models MODEL lists.
ARG FETCH_MODEL=0
RUN case ",${MODEL}," in *,,*|*/*|*,.*|*" "*) echo "MODEL=${MODEL}: name a file of model/" \
      "without its .onnx, or several, comma-separated, such as yolox_nano,aerial-vehicles" >&2; \
      exit 1;; esac \
 && if [ "${FETCH_MODEL}" = 1 ]; then python3 -m app.cli.fetch_model; fi \
 && for name in $(echo "${MODEL}" | tr ',' ' '); do \
      if [ ! -s "${LAMBDA_TASK_ROOT}/model/${name}.onnx" ]; then \
        echo "model/${name}.onnx is missing: run scripts/setup.sh (or python -m" \
             "app.cli.fetch_model) before building, or build with --build-arg FETCH_MODEL=1" >&2; \
        exit 1; fi; done \
 && for file in "${LAMBDA_TASK_ROOT}"/model/*.onnx; do \
      case ",${MODEL}," in *",$(basename "${file}" .onnx),"*) ;; *) rm -f "${file}";; esac; done

# Cold start (README, Performance): pre-optimise the model's graph and compile the app's
# bytecode here, once, rather than at every init; the task root is read-only on Lambda, so
# no .pyc could be cached there later. bench/coldstart.py measures each (about 8 and 29 ms).
RUN cd "${LAMBDA_TASK_ROOT}" \
 && for name in $(echo "${MODEL}" | tr ',' ' '); do \
      python3 -m app.cli.optimize_model "model/${name}.onnx" || exit 1; done \
 && python3 -m compileall -q app handler.py

# The model loads (with one warm-up inference) when Lambda imports handler during init.
CMD ["handler.handler"]
