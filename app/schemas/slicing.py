"""The request's "slicing" object: validation into SlicingOptions, and its response summary."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from ..detector import InvalidRequest
from ..detector.sliced import SlicingSummary
from ..detector.slicing import (
    MATCH_METRICS,
    MAX_OVERLAP,
    MAX_TILE_PX,
    MERGE_METHODS,
    MIN_TILE_PX,
    SLICING_MODES,
    SlicingOptions,
)


def _invalid(name: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f'The field "slicing.{name}" must be {expected}.', code="invalid_field")


def _choice(allowed: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        if value not in allowed:
            raise _invalid(name, "one of " + ", ".join(f'"{a}"' for a in allowed))
        return value

    return parse


def _number(high: float) -> Callable[[str, Any], float]:
    def parse(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(name, f"a number from 0 to {high}")
        if not math.isfinite(value) or not 0.0 <= value <= high:
            raise _invalid(name, f"a number from 0 to {high}")
        return float(value)

    return parse


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, "true or false")
    return value


def _tile(name: str, value: Any) -> tuple[int, int]:
    """416 (a square tile) or [width, height], in image px."""
    sides = value if isinstance(value, list) and len(value) == 2 else [value, value]
    # JSON has one number type: 416.0 is the integer 416 (as JSON Schema and max_detections say).
    sides = [int(s) if isinstance(s, float) and s.is_integer() else s for s in sides]
    if not all(
        isinstance(side, int) and not isinstance(side, bool) and MIN_TILE_PX <= side <= MAX_TILE_PX
        for side in sides
    ):
        raise _invalid(
            name, f"an integer or [width, height] of integers from {MIN_TILE_PX} to {MAX_TILE_PX}"
        )
    return (sides[0], sides[1])


# Request field -> (SlicingOptions field, parser).
SLICING_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "mode": ("mode", _choice(SLICING_MODES)),
    "tile": ("tile_wh", _tile),
    "overlap": ("overlap", _number(MAX_OVERLAP)),
    "whole_image": ("whole_image", _boolean),
    "merge": ("merge", _choice(MERGE_METHODS)),
    "match_metric": ("match_metric", _choice(MATCH_METRICS)),
    "match_threshold": ("match_threshold", _number(1.0)),
    "class_agnostic": ("class_agnostic", _boolean),
}


def parse_slicing(value: Any, defaults: SlicingOptions) -> SlicingOptions:
    """The request's "slicing" object over the configured defaults; absent fields keep them."""
    if value is None:
        return defaults
    if not isinstance(value, dict):
        raise InvalidRequest(
            'The field "slicing" must be an object, e.g. {"mode": "on", "tile": 416}.',
            code="invalid_field",
        )
    unknown = sorted(set(value) - set(SLICING_FIELDS))
    if unknown:
        raise InvalidRequest(
            f'Unknown field(s) in "slicing": {", ".join(unknown)[:200]}. '
            f"Allowed: {', '.join(SLICING_FIELDS)}.",
            code="unknown_field",
        )
    changes = {}
    for name, raw in value.items():
        field, parse = SLICING_FIELDS[name]
        changes[field] = parse(name, raw)
    return dataclasses.replace(defaults, **changes)


def slicing_summary(summary: SlicingSummary) -> dict:
    """The response's "slicing" object."""
    return {
        "tiles": summary.tiles,
        "tile": {"width": summary.tile_wh[0], "height": summary.tile_wh[1]},
        "overlap": summary.overlap,
        "whole_image": summary.whole_image,
    }
