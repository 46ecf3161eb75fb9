"""`python -m app work --queue-url URL`: the SQS worker outside Lambda (ECS, a VM, a laptop).

It does what Lambda's event source mapping does for `handler.handler`: receive a batch, hand it
over as an SQS event, then delete every message except those the partial batch response names
(they come back after the visibility timeout, and go to the dead-letter queue after
maxReceiveCount). The tests and bench/bulk.py drain queues with the same code.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# receive_message's cap, and what serverless.yml sets as the worker's batch size at most.
MAX_BATCH = 10


@dataclass
class DrainStats:
    """What a drain did: batches handed over, messages deleted and left for re-delivery."""

    batches: int = 0
    received: int = 0
    deleted: int = 0
    retried: int = 0


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """ReceiveMessage output -> the event Lambda's SQS event source mapping delivers."""
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def drain(
    sqs,
    queue_url: str,
    handle: Callable[[dict], dict],
    *,
    batch_size: int = MAX_BATCH,
    wait_s: int = 0,
    max_batches: int | None = None,
    stop_when_empty: bool = True,
) -> DrainStats:
    """Receive, hand over, delete all but the reported failures; until the queue is empty."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    queue_arn = attributes["Attributes"]["QueueArn"]
    region = sqs.meta.region_name
    stats = DrainStats()
    while max_batches is None or stats.batches < max_batches:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            if stop_when_empty:
                break
            continue
        response = handle(sqs_event(received, queue_arn, region))
        retry = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in retry]
        for start in range(0, len(done), MAX_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + MAX_BATCH])
            ]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        stats.batches += 1
        stats.received += len(received)
        stats.deleted += len(done)
        stats.retried += len(received) - len(done)
    return stats


def add_work_command(commands) -> None:
    cmd = commands.add_parser(
        "work",
        help="process an SQS queue of S3 notifications (the Lambda worker, run anywhere)",
        description=__doc__.split("\n\n")[0],
    )
    cmd.add_argument("--queue-url", required=True, help="the queue the bucket notifies")
    cmd.add_argument("--batch-size", type=int, default=MAX_BATCH, choices=range(1, 11))
    cmd.add_argument(
        "--once", action="store_true", help="stop when the queue is empty (default: poll)"
    )
    cmd.set_defaults(func=work_main)


def work_main(args: argparse.Namespace) -> int:
    """Load the model once, then drain the queue with long polling."""
    from .. import aws, create_app
    from ..detector import DetectionError
    from ..events import handle_sqs_event

    try:
        app = create_app()
    except DetectionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    service = app.extensions["service"]
    sqs = aws.client("sqs")
    started = time.perf_counter()
    stats = drain(
        sqs,
        args.queue_url,
        lambda event: handle_sqs_event(event, service),
        batch_size=args.batch_size,
        wait_s=1 if args.once else 20,
        stop_when_empty=args.once,
    )
    elapsed_s = time.perf_counter() - started
    print(
        f"{stats.received} message(s) in {stats.batches} batch(es), {stats.deleted} done, "
        f"{stats.retried} left for re-delivery, {elapsed_s:.1f} s",
        file=sys.stderr,
    )
    return 0
