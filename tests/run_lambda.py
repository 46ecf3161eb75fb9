"""Run the function as Lambda does, here, and send it one event: for debugging a deploy without
AWS (docs/deploy-aws.md, "Run it as Lambda does, locally").

    sudo .venv/bin/python -m tests.run_lambda tests/fixtures/events/apigw_http_v2.json \\
        --image photo.jpg [--function api] [--models yolox_nano] [--model-file PATH]

The task root is laid out by scripts/lambda_task_root.sh (the Dockerfile's step) and read-only,
the function runs under awslambdaric as a user of its own (so: root), AWS is a moto server with
serverless.yml's bucket, queue and topic. --image fills the event's placeholder (__BODY__ of an
HTTP event, __IMAGE_B64__ of an IoT message) or, for an S3 event, is uploaded to each record's
object first (in serverless.yml's bucket, or the one the record names). Prints the answer, the
result objects and IoT publishes it left, and Lambda's REPORT line; its log goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import sys
from pathlib import Path
from urllib.parse import unquote_plus

from .lambda_aws import LambdaAws
from .lambda_sandbox import Sandbox, SandboxUnavailable
from .local_lambda import moto_server, run_function
from .serverless_config import function_config, load_serverless


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the runtime API's request lines
    try:
        sandbox = Sandbox.create(args.models, args.model_file)
    except (SandboxUnavailable, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, sandbox)
    finally:
        sandbox.remove()


def _run(args: argparse.Namespace, sandbox: Sandbox) -> int:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(moto_server(sandbox.base))
        bucket = function_config("api", sandbox.task_root).environment["JOBS_BUCKET"]
        aws = LambdaAws.create(url, bucket)
        config = function_config(args.function, sandbox.task_root, {"JobsTopic": aws.topic_arn})
        event = _event(json.loads(args.event.read_text(encoding="utf-8")), args.image, aws)
        settings = dict(item.split("=", 1) for item in args.set)
        function = stack.enter_context(
            run_function(sandbox, config, url, models=args.models, settings=settings)
        )
        function.wait_for_init()
        if function.api.init_errors:
            print(json.dumps(function.api.init_errors[0][1], indent=2))
            print(function.log_tail(), file=sys.stderr)
            return 1
        invocation = function.invoke(event)
        report = function.report()
        print(json.dumps(invocation.json(), indent=2))
        _print_aws_effects(aws, config.environment["RESULTS_PREFIX"])
        print(function.log_tail(), file=sys.stderr)
        print(
            f"REPORT RequestId: {invocation.request_id}\tDuration: {invocation.duration_ms:.2f} ms"
            f"\tMemory Size: {report.memory_size_mb} MB"
            f"\tMax Memory Used: {report.max_memory_mb:.0f} MB"
            f"\tInit Duration: {report.init_ms:.2f} ms"
        )
        return 0 if invocation.ok else 1


def _print_aws_effects(aws: LambdaAws, results_prefix: str) -> None:
    """What the function left in AWS: result objects (S3, SQS events), IoT publishes."""
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix=results_prefix)
    for found in listed.get("Contents", []):
        print(f"s3://{aws.bucket}/{found['Key']}: {json.dumps(aws.get_json(found['Key']))}")
    for topic, payload in aws.iot_publishes():
        print(f"IoT publish to {topic}: {json.dumps(payload)}")


def _event(event: dict, image: Path | None, aws: LambdaAws) -> dict:
    """The event with the image in it, or (S3 events) uploaded where its records point."""
    if image is None:
        return event
    data = image.read_bytes()
    if event.get("body") == "__BODY__":
        body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
        encoded = event.get("isBase64Encoded")
        event["body"] = base64.b64encode(body).decode() if encoded else body.decode()
    elif event.get("image") == "__IMAGE_B64__":
        event["image"] = base64.b64encode(data).decode()
    for record in event.get("Records", []):
        if "s3" in record:
            where = record["s3"]
            if where["bucket"]["name"] != aws.bucket:  # serverless.yml's exists already
                aws.s3.create_bucket(Bucket=where["bucket"]["name"])
            key = unquote_plus(where["object"]["key"])
            aws.s3.put_object(Bucket=where["bucket"]["name"], Key=key, Body=data)
            where["object"]["size"] = len(data)
    return event


def _parser() -> argparse.ArgumentParser:
    functions = sorted(load_serverless()["functions"])
    parser = argparse.ArgumentParser(prog="python -m tests.run_lambda", description=__doc__)
    parser.add_argument("event", type=Path, help="the event, JSON (tests/fixtures/events/...)")
    parser.add_argument("--function", choices=functions, default="api", help="serverless.yml's")
    parser.add_argument("--image", type=Path, help="the picture the event carries or names")
    parser.add_argument("--models", default="yolox_nano", help="the image's MODEL build argument")
    parser.add_argument(
        "--model-file", type=Path, action="append", default=[], help="an ONNX file for model/"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting (env)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
