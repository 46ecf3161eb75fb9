"""`submit --notify-queue URL`: wait for a job's completion notification on an SQS queue
subscribed to the stack's jobs topic (output JobsTopicArn) instead of polling GET /jobs/<id>.

boto3 (through app/aws.py) is imported here only when the option is given: polling, the
default, stays standard library only. The job's own message is deleted; any other message
(another job's, something else) is left alone and comes back after the queue's visibility
timeout for whoever waits for it, so a queue per waiting client is the simple setup.
"""

from __future__ import annotations

import json
import time
from typing import Any

SQS_MAX_WAIT_S = 20  # the longest long poll SQS allows


class NotifyQueueError(Exception):
    """The queue cannot be read (no such queue, no credentials, access denied)."""


def notification_of(message: dict) -> dict | None:
    """The job notification in an SQS message, whether SNS wrapped it in its envelope (the
    default) or delivered it raw; None when the message is not one."""
    try:
        body = json.loads(message.get("Body", ""))
        if isinstance(body, dict) and body.get("Type") == "Notification":
            body = json.loads(body.get("Message", ""))
    except (ValueError, TypeError):
        return None
    if isinstance(body, dict) and isinstance(body.get("job_id"), str) and "status" in body:
        return body
    return None


def wait_for_job(queue_url: str, job_id: str, timeout_s: float, *, sqs: Any = None) -> dict | None:
    """The job's notification once it arrives (and is deleted), or None after timeout_s."""
    from .. import aws  # lazy: see the module docstring

    deadline = time.monotonic() + timeout_s
    try:
        sqs = sqs or aws.client("sqs")
        while (left_s := deadline - time.monotonic()) > 0:
            reply = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=max(1, min(SQS_MAX_WAIT_S, int(left_s))),
            )
            for message in reply.get("Messages", []):
                found = notification_of(message)
                if found is not None and found["job_id"] == job_id:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    return found
    except Exception as exc:
        if aws.is_aws_error(exc):  # no such queue, no credentials, denied: said in one line
            raise NotifyQueueError(f"{queue_url}: {exc}") from None
        raise
    return None
