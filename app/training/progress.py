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


def epoch_line(row: dict) -> str:
    """One line per epoch: loss, AP50 (mean of classes, then each), the data-wait share."""
    classes = ", ".join(f"{k} {v}" for k, v in (row.get("val_ap50_classes") or {}).items())
    ap = row.get("val_ap50")
    scored = "nothing held out" if ap is None else f"val AP50 {ap}"
    return (
        f"epoch {row['epoch']}: loss {row['loss']:.3f}, {scored}"
        + (f" ({classes})" if classes else "")
        + f", waited for data {row.get('data_wait', 0):.0%}, {row['minutes']:.1f} min"
    )
