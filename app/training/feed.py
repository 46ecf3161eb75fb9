"""Training batches cut and augmented in worker processes (`train --workers`), a few batches
ahead of the model, and the time the model spent waiting for them.

Workers are spawned (not forked: the parent runs torch's thread pool) and get the sources once:
names, boxes and where their pixels lie in the PixelStore, never the pixels themselves; each
worker maps the store's file and renders whole batches, so a batch crosses the process boundary
once, as one uint8 array."""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import ThreadPool

import numpy as np

from .data import Source, View, render

_SOURCES: list[Source] = []
_INPUT_WH: tuple[int, int] = (0, 0)
AHEAD_PER_WORKER = 2  # batches in flight per worker: enough to hide a slow one, bounded memory


def _init(sources: list[Source], input_wh: tuple[int, int]) -> None:
    global _SOURCES, _INPUT_WH
    _SOURCES, _INPUT_WH = sources, tuple(input_wh)


def render_batch(task: tuple[list[View], list[int]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(B, H, W, 3) uint8 BGR inputs and each sample's (K, 5) targets, one seed per sample."""
    views, seeds = task
    pairs = [
        render(view, _SOURCES[view.source], _INPUT_WH, np.random.default_rng(int(seed)))
        for view, seed in zip(views, seeds, strict=True)
    ]
    return np.stack([canvas[..., ::-1] for canvas, _ in pairs]), [t for _, t in pairs]


class Feeder:
    """Renders batches: in `workers` processes, or with 0 on one thread of this process.
    wait_s adds up the time the consumer spent blocked on a batch that was not ready."""

    def __init__(self, sources: list[Source], input_wh: tuple[int, int], workers: int) -> None:
        self.workers = workers
        self.wait_s = 0.0
        if workers > 0:
            context = multiprocessing.get_context("spawn")
            self.pool = context.Pool(workers, _init, (sources, tuple(input_wh)))
        else:
            _init(sources, input_wh)
            self.pool = ThreadPool(1)

    def run(self, tasks: list) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """The rendered batches of tasks, in order, at most AHEAD_PER_WORKER per worker ahead."""
        ahead = AHEAD_PER_WORKER * max(1, self.workers)
        pending: deque = deque()
        queued = iter(tasks)
        for task in queued:
            pending.append(self.pool.apply_async(render_batch, (task,)))
            if len(pending) >= ahead:
                break
        while pending:
            started = time.perf_counter()
            result = pending.popleft().get()
            self.wait_s += time.perf_counter() - started
            task = next(queued, None)
            if task is not None:
                pending.append(self.pool.apply_async(render_batch, (task,)))
            yield result

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
