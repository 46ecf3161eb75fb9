"""Bulk work through the worker path: images per second, CPU-seconds per image, $ per million.

    .venv/bin/python bench/bulk.py [--images N] [--source aerial|coco] [--model PATH]

For each Lambda memory size (2048, 3008 MB) the app is built as Lambda would build it there
(AWS_LAMBDA_FUNCTION_MEMORY_SIZE decides the threads and whether sliced views run side by side),
then the same images go through
  - the worker path: uploaded to moto's S3 (in this process), S3 notifies moto's SQS, the queue
    is drained through handle_sqs_event as Lambda's event source mapping would (app/cli/work.py);
  - the synchronous path: POST /detect with the base64 JSON body (in-process test client; the
    body limit raised so every image fits, which Lambda's 6 MB would not allow for the big ones).
Wall and process CPU time (all threads) are measured around each; the worker's CPU includes
moto's own S3/SQS emulation, so it is an upper bound. Cost: the duration model of
bench/_cost.py (which counts one $0.20/1M invocation per image: the worker's batches of 5
make that a fifth), plus the requests each image costs on AWS (listed with assumed prices).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import DEFAULT_MODEL, SHARED, detect_body, machine_line, print_table, require
from _cost import lambda_estimate, lambda_threads

AERIAL = SHARED / "data" / "aerial-cars-sample" / "images"
COCO = SHARED / "data" / "coco-val2017-sample" / "images"
MEMORY_MB = (2048, 3008)
BUCKET, REGION = "bulk-bench", "us-east-1"
# Per image on AWS, besides Lambda: S3 sends 1 message, the poller receives and deletes it
# (batched up to the batch size, counted here as 1 each: the worst case), 1 GET + 1 PUT.
SQS_USD_PER_REQUEST = 0.40 / 1_000_000
S3_GET_USD, S3_PUT_USD = 0.0004 / 1000, 0.005 / 1000
WORKER_EXTRA_USD = 3 * SQS_USD_PER_REQUEST + S3_GET_USD + S3_PUT_USD


def images(source: str, count: int) -> list[tuple[str, bytes]]:
    folder = require(AERIAL if source == "aerial" else COCO)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [(p.name, p.read_bytes()) for p in paths[:count]]


def build_app(memory_mb: int, model_path: Path):
    """The app as a Lambda function of this size would build it on this machine."""
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory_mb)
    from app import create_app

    return create_app({"model_path": model_path, "jobs_bucket": BUCKET, "max_body_bytes": 2**30})


def measure(run) -> tuple[float, float]:
    """(wall s, CPU s of this process, all threads) of run()."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def worker_path(app, batch: list[tuple[str, bytes]]) -> tuple[float, float, int]:
    """Upload to moto, then drain; (wall s, CPU s, messages handed over)."""
    import boto3
    from moto import mock_aws

    from app import aws
    from app.cli.work import drain
    from app.events import handle_sqs_event
    from app.service import DetectionService

    settings, model = app.extensions["settings"], app.extensions["model"]
    with mock_aws():
        aws.client.cache_clear()
        s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        queue_url = sqs.create_queue(QueueName="bulk")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        uploads = {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}
        config = {
            "QueueArn": arn["Attributes"]["QueueArn"],
            "Events": ["s3:ObjectCreated:*"],
            "Filter": uploads,  # as serverless.yml wires it: results never notify
        }
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [config]}
        )
        for name, data in batch:
            s3.put_object(Bucket=BUCKET, Key=f"uploads/{name}", Body=data)
        stats = {}

        def run() -> None:
            service = DetectionService(settings, model)
            handle = lambda event: handle_sqs_event(event, service, s3=s3)  # noqa: E731
            stats["drain"] = drain(sqs, queue_url, handle, batch_size=5)

        wall_s, cpu_s = measure(run)
        results = s3.list_objects_v2(Bucket=BUCKET, Prefix="detections/").get("KeyCount", 0)
    aws.client.cache_clear()
    if results != len(batch):
        raise SystemExit(f"worker path wrote {results} results for {len(batch)} images")
    return wall_s, cpu_s, stats["drain"].received


def sync_path(app, batch: list[tuple[str, bytes]]) -> tuple[float, float]:
    client = app.test_client()
    bodies = [detect_body(data) for _, data in batch]

    def run() -> None:
        for body in bodies:
            response = client.post("/detect", data=body, content_type="application/json")
            if response.status_code != 200:
                raise SystemExit(f"POST /detect answered {response.status_code}")

    return measure(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="how many (default 40: all)")
    parser.add_argument("--source", choices=["aerial", "coco"], default="aerial")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    batch = images(args.source, args.images)
    megabytes = sum(len(d) for _, d in batch) / 1e6
    print(f"{machine_line()}\n{len(batch)} {args.source} images, {megabytes:.1f} MB in all")
    rows, costs = [], []
    for memory_mb in MEMORY_MB:
        app = build_app(memory_mb, require(args.model))
        app.test_client().post("/detect", data=detect_body(batch[0][1]),
                               content_type="application/json")  # warm-up  # fmt: skip
        threads = lambda_threads(memory_mb)
        w_wall, w_cpu, received = worker_path(app, batch)
        s_wall, s_cpu = sync_path(app, batch)
        n = len(batch)
        for path, wall_s, cpu_s, extra in (
            ("worker (S3 -> SQS -> worker)", w_wall, w_cpu, WORKER_EXTRA_USD),
            ("synchronous POST /detect", s_wall, s_cpu, 0.0),
        ):
            wall_ms, cpu_ms = wall_s / n * 1e3, cpu_s / n * 1e3
            _, billed_ms, usd = lambda_estimate(memory_mb, threads, wall_ms, cpu_ms)
            rows.append((memory_mb, threads, path, n / wall_s, cpu_s / n, billed_ms))
            total = usd + extra * 1e6
            costs.append((memory_mb, path, f"${usd:.2f}", f"${extra * 1e6:.2f}", f"${total:.2f}"))
        print(f"  {memory_mb} MB: {received} deliveries for {n} images on the worker path")
    print_table(
        "Throughput (one process; moto in-process for S3/SQS)",
        ("memory MB", "threads", "path", "images/s", "CPU s/image", "est. billed ms/image"),
        rows,
    )
    print_table(
        "Estimated cost per million images (x86 $0.0000166667/GB-s + $0.20/1M invocations; "
        "worker: + 3 SQS requests at $0.40/1M + S3 GET $0.40/1M + PUT $5/1M per image)",
        ("memory MB", "path", "Lambda", "SQS + S3 requests", "total"),
        costs,
    )


if __name__ == "__main__":
    main()
