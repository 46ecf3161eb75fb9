"""`python -m app submit IMAGE --api URL`: detect on an image of any size through the jobs API.

POST /jobs with the options, upload the image to the presigned S3 URL it answers (multipart,
its fields, then the file), poll GET /jobs/<id> with backoff until done or failed, then print
the result in the formats `python -m app detect` writes. Standard library only (urllib): it
runs wherever Python does, without the service's dependencies. With --notify-queue it waits
for the job's completion notification on that SQS queue instead (app/cli/notify_wait.py,
boto3), then GETs the result once.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin

from .exports import WRITERS, make_writer
from .notify_wait import NotifyQueueError, wait_for_job

POLL_FIRST_S, POLL_FACTOR, POLL_MAX_S = 0.5, 1.5, 5.0
HTTP_TIMEOUT_S = 60


class SubmitError(Exception):
    """Something the user should read: one line, exit status 1."""


def add_submit_command(commands) -> None:
    cmd = commands.add_parser(
        "submit",
        help="detect on a big image through a deployed API's jobs (upload, poll, print)",
        description=__doc__.split("\n\n")[0],
    )
    cmd.add_argument("image", type=Path, metavar="IMAGE")
    cmd.add_argument("--api", required=True, help="the API's base URL, e.g. https://.../dev")
    cmd.add_argument("--api-key", help="sent as X-Api-Key (default: none)")
    cmd.add_argument("--confidence", type=float, help="minimum score (default: the server's)")
    cmd.add_argument("--slicing", choices=["on", "off", "auto"], help='"slicing": {"mode"}')
    cmd.add_argument("--classes", help="comma-separated labels or ids to keep, e.g. car,bus")
    cmd.add_argument(
        "--model",
        help="the server's model to run, by name (GET /models), or an ONNX file path whose "
        "name the server serves (default: the server's default model)",
    )
    cmd.add_argument("--format", choices=list(WRITERS), default="json", help="default json")
    cmd.add_argument("--out", type=Path, help="write files here (default: stdout)")
    cmd.add_argument("--timeout-s", type=float, default=900, help="give up after (default 900)")
    cmd.add_argument(
        "--notify-queue",
        metavar="URL",
        help="wait on this SQS queue, subscribed to the stack's JobsTopicArn, instead of "
        "polling (needs boto3 and AWS credentials)",
    )
    cmd.set_defaults(func=submit_main)


def job_options(args: argparse.Namespace) -> dict:
    options: dict[str, Any] = {}
    if args.confidence is not None:
        options["confidence"] = args.confidence
    if args.slicing is not None:
        options["slicing"] = {"mode": args.slicing}
    if args.classes:
        names = [c.strip() for c in args.classes.split(",") if c.strip()]
        options["classes"] = [int(c) if c.isdigit() else c for c in names]
    if args.model:  # a path names the model the server serves from the same file
        options["model"] = Path(args.model).stem if args.model.endswith(".onnx") else args.model
    return options


def _request(url: str, *, method: str = "GET", body: bytes | None = None, headers=None) -> dict:
    """One HTTP call; the API's JSON error becomes a SubmitError with its message."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise SubmitError(f"{method} {url}: HTTP {exc.code}: {_error_text(exc.read())}") from None
    except urllib.error.URLError as exc:
        raise SubmitError(f"{method} {url}: {exc.reason}") from None
    return json.loads(data) if data.strip() else {}


def _error_text(data: bytes) -> str:
    try:
        error = json.loads(data)["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return data[:300].decode("utf-8", "replace")  # S3 answers XML


def multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    """(body, content type) of a form with the fields first and the file last, as S3 wants."""
    boundary = secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = "".join(parts).encode() + head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def submit(args: argparse.Namespace, stderr: TextIO) -> dict:
    """The finished job (status done); raises SubmitError for anything else."""
    data = args.image.read_bytes()
    api = args.api.rstrip("/") + "/"
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["X-Api-Key"] = args.api_key
    body = json.dumps({"options": job_options(args)}).encode()
    job = _request(urljoin(api, "jobs"), method="POST", body=body, headers=headers)
    upload = job["upload"]
    if len(data) > upload["max_bytes"]:
        raise SubmitError(
            f"{args.image} is {len(data):,} bytes; the limit is {upload['max_bytes']:,}"
        )
    form, content_type = multipart(upload["fields"], args.image.name, data)
    _request(upload["url"], method="POST", body=form, headers={"Content-Type": content_type})
    stderr.write(f"job {job['job_id']}: uploaded {len(data):,} bytes, waiting\n")
    url = urljoin(api, job["links"]["self"])
    if args.notify_queue:
        return wait_on_queue(args.notify_queue, job["job_id"], url, headers, args.timeout_s, stderr)
    return poll(url, headers, args.timeout_s, stderr)


def wait_on_queue(
    queue_url: str, job_id: str, url: str, headers: dict, timeout_s: float, stderr: TextIO
) -> dict:
    """Wait for the job's notification, then GET it once for the result."""
    auth = {k: v for k, v in headers.items() if k == "X-Api-Key"}
    try:
        notified = wait_for_job(queue_url, job_id, timeout_s)
    except NotifyQueueError as exc:
        raise SubmitError(str(exc)) from None
    job = _request(url, headers=auth)
    if job["status"] not in ("done", "failed"):
        raise SubmitError(
            f"job {job_id} is {job['status']} and no notification came on {queue_url} within "
            f"{timeout_s:.0f} s; is the queue subscribed to the stack's JobsTopicArn?"
        )
    if notified is None:
        stderr.write(f"job {job_id}: {job['status']}, but no notification arrived on the queue\n")
    return finished(job)


def poll(url: str, headers: dict, timeout_s: float, stderr: TextIO) -> dict:
    """GET the job with growing pauses until it is done or failed, or timeout_s passes."""
    started, pause_s = time.monotonic(), POLL_FIRST_S
    auth = {k: v for k, v in headers.items() if k == "X-Api-Key"}
    while True:
        job = _request(url, headers=auth)
        if job["status"] in ("done", "failed"):
            return finished(job)
        if time.monotonic() - started > timeout_s:
            raise SubmitError(f"job still {job['status']} after {timeout_s:.0f} s: {url}")
        time.sleep(pause_s)
        pause_s = min(pause_s * POLL_FACTOR, POLL_MAX_S)


def finished(job: dict) -> dict:
    """The job when done; a failed job raises with its code and message."""
    if job["status"] == "failed":
        error = job.get("error", {})
        raise SubmitError(f"job failed: {error.get('code')}: {error.get('message')}")
    return job


def server_labels(api: str, headers: dict, name: str) -> tuple[str, ...]:
    """The labels of the server's model called name (GET /models; GET /model before it)."""
    try:
        listed = _request(urljoin(api.rstrip("/") + "/", "models"), headers=headers)["models"]
    except SubmitError:  # a server from before models were named
        return tuple(_request(urljoin(api.rstrip("/") + "/", "model"), headers=headers)["labels"])
    labels = next((m["labels"] for m in listed if m["name"] == name), None)
    if labels is None:
        raise SubmitError(
            f"The API has not loaded the model {name} yet, so its labels are unknown there; "
            "ask for --format json, or run a POST /detect with it first."
        )
    return tuple(labels)


def submit_main(args: argparse.Namespace) -> int:
    stdout, stderr = sys.stdout, sys.stderr
    if not args.image.is_file():
        stderr.write(f"error: {args.image}: no such file\n")
        return 2
    try:
        job = submit(args, stderr)
        labels = ()
        if args.format != "json":  # COCO categories and YOLO ids need the model's labels
            headers = {"X-Api-Key": args.api_key} if args.api_key else {}
            labels = server_labels(args.api, headers, job["result"]["model"]["name"])
    except SubmitError as exc:
        stderr.write(f"error: {exc}\n")
        return 1
    writer = make_writer(args.format, args.out, labels, stdout)
    writer.add(Path(args.image.name), job["result"])
    writer.close()
    stderr.write(f"job {job['job_id']}: {job['result']['count']} detections\n")
    return 0
