"""What one label must be before it becomes a box (a YOLO line, a COCO annotation), the one-line
message when it is not, and the count of those left out under --skip-bad-labels."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

# How far a box may stick out of its image, as a share of the image side: exporters round
# (the aerial sample's labels reach 1.0008); a box further out was labelled on another image.
EDGE_TOLERANCE = 0.01
MAX_CLASS_ID = 2**31 - 1
_INTEGER = re.compile(r"\d+(\.0*)?")


class LabelError(ValueError):
    """Labels that cannot be used: a one-line message naming the file and what is wrong."""


class BadLabel(LabelError):
    """One label (a line, an annotation) that cannot be used; kind names the problem for the
    --skip-bad-labels summary."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class BadLabels:
    """Where bad labels go: raised at once (a LabelError naming file and line), or, when
    skipping, counted and left out."""

    def __init__(self, *, skip: bool) -> None:
        self.skip = skip
        self.kinds: Counter[str] = Counter()
        self.first: str | None = None

    def report(self, where: str, bad: BadLabel) -> None:
        message = f"{where}: {bad}"
        if not self.skip:
            raise LabelError(message) from None
        self.kinds[bad.kind] += 1
        self.first = self.first or message

    def summary(self, kept: int) -> str | None:
        """One line: how many were left out, of how many, why; None when none was bad."""
        skipped = sum(self.kinds.values())
        if not skipped:
            return None
        why = ", ".join(f"{count} {kind}" for kind, count in self.kinds.most_common())
        return (
            f"labels: skipped {skipped} bad label(s) of {skipped + kept} ({why}); "
            f"the first: {self.first}"
        )


def class_id(value: object, names: Mapping[int, str], names_source: str) -> int:
    """A class number or category id: a non-negative integer (3 or 3.0, as text or JSON),
    with a name in names when the labels name their classes."""
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(float(value)) if "." in value else int(value)
    elif isinstance(value, int | float) and not isinstance(value, bool) and float(value) >= 0:
        number = int(value) if math.isfinite(value) and value == int(value) else -1
    else:
        number = -1
    if not 0 <= number <= MAX_CLASS_ID:
        raise BadLabel(
            "class not a non-negative integer",
            f"class {_shown(value)}: expected a class number, a non-negative integer",
        )
    if names and number not in names:
        known = ", ".join(f"{i} {names[i]}" for i in sorted(names)[:8])
        raise BadLabel(
            "class without a name",
            f"class {number} has no name in {names_source} (it names {len(names)}: {known}"
            + (", ...)" if len(names) > 8 else ")"),
        )
    return number


def yolo_numbers(tokens: Sequence[str]) -> list[float]:
    """The numbers after the class: 4 (`cx cy w h`) or an even 6 or more (a polygon), finite."""
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        values = []
    if not (len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0)):
        raise BadLabel(
            "malformed line",
            "expected `class cx cy w h` (normalised) or a polygon `class x1 y1 x2 y2 x3 y3 ...`",
        )
    finite_numbers(values, "cx cy w h")
    return values


def finite_numbers(values: Sequence[float], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        shown = " ".join(_shown(v) for v in values)
        raise BadLabel("NaN or infinite number", f"{what} {shown}: expected finite numbers")


def positive_size(width: float, height: float, what: str) -> None:
    if width <= 0 or height <= 0:
        raise BadLabel(
            "box of non-positive size",
            f"{what} {_shown(width)} x {_shown(height)}: expected a positive width and height",
        )


def inside(box_xyxy: Sequence[float], image_wh: tuple[float, float], unit: str) -> None:
    """The box, in the unit of image_wh (1 x 1 when normalised), sticks out by no more than
    EDGE_TOLERANCE of the image side."""
    x1, y1, x2, y2 = box_xyxy
    width, height = image_wh
    slack_x, slack_y = EDGE_TOLERANCE * width, EDGE_TOLERANCE * height
    if x1 < -slack_x or y1 < -slack_y or x2 > width + slack_x or y2 > height + slack_y:
        corners = ", ".join(f"{v:.4g}" for v in box_xyxy)
        raise BadLabel(
            "box outside the image",
            f"box x1, y1, x2, y2 = {corners} is outside the image (0-{width:g} x 0-{height:g}"
            f" {unit}, {EDGE_TOLERANCE:.0%} tolerance)",
        )


def _shown(value: object) -> str:
    """A value for a message: short, and repr'd when text."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text[:40]
