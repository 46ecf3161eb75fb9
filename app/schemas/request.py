"""The request contract, declared once: POST /detect's JSON fields as msgspec Structs.

Both the validation (`validation.py`, used by `detect.py`) and the JSON Schema of /openapi.json
(`contract.py`) are derived from these declarations. A new option is one field here: its type
and range (`Meta`) are what is checked and documented; `expected` in `Meta.extra` overrides the
"must be ..." wording that the error messages otherwise derive from the type.
Defaults that come from the server's settings are UNSET here (absent means "use the setting").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

from ..detector.slicing import (
    MATCH_METRICS,
    MAX_OVERLAP,
    MAX_TILE_PX,
    MERGE_METHODS,
    MIN_TILE_PX,
    SLICING_MODES,
)

MAX_DETECTIONS_LIMIT = 10_000

_Unit = Annotated[float, Meta(ge=0, le=1)]
_TileSide = Annotated[int, Meta(ge=MIN_TILE_PX, le=MAX_TILE_PX)]
_TILE = f"an integer or [width, height] of integers from {MIN_TILE_PX} to {MAX_TILE_PX}"
_Tile = Annotated[
    _TileSide | Annotated[list[_TileSide], Meta(min_length=2, max_length=2)],
    Meta(extra={"expected": _TILE}),
]


class SlicingRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """The "slicing" object; attribute names are SlicingOptions' (app/detector/slicing.py)."""

    mode: Literal[SLICING_MODES] | UnsetType = UNSET
    tile_wh: _Tile | UnsetType = field(default=UNSET, name="tile")
    overlap: Annotated[float, Meta(ge=0, le=MAX_OVERLAP)] | UnsetType = UNSET
    whole_image: bool | UnsetType = UNSET
    merge: Literal[MERGE_METHODS] | UnsetType = UNSET
    match_metric: Literal[MATCH_METRICS] | UnsetType = UNSET
    match_threshold: _Unit | UnsetType = UNSET
    class_agnostic: bool | UnsetType = UNSET


def _doc(kind: Any, description: str, expected: str | None = None) -> Any:
    """kind, documented (and, where its type alone would word it poorly, its error wording)."""
    return Annotated[
        kind, Meta(description=description, extra={"expected": expected} if expected else None)
    ]


_Confidence = _doc(_Unit, "Minimum score (server default DEFAULT_CONFIDENCE).")
_Iou = _doc(_Unit, "NMS IoU threshold (server default DEFAULT_IOU).")
_MaxDetections = _doc(
    Annotated[int, Meta(ge=1, le=MAX_DETECTIONS_LIMIT)],
    "Most detections returned (server default DEFAULT_MAX_DETECTIONS).",
)
_Classes = _doc(
    Annotated[list[str | Annotated[int, Meta(ge=0)]], Meta(min_length=1)],
    "Keep only these labels (case-insensitive) and/or class ids; GET /model lists them.",
    "a non-empty list of class labels and/or ids",
)
_MultiLabel = _doc(
    bool,
    "Report a box once per class that passes, as COCO mAP is measured (false: one label per "
    "object, its best class).",
)
_Agnostic = _doc(bool, "NMS across classes.")
_Flip = _doc(
    bool,
    "Test-time flip: run every view mirrored too and fuse the two answers (better ranked, "
    "twice the model time; server default DEFAULT_FLIP).",
)
_Annotate = _doc(bool, 'Add "annotated_image": the image as JPEG with the boxes drawn.')
_Slicing = _doc(
    SlicingRequest,
    "Small-object mode: tiles at native resolution merged with a whole-image pass (server "
    "defaults SLICING_*).",
    'an object, e.g. {"mode": "on", "tile": 416}',
)
_Model = _doc(
    Annotated[str, Meta(min_length=1, max_length=64)],
    "The model that answers, by name (GET /models lists them); absent: the default model.",
    "a model name (GET /models lists them)",
)
_Image = _doc(
    Annotated[str, Meta(min_length=1)],
    "The image, base64 (standard or URL-safe, padding optional, whitespace ignored, optional "
    "data:image/...;base64, prefix). JPEG, PNG, WebP, BMP, GIF or TIFF.",
    "a non-empty base64 string",
)


class DetectOptionsRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """Every POST /detect option: the fields besides "image" (a job's "options")."""

    confidence: _Confidence | UnsetType = UNSET
    iou: _Iou | UnsetType = UNSET
    max_detections: _MaxDetections | UnsetType = UNSET
    classes: _Classes | UnsetType = UNSET
    multi_label: _MultiLabel = False
    agnostic: _Agnostic = False
    flip: _Flip | UnsetType = UNSET
    annotate: _Annotate = False
    slicing: _Slicing | UnsetType = UNSET
    model: _Model | UnsetType = UNSET


class DetectRequestBody(DetectOptionsRequest, kw_only=True):
    """A POST /detect JSON body: the image and the options."""

    image: _Image


# The JSON field names, "image" first (as messages list them).
DETECT_FIELDS = ("image", *DetectOptionsRequest.__struct_encode_fields__)
SLICING_FIELDS = SlicingRequest.__struct_encode_fields__
