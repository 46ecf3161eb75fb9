"""Completion notifications: one SNS message per finished job (done or failed) on the topic
JOBS_TOPIC_ARN names, published by the worker after the job's result.json is written.

Delivery is at least once, as SNS's own is. notified.json, written after a publish succeeded,
is what keeps a re-delivered SQS message from publishing again; a failed publish fails the
record, so the re-delivery publishes it. Only a worker stopped between the publish and that
write (or two deliveries of one upload at the same instant) can publish twice, and then the
same body twice: it is built from result.json, which is written once.
A job's options may carry "notify": false to skip it. The body carries no result: a subscriber
fetches GET /jobs/<id> (links.self) for it, which answers as soon as the message exists.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from .. import aws
from ..config import Settings
from ..detector.errors import InvalidRequest
from .keys import JobKeys, job_path
from .store import utc_iso

log = logging.getLogger(__name__)

NOTIFY_FIELD = "notify"


def split_notify(options: dict) -> tuple[dict, bool]:
    """(the detect options, whether to notify): "notify" is a job's option, not detection's."""
    rest = {name: value for name, value in options.items() if name != NOTIFY_FIELD}
    notify = options.get(NOTIFY_FIELD, True)
    if not isinstance(notify, bool):
        raise InvalidRequest(
            f'The field "{NOTIFY_FIELD}" must be true or false (false: no completion '
            "notification for this job).",
            code="invalid_field",
        )
    return rest, notify


def notification(job_id: str, request: dict, outcome: dict) -> dict:
    """The message body: what happened to the job and where it is, never its result."""
    body = {
        "job_id": job_id,
        "status": outcome.get("status"),
        "created_at": request.get("created_at"),
        "finished_at": outcome.get("finished_at"),
        "links": {"self": job_path(job_id)},
    }
    if "error" in outcome:
        body["error"] = outcome["error"]
    return body


def message_attributes(body: dict) -> dict:
    """What an SNS subscription's filter policy can select on: status and job_id."""
    return {
        name: {"DataType": "String", "StringValue": str(body[name])}
        for name in ("status", "job_id")
    }


def notify_finished(
    settings: Settings,
    s3: Any,
    bucket: str,
    keys: JobKeys,
    request: dict,
    outcome: dict,
    *,
    sns: Any = None,
) -> str:
    """Publish the job's completion unless it is off or was published already; says which:
    "off" (no JOBS_TOPIC_ARN), "not_requested" (notify: false), "already_published",
    "published". A failed publish raises (the record is retried)."""
    if settings.jobs_topic_arn is None:
        return "off"
    if request.get(NOTIFY_FIELD, True) is False:
        return "not_requested"
    if aws.head(s3, bucket, keys.notified) is not None:
        return "already_published"
    body = notification(keys.job_id, request, outcome)
    reply = (sns or aws.client("sns")).publish(
        TopicArn=settings.jobs_topic_arn,
        Subject=f"Detection job {body['status']}: {keys.job_id}",  # e-mail subscriptions
        Message=json.dumps(body, ensure_ascii=False),
        MessageAttributes=message_attributes(body),
    )
    sent = {"message_id": reply.get("MessageId"), "published_at": utc_iso(datetime.now(UTC))}
    aws.put_json(s3, bucket, keys.notified, sent)
    log.info("job %s: %s notification published (%s)", keys.job_id, body["status"], sent)
    return "published"
