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

# The task root (/var/task) is laid out by scripts/lambda_task_root.sh, the script that also
# lays it out for the tests that run the function as Lambda does (tests/test_local_lambda.py),
# so the image and those tests cannot drift. The build context is mounted for it, not copied:
# only what the script writes lands in the image.
# Runtime dependencies only (no test or lint tools), into the task root, which Lambda puts
# first on sys.path, in their own layer for caching.
RUN --mount=type=bind,source=scripts/lambda_task_root.sh,target=/src/scripts/lambda_task_root.sh \
    --mount=type=bind,source=requirements.txt,target=/src/requirements.txt \
    sh /src/scripts/lambda_task_root.sh --deps-only "${LAMBDA_TASK_ROOT}"

# The models served: model/<name>.onnx for each name of MODEL (MODELS_DIR, app/config.py,
# defaults to model/), the first the default. Their settings (recommended_settings in their
# metadata) come with them; the environment still wins (docs/configuration.md).
ARG MODEL=yolox_nano
ENV MODEL_PATH=${LAMBDA_TASK_ROOT}/model/${MODEL%%,*}.onnx
# app/, handler.py and model/ as the script lays them out: model/ holds exactly the models
# MODEL lists (an image without its models would only answer 503: the script refuses to build
# one; FETCH_MODEL=1 fetches the default first), each pre-optimised, and the code is compiled
# to bytecode (cold start: docs/performance.md).
ARG FETCH_MODEL=0
RUN --mount=type=bind,target=/src \
    sh /src/scripts/lambda_task_root.sh --no-deps --models "${MODEL}" \
      $(if [ "${FETCH_MODEL}" = 1 ]; then echo --fetch-model; fi) "${LAMBDA_TASK_ROOT}"

# The model loads (with one warm-up inference) when Lambda imports handler during init.
CMD ["handler.handler"]
