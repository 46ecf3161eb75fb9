"""`python -m app enqueue s3://bucket/prefix --queue-url URL`: backfill objects already in S3.

S3 notifies the queue only of new uploads. This lists what is there (paginated, never more
than one page in memory) and sends each input the message S3 would have sent, ten at a time
(SendMessageBatch), so the same worker processes it. Which keys are inputs is the worker's own
rule (app/events/inputs.py). An object whose result already exists for the same ETag is
skipped unless --force; a job's image is skipped when its result exists.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote_plus

from .. import aws, jobs
from ..config import Settings
from ..detector.errors import ConfigError
from ..events.inputs import is_input, job_of, result_key
from .progress import add_progress_flag, wanted
from .progress import bar as progress_bar

SEND_BATCH = 10  # SendMessageBatch's limit
SEND_ATTEMPTS = 3


@dataclass
class Summary:
    listed: int = 0
    sent: int = 0
    up_to_date: int = 0
    not_images: int = 0
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.listed} object(s) listed: {self.sent} enqueued, {self.up_to_date} skipped "
            f"(result up to date), {self.not_images} skipped (not an input), "
            f"{len(self.failed)} failed"
        )


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, prefix)."""
    if not url.startswith("s3://") or not url[5:].split("/")[0]:
        raise ValueError(f"{url!r} is not an S3 URL such as s3://my-bucket/uploads/")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


def notification(bucket: str, obj: dict, region: str) -> dict:
    """The S3 event notification (version 2.1) S3 sends for a new object, for this one."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "app-enqueue"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "backfill",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(obj["Key"], safe="/"),
                        "size": obj["Size"],
                        "eTag": obj["ETag"].strip('"'),
                    },
                },
            }
        ]
    }


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def result_is_current(s3: Any, settings: Settings, bucket: str, obj: dict) -> bool:
    """A result exists for this very object (same ETag; for a job image: any result)."""
    key = obj["Key"]
    job_id = job_of(bucket, key, settings)
    if job_id is not None:
        return jobs.result_exists(s3, bucket, jobs.JobKeys(settings.jobs_prefix, job_id))
    results_bucket = settings.results_bucket or bucket
    target = result_key(key, settings)
    found = aws.head(s3, results_bucket, target)
    if found is None:
        return False
    etag = found.get("Metadata", {}).get("source-etag")
    if etag is None:  # a result written before results carried the ETag: read it
        body = aws.get_json(s3, results_bucket, target) or {}
        etag = (body.get("source") or {}).get("etag")
    return etag == obj["ETag"].strip('"')


def enqueue(
    s3: Any,
    sqs: Any,
    queue_url: str,
    url: str,
    settings: Settings,
    *,
    force: bool = False,
    progress: TextIO | None = None,
) -> Summary:
    bucket, prefix = parse_s3_url(url)
    region = s3.meta.region_name or "us-east-1"
    summary, batch = Summary(), []
    # The total is unknown until the listing ends: a running count with its rate, not a bar.
    counter = progress_bar(progress, show=progress is not None, total=None, unit="obj",
                           bar_format="{n_fmt} listed, {desc} ({rate_fmt}){postfix}")  # fmt: skip
    for obj in list_objects(s3, bucket, prefix):
        summary.listed += 1
        if not is_input(bucket, obj["Key"], settings):
            summary.not_images += 1
        elif not force and result_is_current(s3, settings, bucket, obj):
            summary.up_to_date += 1
        else:
            batch.append((obj["Key"], notification(bucket, obj, region)))
        if len(batch) == SEND_BATCH:
            _send(sqs, queue_url, batch, summary)
            batch = []
        queued = summary.sent + len(batch)
        skipped = summary.up_to_date + summary.not_images
        counter.set_description_str(f"{queued} to enqueue, {skipped} skipped", refresh=False)
        counter.set_postfix_str(obj["Key"][-40:], refresh=False)
        counter.update(1)
    if batch:
        _send(sqs, queue_url, batch, summary)
    counter.close()
    return summary


def _send(sqs: Any, queue_url: str, batch: list[tuple[str, dict]], summary: Summary) -> None:
    """SendMessageBatch, re-sending the entries SQS reports as failed (up to 3 attempts)."""
    pending = {str(i): (key, body) for i, (key, body) in enumerate(batch)}
    for _ in range(SEND_ATTEMPTS):
        entries = [{"Id": i, "MessageBody": json.dumps(b)} for i, (_, b) in pending.items()]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        for sent in answer.get("Successful", []):
            summary.sent += 1
            pending.pop(sent["Id"])
        if not pending:
            return
        time.sleep(0.2)
    summary.failed += [key for key, _ in pending.values()]


def add_enqueue_command(commands) -> None:
    cmd = commands.add_parser(
        "enqueue",
        help="send S3 notifications for objects already in a bucket (backfill)",
        description=__doc__.split("\n\n")[0],
    )
    cmd.add_argument("url", metavar="s3://BUCKET/PREFIX")
    cmd.add_argument("--queue-url", required=True, help="the worker's queue (stack output)")
    cmd.add_argument("--force", action="store_true", help="also objects with a current result")
    add_progress_flag(cmd, "a progress line")
    cmd.set_defaults(func=enqueue_main)


def enqueue_main(args: argparse.Namespace) -> int:
    stderr = sys.stderr
    try:
        settings = Settings.from_env(os.environ)
        parse_s3_url(args.url)
    except (ConfigError, ValueError) as exc:
        stderr.write(f"error: {getattr(exc, 'message', exc)}\n")
        return 2
    show = wanted(args.progress, stderr)
    summary = enqueue(
        aws.client("s3"),
        aws.client("sqs"),
        args.queue_url,
        args.url,
        settings,
        force=args.force,
        progress=stderr if show else None,
    )
    stderr.write(summary.line() + "\n")
    for key in summary.failed[:20]:
        stderr.write(f"not enqueued: s3://{parse_s3_url(args.url)[0]}/{key}\n")
    return 1 if summary.failed else 0
