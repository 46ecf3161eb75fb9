"""What a tune prints and writes: the table of settings tried, the folds, the env file."""

from __future__ import annotations

import numpy as np

from .scoring import Trial
from .search import TuneResult
from .space import Setting, env_lines

TOP_ROWS = 15


def _ap(value: float) -> str:
    return "  -  " if np.isnan(value) else f"{value:.3f}"


def _row(rank: str, trial: Trial) -> str:
    spread = np.std(trial.train, ddof=1) if len(trial.train) > 1 else 0.0
    return (
        f"{rank:>4}  {_ap(trial.train.mean())} ±{spread:.3f}  {_ap(trial.ap)}  "
        f"{trial.views_per_image:6.1f}  {trial.ms_per_image:7.0f}  {trial.setting.describe()}"
    )


def trials_table(result: TuneResult) -> list[str]:
    """The best TOP_ROWS settings by mean training AP50, the defaults, and the winner."""
    lines = [
        f"{len(result.trials)} settings scored; the best {TOP_ROWS} by mean training AP50:",
        "rank  AP50 train ±fold   AP50 all  views  ms/img*  setting",
    ]
    shown = result.trials[:TOP_ROWS]
    for rank, trial in enumerate(shown, 1):
        mark = {id(result.winner): "W", id(result.defaults): "D"}.get(id(trial), str(rank))
        lines.append(_row(mark, trial))
    for trial, mark in ((result.winner, "W"), (result.defaults, "D")):
        if all(trial is not shown_trial for shown_trial in shown):
            lines.append(_row(mark, trial))
    lines.append(
        "W: the winner, D: the defaults. *model time per image estimated from the passes "
        "(views x measured ms per view); measured end to end below."
    )
    return lines


def folds_table(result: TuneResult) -> list[str]:
    """Per fold: the held-out AP50 of the defaults and of the setting picked without it."""
    k = len(result.folds)
    lines = [
        f"{k}-fold check: each fold picks its setting on the other {k - 1} folds' images, "
        "then is scored on its own (held out):",
        "fold  images  defaults  tuned   picked on the other folds",
    ]
    for number, fold in enumerate(result.folds, 1):
        lines.append(
            f"{number:>4}  {fold.images:>6}  {_ap(fold.defaults_held)}     "
            f"{_ap(fold.tuned_held)}   {fold.picked.describe()}"
        )
    before = np.array([f.defaults_held for f in result.folds])
    after = np.array([f.tuned_held for f in result.folds])
    gain = after - before
    lines.append(
        f"mean          {np.nanmean(before):.3f}     {np.nanmean(after):.3f}   held-out gain "
        f"{np.nanmean(gain):+.3f} ± {np.nanstd(gain, ddof=1) if k > 1 else 0.0:.3f} (fold std)"
    )
    return lines


def env_comments(result: TuneResult, *, when: str, command: str, model: str, classes: str,
                 default_ms: float, tuned_ms: float) -> list[str]:  # fmt: skip
    """The env file's header: when, how, and what the winner scored against the defaults."""
    folds = ", ".join(
        f"{n}: {f.defaults_held:.3f} -> {f.tuned_held:.3f}" for n, f in enumerate(result.folds, 1)
    )
    images = len(result.winner.matches)
    return [
        f"Tuned by `python -m app tune` on {when}",
        f"command: {command}",
        f"model: {model}; scored with requests for classes: {classes}",
        f"AP50 (COCO-style, class-agnostic) on {images} labelled images: "
        f"defaults {result.defaults.ap:.3f}, tuned {result.winner.ap:.3f}",
        f"held-out AP50 per fold, defaults -> tuned: {folds}",
        f"time per image (detect_bytes): defaults {default_ms:.0f} ms, tuned {tuned_ms:.0f} ms",
        "Load: set -a; . THIS_FILE; set +a   (or see docs/tuning.md for Lambda)",
    ]


def env_text(setting: Setting, confidence: float, comments: list[str]) -> str:
    """The env file: `# ` comment lines, then KEY=value lines that a shell (`set -a; . FILE`),
    serverless.yml and Settings.from_env all read as they are."""
    header = "".join(f"# {line}\n" for line in comments)
    return header + "".join(f"{k}={v}\n" for k, v in env_lines(setting, confidence).items())
