"""The request's "slicing" object as SlicingOptions over the server's defaults, and its summary."""

from __future__ import annotations

import dataclasses
from typing import Any

from msgspec import UNSET, UnsetType

from ..detector import InvalidRequest
from ..detector.slicing import SlicingOptions, SlicingSummary
from .request import SLICING_FIELDS, DetectOptionsRequest, SlicingRequest
from .validation import expected, field_type, struct_info, validated

__all__ = ["SLICING_FIELDS", "parse_slicing", "slicing_options", "slicing_summary"]


def slicing_options(
    request: SlicingRequest | UnsetType, defaults: SlicingOptions
) -> SlicingOptions:
    """A validated "slicing" object over the configured defaults; absent fields keep them."""
    if request is UNSET:
        return defaults
    changes = {
        name: getattr(request, name)
        for name in request.__struct_fields__
        if getattr(request, name) is not UNSET
    }
    if "tile_wh" in changes:  # 416 (a square tile) or [width, height], in image px
        tile = changes["tile_wh"]
        changes["tile_wh"] = (tile, tile) if isinstance(tile, int) else (tile[0], tile[1])
    return dataclasses.replace(defaults, **changes)


def parse_slicing(value: Any, defaults: SlicingOptions) -> SlicingOptions:
    """A "slicing" object on its own, validated as it is inside a request."""
    if not isinstance(value, dict):
        kind = field_type(struct_info(DetectOptionsRequest), "slicing")
        raise InvalidRequest(f'The field "slicing" must be {expected(kind)}.', code="invalid_field")
    return slicing_options(validated(value, SlicingRequest, where="slicing."), defaults)


def slicing_summary(summary: SlicingSummary) -> dict:
    """The response's "slicing" object."""
    return {
        "tiles": summary.tiles,
        "tile": {"width": summary.tile_wh[0], "height": summary.tile_wh[1]},
        "overlap": summary.overlap,
        "whole_image": summary.whole_image,
    }
