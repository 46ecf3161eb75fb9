"""The search space: settings (slicing defaults + NMS IoU), how simple each is, and the
environment lines that make one the service's defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..detector.slicing import MAX_TILE_PX, MIN_TILE_PX, SlicingOptions
from .views import Geometry

# Tiles as a fraction of the model input: below 1 the model sees objects enlarged (zoom),
# above 1 shrunk; rounded to 32 px.
TILE_FACTORS = (0.6, 0.75, 1.0, 1.25, 1.5)
OVERLAPS = (0.1, 0.2, 0.3)
NMS_IOUS = (0.3, 0.45, 0.6)
# (merge, match metric, match threshold) tried on the best geometries.
MERGES = (
    ("nms", "iou", 0.3),
    ("nms", "iou", 0.5),
    ("nms", "iou", 0.7),
    ("nms", "ios", 0.5),
    ("nms", "ios", 0.8),
    ("greedy_nmm", "iou", 0.5),
    ("greedy_nmm", "ios", 0.5),
    ("greedy_nmm", "ios", 0.8),
)


@dataclass(frozen=True)
class Setting:
    """One point of the search: the slicing defaults (SLICING_*) and the NMS IoU (DEFAULT_IOU).

    slicing.tile_wh is always set (the model input size for the defaults' None).
    """

    slicing: SlicingOptions
    iou: float

    @property
    def geometry(self) -> Geometry | None:
        """The tile geometry whose views it needs; None: the whole image only."""
        if self.slicing.mode == "off":
            return None
        assert self.slicing.tile_wh is not None  # every Setting names its tile
        return (self.slicing.tile_wh, self.slicing.overlap)

    def but(self, **changes) -> Setting:
        """A copy with slicing fields (and iou) changed."""
        iou = changes.pop("iou", self.iou)
        return Setting(dataclasses.replace(self.slicing, **changes), iou)

    def describe(self) -> str:
        """One table cell: e.g. `320px/0.2 +whole nms iou>0.5 agnostic, NMS 0.45`."""
        s = self.slicing
        if s.mode == "off":
            return f"whole image only, NMS {self.iou:g}"
        tile = tile_text(s.tile_wh)
        mode = "" if s.mode == "on" else f" {s.mode}"
        whole = " +whole" if s.whole_image else ""
        agnostic = " agnostic" if s.class_agnostic else ""
        merge = f"{s.merge} {s.match_metric}>{s.match_threshold:g}"
        return f"{tile}px/{s.overlap:g}{mode}{whole} {merge}{agnostic}, NMS {self.iou:g}"


def tile_text(tile_wh: tuple[int, int] | None) -> str:
    """ "416" for a square tile, "640x384" otherwise: SLICING_TILE's own syntax."""
    assert tile_wh is not None
    return str(tile_wh[0]) if tile_wh[0] == tile_wh[1] else f"{tile_wh[0]}x{tile_wh[1]}"


def tile_sizes(input_wh: tuple[int, int]) -> list[tuple[int, int]]:
    """Tile sizes to try for a model input (416 -> 256, 320, 416, 512, 640)."""
    sizes = []
    for factor in TILE_FACTORS:
        tile = tuple(
            min(MAX_TILE_PX, max(MIN_TILE_PX, round(side * factor / 32) * 32)) for side in input_wh
        )
        if factor == 1.0:
            tile = input_wh
        if tile not in sizes:
            sizes.append(tile)
    return sizes


def geometries(input_wh: tuple[int, int], default: Geometry) -> list[Geometry]:
    """Every tile geometry of the space, the defaults' first."""
    found = [default]
    for tile in tile_sizes(input_wh):
        found += [(tile, overlap) for overlap in OVERLAPS if (tile, overlap) not in found]
    return found


def env_lines(setting: Setting, confidence: float) -> dict[str, str]:
    """The environment variables (app/config.py reads them as they are) of a setting."""
    s = setting.slicing
    return {
        "SLICING_MODE": s.mode,
        "SLICING_TILE": tile_text(s.tile_wh),
        "SLICING_OVERLAP": f"{s.overlap:g}",
        "SLICING_WHOLE_IMAGE": str(s.whole_image).lower(),
        "SLICING_MERGE": s.merge,
        "SLICING_MATCH_METRIC": s.match_metric,
        "SLICING_MATCH_THRESHOLD": f"{s.match_threshold:g}",
        "SLICING_CLASS_AGNOSTIC": str(s.class_agnostic).lower(),
        "DEFAULT_IOU": f"{setting.iou:g}",
        "DEFAULT_CONFIDENCE": f"{confidence:g}",
        "DEFAULT_FLIP": "false",  # scored without the test-time flip: a model's must not apply
    }


def simplicity(setting: Setting, views_per_image: float, defaults: Setting) -> tuple:
    """Sort key, simplest first: fewer model passes, then NMS before NMM, IoU before IoS, then
    fewer changes from the defaults."""
    s, d = setting.slicing, defaults.slicing
    changed = sum(getattr(s, f.name) != getattr(d, f.name) for f in dataclasses.fields(s))
    changed += setting.iou != defaults.iou
    return (round(views_per_image, 1), s.merge != "nms", s.match_metric != "iou", changed)
