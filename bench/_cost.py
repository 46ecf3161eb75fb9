"""Lambda cost estimate from CPU time measured here: prices assumed, and the duration model."""

from __future__ import annotations

import numpy as np
from _common import print_table

from app.detector.cpus import LAMBDA_MB_PER_VCPU, usable_cpus

LAMBDA_MEMORY_MB = (1024, 2048, 3008)
LAMBDA_GB_SECOND_USD = 0.0000166667  # x86, first pricing tier
LAMBDA_REQUEST_USD = 0.20 / 1_000_000


def lambda_threads(memory_mb: int) -> int:
    """The intra-op threads the service picks on this machine at that Lambda memory size."""
    return usable_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)})


def lambda_estimate(memory_mb: int, threads: int, wall_ms: float, cpu_ms: float) -> tuple:
    """(vCPU share, est. billed ms, $ per 1M) for one request of this wall and CPU time.

    Model: a request is CPU-bound, so it lasts its CPU time divided by the CPUs it can use:
    the vCPU share, the threads, and the parallelism it reached here (CPU / wall, at least 1).
    """
    share = memory_mb / LAMBDA_MB_PER_VCPU
    usable = min(share, threads, max(1.0, cpu_ms / wall_ms))
    billed_ms = float(np.ceil(cpu_ms / usable))  # Lambda bills whole milliseconds
    gb_seconds = billed_ms / 1000 * memory_mb / 1024
    usd = 1e6 * (gb_seconds * LAMBDA_GB_SECOND_USD + LAMBDA_REQUEST_USD)
    return share, billed_ms, usd


def cost_table(per_request: dict[int, tuple[float, float]]) -> None:
    """Estimated Lambda duration and $ per million images from CPU time measured here.

    per_request: threads -> (wall, CPU) ms per request, for every lambda_threads() value.

    The duration model is lambda_estimate's; CPU time is also the figure least swayed by
    other load on this machine.
    """
    rows = []
    for memory_mb in LAMBDA_MEMORY_MB:
        threads = lambda_threads(memory_mb)
        wall_ms, cpu_ms = per_request[threads]
        share, billed_ms, usd = lambda_estimate(memory_mb, threads, wall_ms, cpu_ms)
        rows.append((memory_mb, f"{share:.2f}", threads, cpu_ms, billed_ms, f"${usd:.2f}"))
    print_table(
        "Estimated Lambda cost (640x480 JPEG, warm; x86 $0.0000166667/GB-s + $0.20/1M requests)",
        ("memory MB", "vCPU", "threads", "CPU ms/req", "est. billed ms", "$ per 1M images"),
        rows,
    )
