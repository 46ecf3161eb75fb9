"""Which S3 keys are inputs (app/events/inputs.py): one rule for the worker and for `enqueue`.

The prefixes count only in their own bucket: JOBS_PREFIX in JOBS_BUCKET, RESULTS_PREFIX in the
bucket results are written to. `enqueue` used to skip them in any bucket, so it left out
objects the worker would have processed.
"""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from moto import mock_aws

from app.cli.enqueue import enqueue
from app.config import Settings
from app.events.inputs import is_input, job_of, result_key, skip_reason
from tests.aws_events import REGION, use_fake_credentials

JOB = "0123456789abcdef0123456789abcdef"
BESIDE = {"jobs_bucket": "jobs-bucket"}  # results beside each upload (no RESULTS_BUCKET)
APART = {"jobs_bucket": "jobs-bucket", "results_bucket": "results-bucket"}

KEYS = [
    # (settings, bucket, key, reason or None for an input)
    (BESIDE, "uploads-bucket", "uploads/frame.jpg", None),
    (BESIDE, "uploads-bucket", "frame.jpg", None),
    (BESIDE, "uploads-bucket", "detections/uploads/frame.jpg.json", "result_object"),
    (BESIDE, "uploads-bucket", "photos/", "folder_marker"),
    (BESIDE, "uploads-bucket", "a/" * 400 + "x.jpg", None),
    (BESIDE, "uploads-bucket", "a" * 1010 + ".jpg", "result_key_too_long"),
    (
        APART,
        "uploads-bucket",
        "detections/frame.jpg",
        None,
    ),  # an upload: results live in results-bucket
    (APART, "results-bucket", "detections/in/frame.jpg.json", "result_object"),
    (APART, "results-bucket", "elsewhere/frame.jpg", None),
    (BESIDE, "jobs-bucket", f"jobs/{JOB}/image", None),
    (BESIDE, "jobs-bucket", f"jobs/{JOB}/job.json", "job_state_object"),
    (BESIDE, "jobs-bucket", f"jobs/{JOB}/result.json", "job_state_object"),
    (BESIDE, "jobs-bucket", "jobs/not-a-job-id/image", "job_state_object"),
    (BESIDE, "jobs-bucket", "jobs/", "job_state_object"),
    (BESIDE, "jobs-bucket", "uploads/frame.jpg", None),
    (
        BESIDE,
        "uploads-bucket",
        f"jobs/{JOB}/job.json",
        None,
    ),  # not the jobs bucket: an ordinary upload
    (BESIDE, "uploads-bucket", f"jobs/{JOB}/image", None),
    (BESIDE, "uploads-bucket", "jobs/", "folder_marker"),
]


def _settings(overrides: dict) -> Settings:
    return Settings.from_env({}, overrides)


@pytest.mark.parametrize(
    ("overrides", "bucket", "key", "reason"),
    KEYS,
    ids=[f"{bucket}:{key[:40]}" for _, bucket, key, _ in KEYS],
)
def test_the_key_table(overrides, bucket, key, reason):
    settings = _settings(overrides)
    assert skip_reason(bucket, key, settings) == reason
    assert is_input(bucket, key, settings) is (reason is None)


def test_only_a_job_image_in_the_jobs_bucket_is_a_job():
    settings = _settings(BESIDE)
    assert job_of("jobs-bucket", f"jobs/{JOB}/image", settings) == JOB
    assert job_of("uploads-bucket", f"jobs/{JOB}/image", settings) is None
    assert job_of("jobs-bucket", f"jobs/{JOB}/job.json", settings) is None


def test_a_result_key_is_under_the_results_prefix():
    settings = _settings(APART)
    assert result_key("uploads/frame.jpg", settings) == "detections/uploads/frame.jpg.json"


def test_enqueue_sends_exactly_what_the_worker_would_process(monkeypatch):
    """Every object of one bucket listed, and the keys that reach the queue compared with the
    table: the same rule decides."""
    use_fake_credentials(monkeypatch)
    settings = _settings(APART)
    keys = [
        key
        for overrides, bucket, key, _ in KEYS
        if overrides is APART and bucket == "uploads-bucket"
    ]
    keys += [
        key
        for overrides, bucket, key, _ in KEYS
        if overrides is BESIDE and bucket == "uploads-bucket"
    ]
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket="uploads-bucket")
        for key in keys:
            s3.put_object(Bucket="uploads-bucket", Key=key, Body=b"x")
        queue_url = sqs.create_queue(QueueName="work")["QueueUrl"]
        summary = enqueue(s3, sqs, queue_url, "s3://uploads-bucket/", settings)
        sent = set()
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                record = json.loads(message["Body"])["Records"][0]
                sent.add(urllib.parse.unquote_plus(record["s3"]["object"]["key"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    expected = {key for key in keys if skip_reason("uploads-bucket", key, settings) is None}
    assert "detections/frame.jpg" in expected and f"jobs/{JOB}/job.json" in expected
    assert sent == expected
    assert summary.sent == len(expected) and summary.not_images == len(set(keys)) - len(expected)
