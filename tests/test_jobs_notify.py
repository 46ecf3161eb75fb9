"""Retention and completion notifications of jobs under moto: real S3 -> SQS -> worker -> SNS ->
SQS subscriptions, the worker driven as Lambda's event source mapping drives it, the API
through its routes. Publishing failures are AWS's own 503 answers (tests/aws_events.py
inject_error) on the worker's SNS client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
from moto import mock_aws

from app import aws
from app.cli.notify_wait import notification_of
from app.cli.work import drain
from app.config import Settings
from app.detector.errors import ConfigError, InvalidImage
from app.events import handle_sqs_event
from app.jobs import JobKeys, expires_at, finish_job, new_job_id
from app.service import DetectionService

from .aws_events import inject_error, make_client, queue_arn, record_calls, use_fake_credentials
from .test_jobs import BUCKET, JOB_OPTIONS, World, _small_images, make_world, upload

BROKEN = b"\xff\xd8\xff\xe0 this is not really a JPEG"


@dataclass
class Notified:
    """A World whose worker publishes to a topic, and an SQS queue subscribed to it."""

    world: World
    sns: object
    topic_arn: str
    inbox_url: str

    def subscribe(self, name: str, **attributes: str) -> str:
        """Another SQS queue subscribed to the topic (attributes: FilterPolicy, ...)."""
        sqs = self.world.sqs
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn(sqs, url),
            Attributes=attributes,
        )
        return url

    def raw_messages(self, queue_url: str | None = None) -> list[dict]:
        """Every message in the queue (the inbox by default), received and deleted."""
        sqs, url, found = self.world.sqs, queue_url or self.inbox_url, []
        while batch := sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            found += batch
        return found

    def messages(self, queue_url: str | None = None) -> list[dict]:
        """The notifications in the queue: SNS's envelope opened, body and attributes."""
        opened = []
        for message in self.raw_messages(queue_url):
            envelope = json.loads(message["Body"])
            attributes = envelope.get("MessageAttributes", {})
            opened.append(
                {
                    "body": json.loads(envelope["Message"]),
                    "attributes": {name: a["Value"] for name, a in attributes.items()},
                    "subject": envelope.get("Subject"),
                }
            )
        return opened


def notified_world(model, *, publish: bool = True, **settings) -> Notified:
    """The jobs world, a topic with a subscribed queue; publish: give the worker its ARN."""
    sns = make_client("sns")
    topic_arn = sns.create_topic(Name="jobs-finished")["TopicArn"]
    topic = {"jobs_topic_arn": topic_arn} if publish else {}
    world = make_world(model, **topic, **settings)
    inbox = world.sqs.create_queue(QueueName="inbox")["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(world.sqs, inbox))
    return Notified(world, sns, topic_arn, inbox)


@pytest.fixture
def notified(moto_aws, yolox_model):
    return notified_world(yolox_model)


def _schema(world: World, name: str):
    document = world.client.get("/openapi.json").get_json()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def _image_reads(s3):
    """From now on: how many GetObject calls this client made on job images (detection's)."""
    calls = record_calls(s3, "GetObject")
    return lambda: sum(call["Key"].endswith("/image") for call in calls)


def test_each_finished_job_publishes_one_message_done_or_failed(notified):
    world = notified.world
    failed_only = notified.subscribe("failed-only", FilterPolicy=json.dumps({"status": ["failed"]}))
    good = world.client.post("/jobs", json={"options": JOB_OPTIONS}).get_json()
    bad = world.client.post("/jobs").get_json()
    upload(good, _small_images(1)[0])
    upload(bad, BROKEN)
    world.work()

    messages = notified.messages()
    by_job = {m["body"]["job_id"]: m for m in messages}
    assert len(messages) == 2 and set(by_job) == {good["job_id"], bad["job_id"]}
    schema = _schema(world, "JobNotification")
    for job, status in ((good, "done"), (bad, "failed")):
        shown = world.client.get(job["links"]["self"]).get_json()
        assert shown["status"] == status
        message = by_job[job["job_id"]]
        fields = ("job_id", "status", "created_at", "finished_at", "links")
        expected = {name: shown[name] for name in fields}
        if status == "failed":
            expected["error"] = shown["error"]
        assert message["body"] == expected  # no result: GET links.self has it
        assert message["attributes"] == {"status": status, "job_id": job["job_id"]}
        assert schema.is_valid(message["body"]), message["body"]
        assert job["job_id"] in message["subject"] and status in message["subject"]
    assert by_job[bad["job_id"]]["body"]["error"]["code"] == "corrupt_image"
    # Subscribers filter on the attributes: this queue asked for failures only.
    assert [m["body"]["job_id"] for m in notified.messages(failed_only)] == [bad["job_id"]]


def test_a_redelivered_message_writes_the_same_result_and_publishes_nothing_more(notified):
    world = notified.world
    job = world.client.post("/jobs", json={"options": JOB_OPTIONS}).get_json()
    upload(job, _small_images(1)[0])
    received = world.sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10)
    [notice] = [m["Body"] for m in received["Messages"] if "Records" in json.loads(m["Body"])]
    world.work()
    keys = JobKeys("jobs/", job["job_id"])
    first = world.s3.get_object(Bucket=BUCKET, Key=keys.result)["Body"].read()
    assert len(notified.messages()) == 1

    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=notice)  # delivered again
    reads = _image_reads(world.s3)
    stats = world.work()

    assert (stats.received, stats.retried) == (1, 0)
    assert world.s3.get_object(Bucket=BUCKET, Key=keys.result)["Body"].read() == first
    assert reads() == 0  # a finished job is not detected again
    assert notified.messages() == []


def test_a_failed_publish_is_retried_and_published_once(notified):
    """SNS answers 503 to the first publish: the record fails, the message comes back, and
    the re-delivery publishes without detecting again."""
    world = notified.world
    sns = make_client("sns")
    calls = {"n": 0}

    def first_only(_params) -> bool:
        calls["n"] += 1
        return calls["n"] == 1

    inject_error(sns, "Publish", status=503, code="ServiceUnavailable", when=first_only)
    job = world.client.post("/jobs", json={"options": JOB_OPTIONS}).get_json()
    upload(job, _small_images(1)[0])
    settings, model = world.app.extensions["settings"], world.app.extensions["model"]
    reads = _image_reads(world.s3)

    stats = drain(
        world.sqs,
        world.queue_url,
        lambda event: handle_sqs_event(
            event, DetectionService(settings, model), s3=world.s3, sns=sns
        ),
    )

    assert stats.retried == 1 and calls["n"] == 2
    assert reads() == 1  # detected once; the re-delivery only published
    [message] = notified.messages()
    assert message["body"]["status"] == "done"
    assert world.client.get(job["links"]["self"]).get_json()["status"] == "done"


def test_notify_false_publishes_nothing(notified):
    world = notified.world
    quiet = world.client.post("/jobs", json={"options": {"notify": False, "confidence": 0.3}})
    loud = world.client.post("/jobs", json={"options": {"notify": True}})
    assert quiet.status_code == loud.status_code == 201
    for created in (quiet, loud):
        upload(created.get_json(), _small_images(1)[0])
    world.work()

    for created in (quiet, loud):
        assert world.client.get(created.headers["Location"]).get_json()["status"] == "done"
    assert [m["body"]["job_id"] for m in notified.messages()] == [loud.get_json()["job_id"]]
    stored = world.json(f"jobs/{quiet.get_json()['job_id']}/job.json")
    assert (stored["options"], stored["notify"]) == ({"confidence": 0.3}, False)


@pytest.mark.parametrize("value", ["no", 0, None, [False]])
def test_notify_must_be_a_boolean(notified, value):
    response = notified.world.client.post("/jobs", json={"options": {"notify": value}})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_field" and '"notify"' in error["message"]
    assert notified.world.keys("jobs/") == []


def test_without_jobs_topic_arn_nothing_is_published(monkeypatch, yolox_model):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        silent = notified_world(yolox_model, publish=False)
        job = silent.world.client.post("/jobs").get_json()
        upload(job, _small_images(1)[0])
        silent.world.work()
        status = silent.world.client.get(job["links"]["self"]).get_json()["status"]
        messages = silent.messages()
        # The topic itself works: a publish of our own arrives.
        silent.sns.publish(TopicArn=silent.topic_arn, Message="{}")
        assert len(silent.raw_messages()) == 1
    aws.client.cache_clear()
    assert status == "done"
    assert messages == []


def test_sqs_subscribers_read_the_same_notification_raw_or_in_the_envelope(notified):
    raw_inbox = notified.subscribe("raw-inbox", RawMessageDelivery="true")
    job = notified.world.client.post("/jobs").get_json()
    upload(job, _small_images(1)[0])
    notified.world.work()
    [enveloped] = notified.raw_messages()
    [raw] = notified.raw_messages(raw_inbox)
    assert json.loads(enveloped["Body"])["Type"] == "Notification"
    assert notification_of(enveloped) == notification_of(raw) == json.loads(raw["Body"])
    assert notification_of(raw)["job_id"] == job["job_id"]
    assert notification_of({"Body": "not json"}) is None
    assert notification_of({"Body": json.dumps({"Records": []})}) is None


def test_the_first_result_is_final(world):
    """Two deliveries finishing one job: the second gets the first's outcome, writes nothing."""
    keys = JobKeys("jobs/", new_job_id())
    outcome, wrote = finish_job(world.s3, BUCKET, keys, result={"count": 0, "detections": []})
    later, wrote_again = finish_job(world.s3, BUCKET, keys, error=InvalidImage("broken"))
    assert (wrote, wrote_again) == (True, False)
    assert later == outcome == world.json(keys.result)
    assert outcome["status"] == "done"


# --- retention --------------------------------------------------------------------------------


def test_expires_at_counts_days_as_s3_lifecycle_rules_do():
    # The example of S3's documentation: created 2014-01-15 10:30 UTC, a 3-day rule: the
    # object expires at 2014-01-19 00:00 UTC (the days added, then the next midnight).
    created = datetime(2014, 1, 15, 10, 30, tzinfo=UTC)
    assert expires_at(created, 3) == datetime(2014, 1, 19, tzinfo=UTC)


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _age_job(world: World, job_id: str, age: timedelta) -> None:
    """job.json as it would read `age` after the job was created (S3 may not have removed
    an expired job yet: deletion lags its expiry date)."""
    key = f"jobs/{job_id}/job.json"
    request = world.json(key)
    created = datetime.now(UTC) - age
    request["created_at"] = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    world.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(request).encode())


@pytest.mark.parametrize("days", [7, 2])
def test_an_expired_job_answers_404_naming_the_retention(monkeypatch, yolox_model, days):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        world = make_world(yolox_model, jobs_retention_days=days)
        created = world.client.post("/jobs").get_json()
        shown = world.client.get(created["links"]["self"]).get_json()
        _age_job(world, created["job_id"], timedelta(days=days - 1))
        still_kept = world.client.get(created["links"]["self"])
        _age_job(world, created["job_id"], timedelta(days=days + 1))
        expired = world.client.get(created["links"]["self"])
        for key in world.keys(f"jobs/{created['job_id']}/"):  # what the lifecycle rule does
            world.s3.delete_object(Bucket=BUCKET, Key=key)
        deleted = world.client.get(created["links"]["self"])
    aws.client.cache_clear()

    expiry, created_at = _parse(created["expires_at"]), _parse(shown["created_at"])
    assert shown["expires_at"] == created["expires_at"]
    assert (expiry.hour, expiry.minute, expiry.second) == (0, 0, 0)
    assert timedelta(days=days) <= expiry - created_at <= timedelta(days=days + 1)
    assert still_kept.status_code == 200
    for gone in (expired, deleted):
        assert gone.status_code == 404
        error = gone.get_json()["error"]
        assert error["code"] == "not_found"
        assert f"jobs are kept {days} days" in error["message"]
        assert created["job_id"] in error["message"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"jobs_topic_arn": "jobs-finished"}, "JOBS_TOPIC_ARN"),
        ({"jobs_topic_arn": "arn:aws:sqs:us-east-1:123456789012:q"}, "JOBS_TOPIC_ARN"),
        ({"jobs_retention_days": 0}, "JOBS_RETENTION_DAYS"),
        ({"jobs_retention_days": 1, "job_upload_expires_s": 86400}, "JOB_UPLOAD_EXPIRES_S"),
    ],
)
def test_bad_retention_and_topic_settings_fail_at_cold_start(overrides, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({}, overrides)


def test_retention_and_topic_come_from_the_environment():
    arn = "arn:aws:sns:eu-west-1:123456789012:small-object-detect-prod-JobsTopic-1A2B3C"
    settings = Settings.from_env({"JOBS_RETENTION_DAYS": "30", "JOBS_TOPIC_ARN": arn})
    assert (settings.jobs_retention_days, settings.jobs_topic_arn) == (30, arn)
    assert Settings().jobs_topic_arn is None  # unset: no notifications


def test_the_openapi_document_describes_notify_and_expires_at(notified):
    document = notified.world.client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert schemas["JobRequest"]["properties"]["options"]["properties"]["notify"]["type"] == (
        "boolean"
    )
    created = notified.world.client.post("/jobs", json={"options": {"notify": False}})
    assert _schema(notified.world, "JobCreated").is_valid(created.get_json())
    assert "expires_at" in schemas["JobCreated"]["required"]
    assert "expires_at" in schemas["Job"]["properties"]
