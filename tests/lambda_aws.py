"""AWS at a moto server, wired as serverless.yml wires it, for the function run as Lambda runs it:
the input bucket notifying the work queue (uploads/ and jobs/*/image), the jobs topic with an
SQS queue subscribed. The test side's own boto3 clients reach the server over HTTP too."""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import boto3

from .aws_events import FAKE_ENV, REGION, notify_queue, queue_arn
from .serverless_config import load_serverless

NOTIFIED = [[("prefix", "uploads/")], [("prefix", "jobs/"), ("suffix", "/image")]]


def moto_client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_ENV["AWS_SESSION_TOKEN"],
    )


@dataclass(frozen=True)
class LambdaAws:
    url: str
    bucket: str
    s3: Any
    sqs: Any
    queue_url: str  # the WorkQueue
    topic_arn: str  # the JobsTopic
    inbox_url: str  # a queue subscribed to the JobsTopic

    @classmethod
    def create(cls, url: str, bucket: str) -> LambdaAws:
        s3, sqs, sns = (moto_client(url, name) for name in ("s3", "sqs", "sns"))
        s3.create_bucket(Bucket=bucket)
        # A message to retry stays away this long (six times the worker's timeout), as deployed.
        work_queue = load_serverless()["resources"]["Resources"]["WorkQueue"]["Properties"]
        hidden = {"VisibilityTimeout": str(work_queue["VisibilityTimeout"])}
        queue_url = sqs.create_queue(QueueName="WorkQueue", Attributes=hidden)["QueueUrl"]
        notify_queue(s3, sqs, bucket, queue_url, NOTIFIED)
        topic_arn = sns.create_topic(Name="JobsTopic")["TopicArn"]
        inbox_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, inbox_url))
        return cls(url, bucket, s3, sqs, queue_url, topic_arn, inbox_url)

    def get_json(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def take_messages(self, queue_url: str) -> list[dict]:
        """Every message now visible in the queue, received and deleted."""
        found = []
        while batch := self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            found += batch
        return found

    def queued(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of the queue."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        return tuple(int(found["Attributes"][name]) for name in names)

    def iot_publishes(self) -> list[tuple[str, dict]]:
        """(topic, JSON payload) of every IoT Data Publish the server received. moto keeps
        publishes in memory without an API to read them, so they come from its request
        recorder (/moto-api/recorder/download-recording), which is HTTP."""
        with urllib.request.urlopen(f"{self.url}/moto-api/recorder/download-recording") as got:
            lines = got.read().decode("utf-8").splitlines()
        found = []
        for entry in map(json.loads, filter(None, lines)):
            path = urlparse(entry["url"]).path
            if entry["method"] == "POST" and path.startswith("/topics/"):
                body = entry["body"]
                payload = base64.b64decode(body) if entry["body_encoded"] else body.encode()
                found.append((unquote(path.removeprefix("/topics/")), json.loads(payload)))
        return found
