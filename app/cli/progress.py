"""Owns the commands' progress bars: tqdm on stderr, drawn only on a terminal or when asked
(`--progress` / `--no-progress`), so piped output and logs never carry them."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from tqdm import tqdm

# tqdm's monitor thread only tunes bars updated millions of times a second; ours update a few
# times a second, and the thread would outlive a command run in-process (the tests).
tqdm.monitor_interval = 0
# For a terminal that reports no size (a bare pseudo-terminal, some container shells): tqdm
# would trim its line to 0 columns, or count the bar past the last of 0 rows, and draw nothing.
FALLBACK_SIZE = {"ncols": 100, "nrows": 24}


def wanted(flag: bool | None, stream: TextIO) -> bool:
    """The --progress / --no-progress choice, else whether stream is a terminal."""
    if flag is not None:
        return flag
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def bar(stream: TextIO | None, *, show: bool, total: int | None, unit: str, **style: Any) -> tqdm:
    """A bar on stream (one line, redrawn in place), or a silent one when show is false."""
    size = FALLBACK_SIZE if _reports_no_size(stream) else {}
    return tqdm(total=total, file=stream, disable=not show, unit=unit, leave=True, **size, **style)


def _reports_no_size(stream: TextIO | None) -> bool:
    try:
        return os.get_terminal_size(stream.fileno()).columns == 0
    except (AttributeError, OSError, ValueError):  # not a terminal, or no file descriptor
        return False


def note(stream: TextIO, line: str) -> None:
    """A line of text that a bar drawn on the same stream moves below, rather than through."""
    tqdm.write(line, file=stream)


def add_progress_flag(cmd: argparse.ArgumentParser, what: str = "a progress bar") -> None:
    """--progress / --no-progress: None (the default) means "when stderr is a terminal"."""
    cmd.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help=f"{what} on stderr (default: when stderr is a terminal)",
    )
