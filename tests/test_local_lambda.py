"""The function run the way Lambda runs it: the task root laid out by the Dockerfile's own script,
read-only, under `python -m awslambdaric`, fed by a local Runtime API, with S3, SQS, SNS and IoT
Data at a moto server in its own process, over HTTP (tests/local_lambda.py).

Read-only: the function runs as a user id of its own (setpriv, so root is needed) and every
folder but its /tmp stand-in is root's without write permission for others, so a write
anywhere else fails with EACCES; at init that is an init error, which fails these tests, and
the last test fails if that user left a file anywhere outside its /tmp stand-in. One moto
server per module; each serverless.yml function starts once, on first use.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from urllib.parse import quote_plus

import pytest

from app import create_app
from app.cli.work import drain

from .aws_events import load_event as load_aws_event
from .aws_events import s3_event, small_jpeg
from .conftest import REPO_ROOT, b64, shared_path
from .lambda_aws import LambdaAws
from .lambda_sandbox import Sandbox, SandboxUnavailable, check_requirements
from .local_lambda import moto_server, run_function
from .serverless_config import function_config
from .test_handler import comparable, load_event, response_json, retarget, with_body
from .test_jobs import _small_images, upload

MODELS = "yolox_nano,aerial-vehicles"  # the image built with MODEL=yolox_nano,aerial-vehicles
BROKEN = b"\xff\xd8\xff\xe0 this is not really a JPEG"
EACCES = "13"
# Tries to create a file in each folder named; prints "<folder> written" or "<folder> <errno>".
WRITE_PROBE = """
import os, sys
for folder in sys.argv[1:]:
    try:
        open(os.path.join(folder, "probe"), "w").close()
        print(folder, "written")
    except OSError as exc:
        print(folder, exc.errno)
"""


@pytest.fixture(scope="module")
def sandbox():
    try:
        check_requirements()
    except SandboxUnavailable as exc:
        pytest.skip(f"cannot run the function as Lambda does here: {exc}")
    box = Sandbox.create(MODELS, [shared_path("models", "yolox_nano.onnx")])
    yield box
    box.remove()


@pytest.fixture(scope="module")
def aws(sandbox):
    bucket = function_config("api", sandbox.task_root).environment["JOBS_BUCKET"]
    with moto_server(sandbox.base) as url:
        yield LambdaAws.create(url, bucket)


@pytest.fixture(scope="module")
def start(sandbox, aws):
    """start(function, **settings): that serverless.yml function, initialised; started once
    per module for each function and settings (environment variables over serverless.yml's)."""
    running = {}
    with contextlib.ExitStack() as stack:

        def start(function: str, **settings: str):
            key = (function, tuple(sorted(settings.items())))
            if key not in running:
                config = function_config(function, sandbox.task_root, {"JobsTopic": aws.topic_arn})
                running[key] = stack.enter_context(
                    run_function(sandbox, config, aws.url, models=MODELS, settings=settings)
                )
                running[key].wait_for_init()
            return running[key]

        yield start


@pytest.fixture(scope="module")
def direct(sandbox):
    """The task root's models in this process, without the runtime: the reference answers."""
    models = sandbox.task_root / "model"
    app = create_app({"models_dir": models, "model_path": models / "yolox_nano.onnx"})
    return app.test_client()


def answer(invocation) -> dict:
    assert invocation.ok, invocation.json()
    return invocation.json()


def test_the_function_may_write_only_its_tmp(sandbox):
    places = [sandbox.task_root, sandbox.task_root / "model", sandbox.home, REPO_ROOT, sandbox.tmp]
    done = subprocess.run(
        sandbox.command([sys.executable, "-c", WRITE_PROBE, *map(str, places)]),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    outcome = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    assert outcome == {**{str(p): EACCES for p in places[:-1]}, str(sandbox.tmp): "written"}
    (sandbox.tmp / "probe").unlink()


HTTP_EVENTS = [
    ("apigw_http_v2", None),
    ("apigw_rest_v1", None),
    ("apigw_http_v2", "aerial-vehicles"),
    ("apigw_rest_v1_base64", "aerial-vehicles"),
]


@pytest.mark.parametrize(("fixture", "model"), HTTP_EVENTS)
def test_api_gateway_event_detects_as_in_process(start, direct, demo_jpeg, fixture, model):
    payload = {"image": b64(demo_jpeg), **({"model": model} if model else {})}
    event = with_body(load_event(fixture), json.dumps(payload).encode())

    response = answer(start("api").invoke(event))

    assert response["statusCode"] == 200, response["body"]
    body = response_json(response)
    assert body["model"]["name"] == (model or "yolox_nano")
    assert body["count"] >= 1
    assert comparable(body) == comparable(direct.post("/detect", json=payload).get_json())


def test_s3_put_event_writes_its_result_to_the_bucket(start, aws, direct, demo_jpeg):
    key = "uploads/site a/photo 1.jpg"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=demo_jpeg)
    event = s3_event(quote_plus(key), bucket=aws.bucket, size=len(demo_jpeg))

    outcome = answer(start("api").invoke(event))

    assert [record["status"] for record in outcome["records"]] == ["ok"]
    stored = aws.get_json(f"detections/{key}.json")
    assert stored["source"]["key"] == key
    expected = direct.post("/detect", json={"image": b64(demo_jpeg)}).get_json()
    assert comparable({k: v for k, v in stored.items() if k != "source"}) == comparable(expected)


def test_sqs_batch_names_only_the_message_to_retry(start, aws, demo_jpeg):
    # A corrupt image is a permanent failure: an error result, and the message is done
    # (docs/deploy-aws.md, S3 uploads). Only what a retry could fix comes back: here a message
    # that is not an S3 notification at all.
    aws.take_messages(aws.queue_url)  # earlier uploads' notifications
    good, bad = "uploads/batch/good.jpg", "uploads/batch/corrupt.jpg"
    aws.s3.put_object(Bucket=aws.bucket, Key=good, Body=demo_jpeg)
    aws.s3.put_object(Bucket=aws.bucket, Key=bad, Body=BROKEN)
    stray = aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody='{"not": "s3"}')
    worker, failures = start("worker"), []

    def handle(event: dict) -> dict:
        failures.append(answer(worker.invoke(event)))
        return failures[-1]

    drain(aws.sqs, aws.queue_url, handle, max_batches=1)

    assert failures == [{"batchItemFailures": [{"itemIdentifier": stray["MessageId"]}]}]
    assert aws.queued(aws.queue_url) == (0, 1)  # deleted but the stray, which will come back
    assert aws.get_json(f"detections/{good}.json")["count"] >= 1
    assert aws.get_json(f"detections/{bad}.json")["error"]["code"] == "corrupt_image"


def test_finished_job_is_announced_once_on_the_subscribed_queue(start, aws):
    aws.take_messages(aws.queue_url)
    api, worker = start("api"), start("worker")
    posted = answer(api.invoke(retarget(load_event("apigw_http_v2"), "POST", "/jobs")))
    assert posted["statusCode"] == 201, posted["body"]
    job = response_json(posted)
    assert upload(job, _small_images(1)[0]).status_code == 204

    drain(aws.sqs, aws.queue_url, lambda event: answer(worker.invoke(event)))

    messages = [json.loads(m["Body"]) for m in aws.take_messages(aws.inbox_url)]
    assert [json.loads(m["Message"])["job_id"] for m in messages] == [job["job_id"]]
    shown = answer(api.invoke(retarget(load_event("apigw_http_v2"), "GET", job["links"]["self"])))
    assert response_json(shown)["status"] == "done"
    assert json.loads(messages[0]["Message"])["status"] == "done"


def test_iot_message_publishes_its_result_to_the_device_topic(start, aws, direct, demo_jpeg):
    frame = small_jpeg(demo_jpeg)
    message = {**load_aws_event("iot_rule_base64"), "image": b64(frame)}

    answer(start("iotWorker").invoke(message))

    [published] = [payload for topic, payload in aws.iot_publishes() if topic == "detections/cam-7"]
    assert published["device_id"] == "cam-7"
    expected = direct.post("/detect", json={"image": b64(frame), "confidence": 0.3}).get_json()
    assert comparable({k: v for k, v in published.items() if k != "device_id"}) == comparable(
        expected
    )


def test_missing_model_starts_and_answers_503_by_design(start, sandbox):
    # create_app(fail_fast=False): a model that cannot load is no init error (Lambda would only
    # show opaque 502s); every request says 503 model_unavailable, the log says why.
    missing = sandbox.task_root / "model" / "absent.onnx"
    function = start("api", MODEL_PATH=str(missing))
    assert function.api.init_errors == []

    health = answer(function.invoke(load_event("apigw_http_v2_get_health")))
    detect = with_body(load_event("apigw_http_v2"), json.dumps({"image": b64(BROKEN)}).encode())
    refused = answer(function.invoke(detect))

    assert (health["statusCode"], response_json(health)["status"]) == (503, "unavailable")
    assert refused["statusCode"] == 503
    error = response_json(refused)["error"]
    assert error["code"] == "model_unavailable"
    assert str(sandbox.task_root) not in error["message"] and ".onnx" not in error["message"]
    assert "absent.onnx" in function.log_tail()  # the operator's log names the file


def test_bad_setting_is_an_init_error_that_names_it(start):
    function = start("api", DEFAULT_CONFIDENCE="1.5")

    [(error_type, document)] = function.api.init_errors

    assert error_type == document["errorType"] == "ConfigError"
    assert document["errorMessage"].startswith("DEFAULT_CONFIDENCE=1.5 is out of range")
    assert function.api.first_next_s is None  # it never asked for an event
    assert function.process.wait(timeout=30) != 0


def test_invocation_that_raises_reports_the_error_and_the_next_one_answers(start, sandbox):
    function = start("api")

    failed = function.invoke({"hello": "world"})
    health = answer(function.invoke(load_event("apigw_http_v2_get_health")))

    assert failed.error_type == "InvalidRequest"
    document = failed.json()
    assert document["errorType"] == "InvalidRequest"
    assert document["errorMessage"].startswith("Unsupported event (keys: ['hello'])")
    assert "/" not in document["errorMessage"] and "Traceback" not in document["errorMessage"]
    # awslambdaric adds the frames (Lambda gives them to a direct invoker and the log, never
    # through API Gateway): they are the task root's code, nothing else.
    frames = document["stackTrace"]
    assert frames and all(f'File "{sandbox.task_root}/' in frame for frame in frames)
    assert health["statusCode"] == 200
    assert function.process.poll() is None  # the same process answered


def test_peak_memory_stays_under_the_functions_memory_size(start):
    for function in ("api", "worker", "iotWorker"):
        report = start(function).report()
        assert 0 < report.max_memory_mb < report.memory_size_mb, function


def test_nothing_was_written_outside_tmp(sandbox, start):
    # Last: after every scenario above. The function's user owns nothing outside its /tmp
    # stand-in (no new file in the task root, HOME, /tmp, /var/tmp or /dev/shm).
    start("api")
    assert sandbox.writes_outside_tmp() == []
