"""The one progress bar of a run (tqdm on stderr): epoch, loss, validation AP50, time left."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """Steps within an epoch update the loss; an epoch's end adds its AP50. Time left is the
    sooner of the epochs' and the budget's ends."""

    def __init__(self, epochs: int, done: int, budget_s: float, *, show: bool) -> None:
        self.budget_s, self.started = budget_s, time.perf_counter()
        self.ap = "-"
        self.loss = float("nan")
        self.bar = tqdm(
            total=epochs,
            initial=done,
            desc="train",
            unit="epoch",
            file=sys.stderr,
            disable=not show,
            dynamic_ncols=True,
            position=0,
        )

    def step(self, loss: float) -> None:
        self.loss = loss
        self._postfix()

    def epoch_done(self, epoch: int, loss: float, ap: float) -> None:
        self.ap = "-" if ap != ap else f"{ap:.3f}"  # nan: no validation images
        self.loss = loss
        self.bar.update(1)
        self._postfix()

    def _postfix(self) -> None:
        left_s = max(0.0, self.budget_s - (time.perf_counter() - self.started))
        minutes, seconds = divmod(int(left_s), 60)
        self.bar.set_postfix_str(
            f"loss {self.loss:.3f} val AP50 {self.ap} budget left {minutes}:{seconds:02d}",
            refresh=False,
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
