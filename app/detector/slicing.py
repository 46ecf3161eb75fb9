"""Slicing geometry: the tile grid over an image, whether a request is sliced at all, and what
that can cost (max_model_runs)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import PayloadTooLarge

SLICING_MODES = ("auto", "on", "off")
MERGE_METHODS = ("nms", "greedy_nmm")
MATCH_METRICS = ("iou", "ios")
MIN_TILE_PX = 32
MAX_TILE_PX = 4096
MAX_OVERLAP = 0.9
# "auto" slices once the whole-image pass would shrink objects at least this much more than
# tiles do: at 2x a 25 px car is 12 px on the whole-image pass, below what nano models find.
AUTO_SLICE_RATIO = 2.0
# A row (or column) of tiles runs only when each tile holds at least this share of a tile's side
# across the row: a 416 px tile of a 1 px tall image costs a whole model run for 1/416 of its
# pixels, so a 100000x1 PNG of 370 bytes would cost 300 runs. Such a strip is answered by the
# whole-image pass alone (letterboxed: padded, one run). Below a quarter, tiles are slivers.
MIN_TILE_FILL = 0.25
DEFAULT_MAX_TILES = 1024
_CHOICES = {"mode": SLICING_MODES, "merge": MERGE_METHODS, "match_metric": MATCH_METRICS}
_RANGES = {  # field: (lowest, highest)
    "overlap": (0.0, MAX_OVERLAP),
    "match_threshold": (0.0, 1.0),
    "max_tiles": (1, 1_000_000),
}


class SlicingOptionError(ValueError):
    """One SlicingOptions field is out of range; `field` names it (Settings names its variable)."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"slicing {field}={value!r}: {expected}")
        self.field, self.value, self.expected = field, value, expected


@dataclass(frozen=True)
class SlicingOptions:
    """How to slice one request (the `"slicing"` object of POST /detect).

    tile_wh: (width, height) px of a tile in the image; None means the model input size, so
    tiles are fed at native resolution with no resize.
    overlap: fraction of a tile shared with its neighbour, per axis (SAHI's overlap ratio).
    whole_image: also run the model on the whole image and merge its boxes in (large objects).
    merge / match_metric / match_threshold / class_agnostic: how the union of boxes from all
    views is merged (see merge.py). class_agnostic by default: neighbouring tiles often name
    one object differently (car in one, truck in the next), and one object is one detection.
    max_tiles: the server's cap (MAX_TILES); requests cannot set it.
    """

    mode: str = "auto"
    tile_wh: tuple[int, int] | None = None
    overlap: float = 0.2
    whole_image: bool = True
    merge: str = "nms"
    match_metric: str = "iou"
    match_threshold: float = 0.5
    class_agnostic: bool = True
    max_tiles: int = DEFAULT_MAX_TILES

    def __post_init__(self) -> None:
        # The one check of every range: Settings reports it naming the environment variable;
        # the API validates requests earlier, with its own codes.
        for field, allowed in _CHOICES.items():
            if getattr(self, field) not in allowed:
                raise SlicingOptionError(field, getattr(self, field), f"use one of {allowed}")
        for field, (low, high) in _RANGES.items():
            if not low <= getattr(self, field) <= high:
                raise SlicingOptionError(field, getattr(self, field), f"use {low} to {high}")
        tile = self.tile_wh
        if tile is not None and not (
            len(tile) == 2 and all(MIN_TILE_PX <= side <= MAX_TILE_PX for side in tile)
        ):
            raise SlicingOptionError("tile_wh", tile, f"use {MIN_TILE_PX} to {MAX_TILE_PX} px")


def axis_origins(length_px: int, tile_px: int, overlap: float) -> np.ndarray:
    """Tile starts along one axis, SAHI's rule: (K,) int64, ascending.

    Tiles start every `tile - int(overlap * tile)` px (SAHI rounds the overlap down); the last
    one is moved back so it ends exactly at the edge, so every tile is a full tile. A length
    shorter than the tile gives one start at 0 (that tile is clipped to the image).
    """
    if length_px <= tile_px:
        return np.zeros(1, np.int64)
    step_px = tile_px - int(overlap * tile_px)
    starts = np.arange(0, length_px - tile_px, step_px, dtype=np.int64)
    return np.append(starts, length_px - tile_px)


def tile_grid(image_wh: tuple[int, int], tile_wh: tuple[int, int], overlap: float) -> np.ndarray:
    """(N, 4) int64 tiles x1, y1, x2, y2 in image px, row-major, covering every pixel.

    Every tile has the same size: min(tile, image) on each axis.
    """
    xs = axis_origins(image_wh[0], tile_wh[0], overlap)
    ys = axis_origins(image_wh[1], tile_wh[1], overlap)
    x1, y1 = (grid.ravel() for grid in np.meshgrid(xs, ys))
    width_px, height_px = min(tile_wh[0], image_wh[0]), min(tile_wh[1], image_wh[1])
    return np.stack([x1, y1, x1 + width_px, y1 + height_px], axis=1)


def tile_count(image_wh: tuple[int, int], tile_wh: tuple[int, int], overlap: float) -> int:
    """Number of tiles tile_grid would make, without making them."""
    columns = len(axis_origins(image_wh[0], tile_wh[0], overlap))
    return columns * len(axis_origins(image_wh[1], tile_wh[1], overlap))


def is_sliver_row(image_wh: tuple[int, int], tile_wh: tuple[int, int]) -> bool:
    """True when the grid is several tiles along one axis, each clipped to under MIN_TILE_FILL
    of a tile across it (a thin strip: 100000x1, 1x100000, 4000x50 with 416 px tiles)."""
    return any(
        image_wh[axis] < MIN_TILE_FILL * tile_wh[axis] and image_wh[1 - axis] > tile_wh[1 - axis]
        for axis in (0, 1)
    )


def should_slice(mode: str, image_wh: tuple[int, int], tile_wh: tuple[int, int]) -> bool:
    """ "off" never; "on" always; "auto" when width >= 2 tiles or height >= 2 tiles. Neither
    slices a strip whose tiles would be slivers (is_sliver_row): its tile count would follow its
    length, not its pixels."""
    if mode == "off" or is_sliver_row(image_wh, tile_wh):
        return False
    if mode == "on":
        return True
    return max(image_wh[0] / tile_wh[0], image_wh[1] / tile_wh[1]) >= AUTO_SLICE_RATIO


def max_model_runs(
    pixels: int,
    tile_wh: tuple[int, int],
    overlap: float,
    max_tiles: int = DEFAULT_MAX_TILES,
) -> int:
    """The most model runs (views: tiles and the whole-image pass) any image of this many
    pixels can cost: 1 + floor(C * pixels / tile pixels), C = max(8 / (1 - overlap),
    4 / (1 - overlap)^2), and never over max_tiles + 1. C is 10 at the default overlap of 0.2.

    Why: tiles start every s >= tile * (1 - overlap) px, so an axis of L >= tile px holds at
    most L/s + 1 <= 2L/s tiles. Both axes at least a tile: at most 4 * pixels / (s_x * s_y)
    tiles. One axis shorter than a tile: it is at least MIN_TILE_FILL (1/4) of one, or the image
    is not sliced, so the other axis' 2L/s tiles are at most 8 * pixels / (tile * s). One tile
    never adds the whole-image pass; more add one run.
    """
    keep = 1.0 - overlap
    factor = max(2 / (MIN_TILE_FILL * keep), 4 / keep**2)
    # Tiles are whole: the floor, with room for the float rounding of factor (10.000000000000002).
    tiles = math.floor(factor * pixels / (tile_wh[0] * tile_wh[1]) + 1e-6)
    return 1 + min(tiles, max_tiles)


def plan_tiles(
    image_wh: tuple[int, int], slicing: SlicingOptions | None, input_wh: tuple[int, int]
) -> np.ndarray | None:
    """The tiles to run for this image, or None when it is not sliced.

    Needs only the image size, so it runs from the header, before decoding; raises
    PayloadTooLarge (413 too_many_tiles) when the grid is over slicing.max_tiles.
    """
    if slicing is None:
        return None
    tile_wh = slicing.tile_wh or input_wh
    if not should_slice(slicing.mode, image_wh, tile_wh):
        return None
    count = tile_count(image_wh, tile_wh, slicing.overlap)
    if count > slicing.max_tiles:
        raise PayloadTooLarge(
            f"Slicing this {image_wh[0]}x{image_wh[1]} image into {tile_wh[0]}x{tile_wh[1]} "
            f"tiles at overlap {slicing.overlap} makes {count} tiles, over the limit of "
            f"{slicing.max_tiles}; use larger tiles, less overlap or a smaller image.",
            code="too_many_tiles",
        )
    return tile_grid(image_wh, tile_wh, slicing.overlap)


@dataclass(frozen=True)
class SlicingSummary:
    """What a sliced request did (the response's `"slicing"` object)."""

    tiles: int
    tile_wh: tuple[int, int]
    overlap: float
    whole_image: bool
