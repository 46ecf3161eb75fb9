"""`python -m app enqueue` (backfill) and `python -m app submit` (the jobs client).

enqueue runs against moto in-process; submit talks real HTTP to the app (a live server on
loopback) and to moto's S3 server (ThreadedMotoServer on loopback), so the presigned POST and
every poll go over sockets, while a worker thread drains the queue as Lambda would.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import warnings
from pathlib import Path

import boto3
import pytest

from app import aws, create_app
from app.__main__ import main
from app.cli.enqueue import enqueue, notification, parse_s3_url
from app.cli.work import drain
from app.config import Settings
from app.events import handle_sqs_event
from app.service import DetectionService

from .aws_events import REGION, use_fake_credentials
from .live_server import free_port, serve_in_thread
from .test_jobs import BUCKET, _small_images, make_world

OLD_BUCKET = "old-bucket"


def _fill_old_bucket(s3) -> dict[str, bytes]:
    """A bucket that had objects before any notification existed."""
    s3.create_bucket(Bucket=OLD_BUCKET)
    images = {f"uploads/{i}.jpg": data for i, data in enumerate(_small_images(3))}
    objects = {**images, "uploads/broken.jpg": b"not an image", "uploads/folder/": b""}
    for key, data in objects.items():
        s3.put_object(Bucket=OLD_BUCKET, Key=key, Body=data)
    return objects


def _drain(world) -> None:
    settings, model = world.app.extensions["settings"], world.app.extensions["model"]
    drain(
        world.sqs,
        world.queue_url,
        lambda e: handle_sqs_event(e, DetectionService(settings, model), s3=world.s3),
    )


def test_enqueue_backfills_then_skips_what_is_up_to_date(world):
    objects = _fill_old_bucket(world.s3)
    settings = Settings.from_env({}, {"jobs_bucket": BUCKET})
    url = f"s3://{OLD_BUCKET}/uploads/"
    first = enqueue(world.s3, world.sqs, world.queue_url, url, settings)
    assert (first.listed, first.sent, first.not_images, first.up_to_date) == (5, 4, 1, 0)
    _drain(world)
    results = world.s3.list_objects_v2(Bucket=OLD_BUCKET, Prefix="detections/")["Contents"]
    assert sorted(r["Key"] for r in results) == sorted(
        f"detections/{key}.json" for key in objects if not key.endswith("/")
    )

    world.s3.put_object(Bucket=OLD_BUCKET, Key="uploads/1.jpg", Body=_small_images(5)[4])
    second = enqueue(world.s3, world.sqs, world.queue_url, url, settings)
    assert (second.sent, second.up_to_date) == (1, 3)  # only the object that changed
    shown = io.StringIO()
    forced = enqueue(
        world.s3, world.sqs, world.queue_url, url, settings, force=True, progress=shown
    )
    assert forced.sent == 4
    assert "5 listed, 4 to enqueue, 1 skipped" in shown.getvalue().split("\r")[-1]
    assert forced.failed == []


def test_enqueued_messages_are_s3_notifications_the_worker_reads(world):
    world.s3.create_bucket(Bucket=OLD_BUCKET)
    world.s3.put_object(Bucket=OLD_BUCKET, Key="uploads/my photo (1).jpg", Body=b"x")
    listed = world.s3.list_objects_v2(Bucket=OLD_BUCKET)["Contents"][0]
    record = notification(OLD_BUCKET, listed, REGION)["Records"][0]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["object"]["key"] == "uploads/my+photo+%281%29.jpg"  # as S3 encodes it
    assert record["s3"]["object"]["eTag"] == listed["ETag"].strip('"')


@pytest.mark.parametrize("url", ["bucket/prefix", "s3://", "https://x/y"])
def test_enqueue_refuses_what_is_not_an_s3_url(url, capsys):
    with pytest.raises(ValueError, match="not an S3 URL"):
        parse_s3_url(url)
    assert main(["enqueue", url, "--queue-url", "https://q"]) == 2
    assert "not an S3 URL" in capsys.readouterr().err


@pytest.fixture
def moto_server(monkeypatch):
    """moto's S3 and SQS as a real HTTP server on loopback; boto3 pointed at it."""
    with warnings.catch_warnings():  # moto asks for its [server] extra; we pin what it needs
        warnings.simplefilter("ignore")
        from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    use_fake_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()
    server.stop()


@contextlib.contextmanager
def api_and_worker(world):
    """The app on a live loopback server, and a thread draining the queue as Lambda would."""
    settings, model = world.app.extensions["settings"], world.app.extensions["model"]
    s3 = boto3.client("s3", region_name=REGION)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            drain(
                world.sqs,
                world.queue_url,
                lambda e: handle_sqs_event(e, DetectionService(settings, model), s3=s3),
            )
            stop.wait(0.2)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        with serve_in_thread(world.app) as base:
            yield base
    finally:
        stop.set()
        worker.join(timeout=30)


def test_submit_uploads_polls_and_prints_the_result(
    moto_server, yolox_model, demo_jpeg, tmp_path, capsys
):
    world = make_world(yolox_model, api_keys="k" * 20)
    image = tmp_path / "frame.jpg"
    image.write_bytes(demo_jpeg)
    with api_and_worker(world) as base:
        args = ["submit", str(image), "--api", base, "--api-key", "k" * 20]
        code = main([*args, "--classes", "car,truck", "--timeout-s", "60"])
        refused = main(["submit", str(image), "--api", base, "--timeout-s", "5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [line] = out.strip().splitlines()
    printed = json.loads(line)
    expected = (
        create_app(model=yolox_model)
        .test_client()
        .post("/detect?classes=car,truck", data=image.read_bytes(), content_type="image/jpeg")
    )
    assert printed["file"] == "frame.jpg"
    assert printed["detections"] == expected.get_json()["detections"]
    assert printed["count"] > 0
    assert refused == 1 and "unauthorized" in err  # no key: the API's 401, said plainly


def test_submit_says_why_a_job_failed(moto_server, yolox_model, tmp_path, capsys):
    world = make_world(yolox_model)
    image = tmp_path / "broken.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 not really")
    with api_and_worker(world) as base:
        code = main(["submit", str(image), "--api", base, "--timeout-s", "60"])
    assert code == 1
    assert "job failed: corrupt_image" in capsys.readouterr().err


def test_submit_needs_an_existing_file(capsys):
    assert main(["submit", str(Path("/nonexistent.jpg")), "--api", "http://127.0.0.1:9"]) == 2
    assert "no such file" in capsys.readouterr().err


def _notify_queue(topic_name: str = "jobs-finished") -> tuple[str, str, object]:
    """(topic ARN, URL of an SQS queue subscribed to it, the SQS client) on moto's server."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="submit-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    # Another client's job finishing first: submit must leave its message where it is.
    other = {"job_id": "f" * 32, "status": "done", "links": {"self": "/jobs/" + "f" * 32}}
    sns.publish(TopicArn=topic_arn, Message=json.dumps(other))
    return topic_arn, queue_url, sqs


def test_submit_waits_on_a_notify_queue_instead_of_polling(
    moto_server, yolox_model, demo_jpeg, tmp_path, capsys
):
    from flask import request

    topic_arn, queue_url, sqs = _notify_queue()
    world = make_world(yolox_model, jobs_topic_arn=topic_arn)
    job_reads: list[str] = []
    world.app.before_request(
        lambda: job_reads.append(request.path) if request.method == "GET" else None
    )
    image, broken = tmp_path / "frame.jpg", tmp_path / "broken.jpg"
    image.write_bytes(demo_jpeg)
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    with api_and_worker(world) as base:
        wait = ["--api", base, "--notify-queue", queue_url, "--timeout-s", "60"]
        code = main(["submit", str(image), *wait])
        out, err = capsys.readouterr()
        reads_of_the_good_job = list(job_reads)
        failed = main(["submit", str(broken), *wait])
    failed_err = capsys.readouterr().err
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]

    assert code == 0, err
    printed = json.loads(out)
    expected = (
        create_app(model=yolox_model)
        .test_client()
        .post("/detect", data=demo_jpeg, content_type="image/jpeg")
    )
    assert printed["detections"] == expected.get_json()["detections"]
    # One GET, after the notification arrived: no polling.
    assert len(reads_of_the_good_job) == 1 and reads_of_the_good_job[0].startswith("/jobs/")
    assert failed == 1 and "job failed: corrupt_image" in failed_err
    assert sum(int(n) for n in left.values()) == 1  # only the other client's message is left


def test_submit_says_when_no_notification_comes(
    moto_server, yolox_model, demo_jpeg, tmp_path, capsys
):
    """A queue that nothing publishes to (the worker has no JOBS_TOPIC_ARN here): submit waits
    --timeout-s, then says what GET shows instead of hanging or guessing."""
    _, queue_url, _ = _notify_queue()
    world = make_world(yolox_model)
    image = tmp_path / "frame.jpg"
    image.write_bytes(demo_jpeg)
    with serve_in_thread(world.app) as base:  # no worker: the job stays queued
        code = main(
            ["submit", str(image), "--api", base, "--notify-queue", queue_url, "--timeout-s", "2"]
        )
        missing = main(["submit", str(image), "--api", base, "--notify-queue", queue_url + "-gone"])
    err = capsys.readouterr().err
    assert code == 1 and "is queued and no notification came" in err
    assert "JobsTopicArn" in err
    assert missing == 1
    [gone] = [line for line in err.splitlines() if "submit-inbox-gone" in line]
    assert gone.startswith("error: ") and "NonExistentQueue" in gone, gone
