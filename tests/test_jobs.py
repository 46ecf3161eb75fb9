"""Jobs and the SQS worker under moto: real S3 -> SQS notifications, the presigned POST really
sent (requests), the queue drained as Lambda's event source mapping does (app/cli/work.py).

What cannot run here: AWS's transient failures. `inject_error` (tests/aws_events.py) makes
chosen S3 calls of the worker's client answer with AWS's own error responses instead.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
import time
from dataclasses import dataclass

import numpy as np
import pytest
import requests
from moto import mock_aws
from PIL import Image

from app import aws, create_app
from app.cli.work import drain
from app.detector import detect_bytes
from app.events import handle_sqs_event
from app.schemas.detect import detection_response, parse_detect_request
from app.service import DetectionService

from .aws_events import inject_error, make_client, notify_queue, queue_arn, use_fake_credentials
from .conftest import b64, encode_image

BUCKET = "work-bucket"
JOB_OPTIONS = {"classes": ["car", "truck", "bus"], "confidence": 0.3}


@dataclass
class World:
    """moto's S3 and SQS wired as serverless.yml wires them, and the app with jobs on."""

    s3: object
    sqs: object
    queue_url: str
    dlq_url: str
    app: object

    @property
    def client(self):
        return self.app.test_client()

    def work(self, s3=None, model="loaded"):
        """Drain the queue through the worker, as Lambda would; s3: the worker's client."""
        settings = self.app.extensions["settings"]
        loaded = self.app.extensions["model"] if model == "loaded" else model
        service = (
            loaded if isinstance(loaded, DetectionService) else DetectionService(settings, loaded)
        )
        worker_s3 = s3 or self.s3
        return drain(
            self.sqs, self.queue_url, lambda event: handle_sqs_event(event, service, s3=worker_s3)
        )

    def count(self, queue_url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        return sum(int(v) for v in found["Attributes"].values())

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return sorted(o["Key"] for o in listed)

    def json(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def make_world(model, *, max_receive: int = 3, **settings) -> World:
    s3, sqs = make_client("s3"), make_client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    dlq_url = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
    # Visibility 0: a message left for re-delivery is visible again at once (no waiting here).
    attributes = {"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)}
    queue_url = sqs.create_queue(QueueName="work", Attributes=attributes)["QueueUrl"]
    rules = [[("prefix", "uploads/")], [("prefix", "jobs/"), ("suffix", "/image")]]
    notify_queue(s3, sqs, BUCKET, queue_url, rules)
    app = create_app({"jobs_bucket": BUCKET, **settings}, model=model)
    return World(s3, sqs, queue_url, dlq_url, app)


def upload(job: dict, data: bytes) -> requests.Response:
    """What a client does with POST /jobs' answer: multipart, the fields, then `file`."""
    form = job["upload"]
    assert form["method"] == "POST"
    files = {"file": ("image.jpg", data, "image/jpeg")}
    return requests.post(form["url"], data=form["fields"], files=files, timeout=30)


def big_jpeg() -> bytes:
    """6000x4000 JPEG of the demo scene tiled (cars to find) with noise: over 4.5 MB, so its
    base64 cannot fit Lambda's 6 MB synchronous payload."""
    from .conftest import shared_path

    tile = Image.open(shared_path("data", "demo", "small-vehicles1.jpeg")).convert("RGB")
    canvas = Image.new("RGB", (6000, 4000))
    for top in range(0, 4000, tile.height):
        for left in range(0, 6000, tile.width):
            canvas.paste(tile, (left, top))
    pixels = np.asarray(canvas, dtype=np.int16)
    noise = np.random.default_rng(7).integers(-12, 13, pixels.shape, dtype=np.int16)
    noisy = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    return encode_image(noisy, "JPEG", quality=92)


def expected_result(app, data: bytes, options: dict) -> dict:
    """What POST /detect would answer for these bytes and options (computed directly, since
    the body is too big for POST /detect itself), without the run-to-run timings."""
    settings, model = app.extensions["settings"], app.extensions["model"]
    parsed = parse_detect_request(
        dict(options), settings, model.info, max_image_bytes=len(data), image_bytes=data
    )
    result = detect_bytes(model, data, parsed.options, max_pixels=settings.max_image_pixels)
    return without_timings(detection_response(result, model.info))


def without_timings(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "timings_ms"}


def test_a_big_image_end_to_end(world):
    data = big_jpeg()
    assert len(b64(data)) > 6 * 1024 * 1024, "the image must be over the synchronous limit"
    too_big = world.client.post("/detect", json={"image": b64(data)})
    assert too_big.status_code == 413
    assert "POST /jobs" in too_big.get_json()["error"]["message"]

    created = world.client.post("/jobs", json={"options": JOB_OPTIONS})
    assert created.status_code == 201, created.get_json()
    job = created.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", job["job_id"])
    assert job["status"] == "awaiting_upload"
    assert created.headers["Location"] == job["links"]["self"] == f"/jobs/{job['job_id']}"
    assert job["upload"]["max_bytes"] == 100 * 1024 * 1024
    assert job["upload"]["expires_in"] == 900
    status = world.client.get(job["links"]["self"]).get_json()
    assert status["status"] == "awaiting_upload"
    assert status["created_at"].endswith("Z")

    assert upload(job, data).status_code == 204
    assert world.client.get(job["links"]["self"]).get_json()["status"] == "queued"
    stats = world.work()
    assert stats.retried == 0

    done = world.client.get(job["links"]["self"])
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "done", body
    assert body["result"]["image"] == {"width": 6000, "height": 4000}
    assert body["result"]["count"] > 100  # the tiled demo scene: many cars
    assert without_timings(body["result"]) == expected_result(world.app, data, JOB_OPTIONS)
    assert world.count(world.queue_url) == 0


def test_the_upload_policy_pins_the_key_size_and_expiry(world):
    job = world.client.post("/jobs", json={}).get_json()
    fields = job["upload"]["fields"]
    assert fields["key"] == f"jobs/{job['job_id']}/image"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4: what S3 accepts today
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 100 * 1024 * 1024] in policy["conditions"]
    assert {"key": fields["key"]} in policy["conditions"]
    expires = time.strptime(policy["expiration"][:19], "%Y-%m-%dT%H:%M:%S")
    left_s = time.mktime(expires) - time.mktime(time.gmtime())
    assert 800 < left_s <= 900


def test_a_broken_upload_fails_the_job_with_the_detect_error(world):
    job = world.client.post("/jobs").get_json()
    upload(job, b"\xff\xd8\xff\xe0 this is not really a JPEG")
    world.work()
    body = world.client.get(job["links"]["self"]).get_json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "corrupt_image"
    assert body["error"]["message"]
    assert "result" not in body


def test_an_oversized_upload_fails_the_job_even_if_s3_took_it(monkeypatch, yolox_model):
    """S3 enforces the policy's size range; moto does not, so the worker's own cap is checked."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        small = make_world(yolox_model, job_max_image_bytes=1000)
        job = small.client.post("/jobs").get_json()
        upload(job, encode_image(np.zeros((200, 200, 3), np.uint8)) + b"\0" * 2000)
        small.work()
        body = small.client.get(job["links"]["self"]).get_json()
    aws.client.cache_clear()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "image_too_large"
    assert "(JOB_MAX_IMAGE_BYTES) is 1,000 bytes" in body["error"]["message"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"options": {"confidance": 0.5}}}, 400, "unknown_field"),
        ({"json": {"options": {"classes": ["unicorn"]}}}, 400, "unknown_class"),
        ({"json": {"options": {"confidence": 2}}}, 400, "invalid_field"),
        ({"json": {"options": {"image": "QUJD"}}}, 400, "invalid_field"),
        ({"json": {"options": []}}, 400, "invalid_field"),
        ({"json": {"option": {}}}, 400, "unknown_field"),
        ({"json": []}, 400, "invalid_request"),
        ({"data": b"{", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": b"x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_job_options_are_validated_as_detect_validates_them(world, kwargs, status, code):
    response = world.client.post("/jobs", **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert world.keys("jobs/") == []  # nothing stored for a refused job


@pytest.mark.parametrize("job_id", ["0" * 32, "ABCDEF" + "0" * 26, "123", "x" * 200])
def test_unknown_or_malformed_ids_are_404(world, job_id):
    response = world.client.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_without_a_bucket_jobs_answer_503_naming_the_setting(yolox_model):
    client = create_app(model=yolox_model).test_client()
    for response in (client.post("/jobs", json={}), client.get("/jobs/" + "0" * 32)):
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert error["code"] == "jobs_unavailable"
        assert "JOBS_BUCKET" in error["message"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connecting is refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_storage_answers_503_naming_the_cause(monkeypatch, yolox_model, caplog):
    use_fake_credentials(monkeypatch)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    unreachable = aws.new_client("s3", endpoint_url=endpoint, attempts=1)  # one try: quick
    monkeypatch.setattr(aws, "client", lambda service, endpoint_url=None: unreachable)
    client = create_app({"jobs_bucket": BUCKET}, model=yolox_model).test_client()
    for response in (client.post("/jobs", json={}), client.get("/jobs/" + "0" * 32)):
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert error["code"] == "jobs_unavailable"
        assert error["message"] == (
            "Job storage cannot be used right now: could not connect to storage; retry in a "
            "few seconds."
        )
        assert endpoint not in error["message"]
    assert "could not connect to storage" in caplog.text and endpoint in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "cause"),
    [
        (503, "SlowDown", "storage is busy (SlowDown)"),
        (500, "InternalError", "storage failed (InternalError)"),
    ],
)
def test_storage_errors_name_their_cause_too(monkeypatch, yolox_model, status, code, cause):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        world = make_world(yolox_model)
        s3 = aws.client("s3")
        inject_error(s3, "GetObject", status=status, code=code)
        response = world.client.get("/jobs/" + "0" * 32)
    aws.client.cache_clear()
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == (
        f"Job storage cannot be used right now: {cause}; retry in a few seconds."
    )


def test_api_keys_protect_the_job_routes(monkeypatch, yolox_model):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        keyed = make_world(yolox_model, api_keys="k" * 20)
        client = keyed.client
        assert client.post("/jobs", json={}).status_code == 401
        assert client.get("/jobs/" + "0" * 32).status_code == 401
        created = client.post("/jobs", json={}, headers={"X-Api-Key": "k" * 20})
        assert created.status_code == 201
        status = client.get(created.headers["Location"], headers={"X-Api-Key": "k" * 20})
    aws.client.cache_clear()
    assert status.get_json()["status"] == "awaiting_upload"


def _small_images(count: int) -> list[bytes]:
    """Small real pictures (crops of the demo scene, cars in most) for bulk runs."""
    from .conftest import shared_path

    scene = Image.open(shared_path("data", "demo", "small-vehicles1.jpeg")).convert("RGB")
    crops = []
    for i in range(count):
        left = (i * 61) % (scene.width - 320)
        buffer = io.BytesIO()
        scene.crop((left, 150, left + 320, 390)).save(buffer, "JPEG", quality=90)
        crops.append(buffer.getvalue())
    return crops


def test_bulk_uploads_survive_transient_faults(monkeypatch, yolox_model):
    """A quarter of the worker's GetObject/PutObject calls fail with S3's 503 SlowDown: every
    upload still ends with exactly one result, corrupt ones with an error result, and both
    queues end empty. The worker never raises (drain would)."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        # Lambda retries a message until maxReceiveCount; at 25 % faults on 2+ calls a record,
        # three deliveries are not always enough, so this queue allows more before the DLQ.
        bulk = make_world(yolox_model, max_receive=50)
        images = {f"uploads/cam{i:02d}.jpg": data for i, data in enumerate(_small_images(24))}
        corrupt = {f"uploads/broken{i}.jpg": b"\xff\xd8\xff" + bytes(40) for i in range(4)}
        for key, data in {**images, **corrupt}.items():
            bulk.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        job = bulk.client.post("/jobs", json={"options": JOB_OPTIONS}).get_json()
        upload(job, images["uploads/cam00.jpg"])

        worker_s3 = make_client("s3")
        rng, faults = random.Random(2026), {"n": 0}

        def quarter(_params) -> bool:
            hit = rng.random() < 0.25
            faults["n"] += hit
            return hit

        for operation in ("GetObject", "PutObject"):
            inject_error(worker_s3, operation, status=503, code="SlowDown", when=quarter)
        started = time.perf_counter()
        stats = bulk.work(s3=worker_s3)
        wall_s = time.perf_counter() - started

        results = bulk.keys("detections/")
        assert results == sorted(f"detections/{key}.json" for key in {**images, **corrupt})
        for key in corrupt:
            assert bulk.json(f"detections/{key}.json")["error"]["code"] == "corrupt_image"
        for key in images:
            assert "detections" in bulk.json(f"detections/{key}.json")
        assert bulk.client.get(job["links"]["self"]).get_json()["status"] == "done"
        assert bulk.count(bulk.queue_url) == 0
        assert bulk.count(bulk.dlq_url) == 0
    aws.client.cache_clear()
    assert faults["n"] > 10 and stats.retried > 0, "the faults must have bitten"
    print(
        f"\nbulk under faults: {len(images) + len(corrupt)} uploads + 1 job, "
        f"{faults['n']} faults injected, {stats.received} deliveries "
        f"({stats.retried} re-deliveries), {wall_s:.1f} s, 0 lost"
    )


def test_a_poison_message_ends_in_the_dead_letter_queue(monkeypatch, yolox_model):
    """Results that can never be written (the bucket refuses them for good): the message is
    retried maxReceiveCount (3) times, then moved to the DLQ; no endless loop."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        poisoned = make_world(yolox_model)
        poisoned.s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=_small_images(1)[0])
        worker_s3 = make_client("s3")
        inject_error(worker_s3, "PutObject", status=403, code="AccessDenied")
        stats = poisoned.work(s3=worker_s3)
        dead = poisoned.sqs.receive_message(QueueUrl=poisoned.dlq_url, AttributeNames=["All"]).get(
            "Messages", []
        )
        assert poisoned.count(poisoned.queue_url) == 0
        assert poisoned.keys("detections/") == []
    aws.client.cache_clear()
    assert stats.retried == 3  # three deliveries, each reported as failed
    assert len(dead) == 1
    record = json.loads(dead[0]["Body"])["Records"][0]
    assert record["s3"]["object"]["key"].replace("%2F", "/") == "uploads/a.jpg"


def test_the_s3_test_event_is_acknowledged_and_junk_is_kept(world):
    # Setting up the notifications put S3's test event in the queue: it must go away quietly.
    settings, model = world.app.extensions["settings"], world.app.extensions["model"]
    received = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in received["Messages"]]
    assert any(body.get("Event") == "s3:TestEvent" for body in bodies)
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody="not a notification")
    stats = world.work()
    assert stats.retried >= 1  # the junk message is retried (then kept in the DLQ)
    event = {
        "Records": [
            {"messageId": "a", "body": json.dumps(bodies[0]), "eventSource": "aws:sqs"},
            {"messageId": "b", "body": "{}", "eventSource": "aws:sqs"},
        ]
    }
    answer = handle_sqs_event(event, DetectionService(settings, model), s3=world.s3)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}


def test_without_a_model_every_message_is_left_for_later(world):
    world.s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=_small_images(1)[0])
    stats = world.work(model=None)
    assert stats.deleted == 0 and stats.retried >= 1
    assert world.keys("detections/") == []
