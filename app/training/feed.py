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
from .paste import Paster

_SOURCES: list[Source] = []
_INPUT_WH: tuple[int, int] = (0, 0)
_PASTER: Paster | None = None  # --paste: objects of the labelled sources pasted into samples
AHEAD_PER_WORKER = 2  # batches in flight per worker: enough to hide a slow one, bounded memory


def _init(sources: list[Source], input_wh: tuple[int, int], paste: int, labelled: int) -> None:
    """sources[:labelled] are the labelled images (the rest, --distill's, get no pastes)."""
    global _SOURCES, _INPUT_WH, _PASTER
    _SOURCES, _INPUT_WH = sources, tuple(input_wh)
    _PASTER = Paster.of(sources[:labelled], paste) if paste > 0 else None


def render_batch(task: tuple[list[View], list[int]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(B, H, W, 3) uint8 BGR inputs and each sample's (K, 5) targets, one seed per sample."""
    views, seeds = task
    labelled = len(_PASTER.sources) if _PASTER else 0
    pairs = [
        render(
            view,
            _SOURCES[view.source],
            _INPUT_WH,
            np.random.default_rng(int(seed)),
            _PASTER if view.source < labelled else None,
        )
        for view, seed in zip(views, seeds, strict=True)
    ]
    return np.stack([canvas[..., ::-1] for canvas, _ in pairs]), [t for _, t in pairs]


class Feeder:
    """Renders batches: in `workers` processes, or with 0 on one thread of this process.
    wait_s adds up the time the consumer spent blocked on a batch that was not ready."""

    def __init__(
        self,
        sources: list[Source],
        input_wh: tuple[int, int],
        workers: int,
        *,
        paste: int = 0,
        labelled: int | None = None,
    ) -> None:
        """paste: --paste's most objects a sample, from sources[:labelled] (None: all)."""
        self.workers = workers
        self.wait_s = 0.0
        init = (sources, tuple(input_wh), paste, len(sources) if labelled is None else labelled)
        if workers > 0:
            context = multiprocessing.get_context("spawn")
            self.pool = context.Pool(workers, _init, init)
        else:
            _init(*init)
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
