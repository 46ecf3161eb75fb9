"""How many CPUs this process can really use (Lambda sells a share of the ones it shows)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

LAMBDA_MB_PER_VCPU = 1769  # AWS: 1,769 MB of function memory buys one full vCPU


def usable_cpus(environ: Mapping[str, str] = os.environ) -> int:
    """CPUs this process may use: its affinity mask, capped on Lambda by the vCPU share that
    the memory size buys (rounded), since the VM may show more CPUs than that; a thread beyond
    the CPUs there are only adds synchronisation (bench/latency.py measures it)."""
    share = _lambda_vcpus(environ)
    return _affinity_cpus() if share is None else min(_affinity_cpus(), max(1, round(share)))


def whole_cpus(environ: Mapping[str, str] = os.environ) -> int:
    """CPUs this process has all of the time: on Lambda the whole vCPUs its memory buys
    (1.7 vCPU at 3,008 MB is 1), elsewhere the affinity mask. A thread may spin waiting for
    work only where it has a CPU of its own; on a share it burns the quota others need."""
    share = _lambda_vcpus(environ)
    return _affinity_cpus() if share is None else min(_affinity_cpus(), int(share))


def _affinity_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _lambda_vcpus(environ: Mapping[str, str]) -> float | None:
    """The vCPU share of this Lambda function's memory size; None when not on Lambda."""
    memory_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return int(memory_mb) / LAMBDA_MB_PER_VCPU if memory_mb.isdigit() else None


class LazyPool:
    """A process-wide thread pool started by its first use (no threads at cold start). Its
    tasks must never wait on tasks of the same pool, or it could fill up with waiters."""

    def __init__(self, name: str, size: Callable[[], int]) -> None:
        self._name, self._size = name, size
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._size(), thread_name_prefix=self._name)
            return self._pool
