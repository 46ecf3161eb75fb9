"""SVG plots of benchmark results for the docs (matplotlib, imported only when plotting).

Every plot carries, under its title, the command that made it and the machine it ran on, so a
figure in the docs says where its numbers come from.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import sys
from pathlib import Path

# One colour per method or stage, the same in every plot.
COLOURS = {
    "ours": "#3f51b5",
    "floor": "#9e9e9e",
    "floor_parallel": "#616161",
    "sahi": "#ef6c00",
    "whole": "#b0bec5",
    "decode": "#8d6e63",
    "preprocess": "#26a69a",
    "inference": "#9e9e9e",
    "postprocess": "#7e57c2",
    "pipeline, other": "#d4e157",
    "HTTP (Flask)": "#ef6c00",
}


def machine() -> str:
    """The CPU model, usable CPUs, OS, Python and onnxruntime: what the numbers ran on."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {usable} of {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}"
    )


def command() -> str:
    """The command line that is running, as one would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):  # a script outside the repository keeps its path
        script = script.relative_to(Path(__file__).resolve().parent.parent)
    return shlex.join([".venv/bin/python", str(script), *sys.argv[1:]])


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {"svg.fonttype": "none", "svg.hashsalt": "bench", "font.size": 9, "axes.titlesize": 11}
    )
    return plt, *plt.subplots(figsize=(width, height))


def _save(plt, fig, ax, path: Path, title: str) -> Path:
    """Title, then the command and machine in small type; SVG without a date (stable diffs)."""
    ax.set_title(title, loc="left", pad=28)
    ax.text(
        0,
        1.02,
        f"{command()}\n{machine()}",
        transform=ax.transAxes,
        fontsize=7,
        color="#555555",
        va="bottom",
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    print(f"plot: {path}")
    return path


def grouped_bars(
    path: Path,
    title: str,
    groups: list[str],
    series: dict[str, list[float]],
    *,
    ylabel: str,
    fmt: str = "{:.2f}",
    labels: dict[str, str] | None = None,
) -> Path:
    """One group of bars per model (groups), one bar per series, each bar labelled with its value.

    series: name -> one value per group; labels: name -> legend text (default: the name).
    """
    plt, fig, ax = _figure(7.5, 5.0)
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=(labels or {}).get(name, name), color=COLOURS[name])
        ax.bar_label(bars, [fmt.format(v) for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.12)
    ax.legend(frameon=False, fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return _save(plt, fig, ax, path, title)


def stacked_bars(
    path: Path, title: str, bars: dict[str, dict[str, float]], parts: list[str], *, xlabel: str
) -> Path:
    """Horizontal bars, top down, each made of parts (bar -> part -> value) in the order given."""
    plt, fig, ax = _figure(7.5, 1.6 + 0.5 * len(bars))
    names = list(bars)[::-1]
    left = [0.0] * len(names)
    for part in parts:
        values = [bars[name].get(part, 0.0) for name in names]
        drawn = ax.barh(names, values, left=left, color=COLOURS[part], label=part, height=0.6)
        texts = [f"{v:.1f}" if v >= 1.5 else "" for v in values]
        ax.bar_label(drawn, texts, label_type="center", fontsize=7, color="white")
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:.1f} ms", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.legend(frameon=False, fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _save(plt, fig, ax, path, title)
