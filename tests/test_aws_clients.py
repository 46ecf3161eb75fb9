"""Every AWS client the app makes comes from app/aws.py, with the same retry mode and explicit
attempts and timeouts: checked on the clients themselves (client.meta.config), as the entry
points create them under moto."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from app import aws, create_app
from app.cli.enqueue import enqueue_main
from app.config import Settings
from app.events import handle_iot_event, handle_s3_event
from app.service import DetectionService
from tests.aws_events import REGION, s3_event, use_fake_credentials

AWS_MODULE = Path(aws.__file__).resolve()


@pytest.fixture
def made(monkeypatch):
    """(service, client, file that called boto3.client) for every client made meanwhile."""
    use_fake_credentials(monkeypatch)
    real, clients = boto3.client, []

    def recording(service, *args, **kwargs):
        caller = Path(inspect.stack()[1].filename).resolve()
        client = real(service, *args, **kwargs)
        clients.append((service, client, caller))
        return client

    with mock_aws():
        setup_s3 = real("s3", region_name=REGION)  # the test's own, made before recording
        setup_ssm = real("ssm", region_name=REGION)
        monkeypatch.setattr(boto3, "client", recording)
        aws.client.cache_clear()
        yield clients, setup_s3, setup_ssm
    aws.client.cache_clear()


def check(client, caller: Path, *, attempts: int, connect_s: float, read_s: float) -> None:
    config = client.meta.config
    assert caller == AWS_MODULE, f"a client made in {caller}"
    assert config.retries == {"mode": aws.RETRY_MODE, "total_max_attempts": attempts}
    assert (config.connect_timeout, config.read_timeout) == (connect_s, read_s)


def test_the_triggers_jobs_and_enqueue_make_their_clients_in_app_aws(made, yolox_model):
    clients, s3, _ = made
    s3.create_bucket(Bucket="jobs-bucket")
    settings = Settings.from_env({}, {"jobs_bucket": "jobs-bucket"})
    app = create_app({"jobs_bucket": "jobs-bucket"}, model=yolox_model)
    assert app.test_client().post("/jobs", json={}).status_code == 201  # S3: presigned POST
    handle_s3_event(
        s3_event("uploads/gone.jpg", bucket="jobs-bucket"), DetectionService(settings, yolox_model)
    )
    handle_iot_event(
        {"device_id": "?"}, DetectionService(settings, yolox_model)
    )  # IoT: publishes the error
    aws.client.cache_clear()  # enqueue makes its own
    args = argparse.Namespace(
        url="s3://jobs-bucket/none/", queue_url="", force=False, progress=False
    )
    assert enqueue_main(args) == 0  # lists an empty prefix: nothing to send
    services = sorted(service for service, _, _ in clients)
    assert services == ["iot-data", "s3", "s3", "sqs"]
    for _, client, caller in clients:
        check(
            client,
            caller,
            attempts=aws.ATTEMPTS,
            connect_s=aws.CONNECT_TIMEOUT_S,
            read_s=aws.READ_TIMEOUT_S,
        )
    s3_clients = [client for service, client, _ in clients if service == "s3"]
    assert all(client.meta.config.signature_version == "s3v4" for client in s3_clients)


def test_the_api_key_read_at_start_up_keeps_its_tighter_budget(made, yolox_model):
    from app.http import auth

    clients, _, ssm = made
    ssm.put_parameter(Name="/detect/keys", Value="alpha-0123456789abcdef", Type="SecureString")
    create_app({"api_keys_ssm_parameter": "/detect/keys"}, model=yolox_model)
    [(service, client, caller)] = clients
    assert service == "ssm"
    budget_s = auth.SSM_TIMEOUT_S
    check(client, caller, attempts=auth.SSM_ATTEMPTS, connect_s=budget_s, read_s=budget_s)


def test_a_shared_client_is_made_once(made):
    clients, _, _ = made
    assert aws.client("sqs") is aws.client("sqs")
    assert [service for service, _, _ in clients] == ["sqs"]


def test_notifications_and_the_notify_queue_make_their_clients_in_app_aws(made, yolox_model):
    """The worker's SNS client (a job finished, JOBS_TOPIC_ARN set) and submit --notify-queue's
    SQS client. Neither topic nor queue exists here: the clients are what is checked."""
    from app.cli.notify_wait import NotifyQueueError, wait_for_job
    from app.events.errors import RetryLater
    from app.jobs import JobKeys, new_job_id

    clients, s3, _ = made
    s3.create_bucket(Bucket="jobs-bucket")
    keys = JobKeys("jobs/", new_job_id())
    s3.put_object(Bucket="jobs-bucket", Key=keys.request, Body=b'{"created_at": "2026-01-01"}')
    s3.put_object(Bucket="jobs-bucket", Key=keys.image, Body=b"not an image: the job fails")
    topic = "arn:aws:sns:us-east-1:123456789012:absent"
    settings = Settings.from_env({}, {"jobs_bucket": "jobs-bucket", "jobs_topic_arn": topic})
    with pytest.raises(RetryLater):  # the publish fails: the record is retried
        handle_s3_event(
            s3_event(keys.image, bucket="jobs-bucket"), DetectionService(settings, yolox_model)
        )
    with pytest.raises(NotifyQueueError):
        # The absent queue fails the first receive at once; the timeout only bounds a hang.
        wait_for_job("https://sqs.us-east-1.amazonaws.com/123456789012/absent", keys.job_id, 30)
    assert sorted(service for service, _, _ in clients) == ["s3", "sns", "sqs"]
    for _, client, caller in clients:
        check(
            client,
            caller,
            attempts=aws.ATTEMPTS,
            connect_s=aws.CONNECT_TIMEOUT_S,
            read_s=aws.READ_TIMEOUT_S,
        )
