"""The SQS-fed worker: every message body is an S3 event notification; the answer is a partial
batch response naming only the messages to deliver again.

A message fails (and so comes back after the queue's visibility timeout, and after
maxReceiveCount deliveries goes to the dead-letter queue) when any of its records failed in a
way a retry can fix or that must not be dropped: a transient AWS error, a result that could not
be written, a job's notification that could not be published, a body that is not an S3
notification at all. A permanent failure of the image itself (corrupt, too large, gone) is
written as an error result and the message is done.
S3's own `s3:TestEvent` is acknowledged. Results are idempotent, so a re-delivered message that
had partly succeeded only writes the same results again; a finished job keeps its first result
and publishes no second notification (app/jobs/notify.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..detector.errors import DetectionError, InvalidRequest
from ..observability import loggable
from ..service import DetectionService
from .errors import RetryLater
from .records import S3Event, SqsEvent, SqsMessage, is_s3_test_event
from .s3 import Worker, process_record

log = logging.getLogger(__name__)


def handle_sqs_event(
    event: dict, service: DetectionService, *, s3: Any = None, sns: Any = None
) -> dict:
    """{"batchItemFailures": [{"itemIdentifier": messageId}, ...]} for the messages to retry."""
    if not SqsEvent.matches(event):
        raise InvalidRequest("Not an SQS event: no Records from aws:sqs.")
    messages = SqsEvent(event).messages
    try:
        worker = Worker.start(service, s3, sns)
    except DetectionError as exc:
        # Nothing can be processed: every message comes back later (and, if this lasts, ends
        # in the dead-letter queue rather than being dropped).
        log.error("batch of %d message(s) not processed: %s", len(messages), exc.message)
        return _failures(messages)
    failed = [message for message in messages if not _handle_message(message, worker)]
    log.info("batch: %d message(s), %d to retry", len(messages), len(failed))
    return _failures(failed)


def _handle_message(message: SqsMessage, worker: Worker) -> bool:
    """True when the message is done with (acknowledged), False to have it delivered again."""
    try:
        body = json.loads(message.body)
    except ValueError:
        body = None
    if is_s3_test_event(body):
        log.info("s3:TestEvent acknowledged (message %s)", loggable(message.message_id))
        return True
    if not S3Event.matches(body):
        # Not ours to drop silently: it is retried, then kept in the dead-letter queue.
        log.error(
            "message %s is not an S3 notification: %.200r", loggable(message.message_id), body
        )
        return False
    outcomes = [process_record(record, worker) for record in S3Event(body).records]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        log.warning(
            "message %s (delivery %d): %d of %d record(s) to retry",
            loggable(message.message_id),
            message.receive_count,
            len(failed),
            len(outcomes),
        )
    return not failed


def _failures(messages: tuple[SqsMessage, ...] | list[SqsMessage]) -> dict:
    ids = [message.message_id for message in messages]
    if None in ids:
        # A failure that cannot be named: fail the whole batch, so nothing is deleted.
        raise RetryLater("An SQS record without a messageId failed; the whole batch is retried.")
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in ids]}
