"""The test-time flip (request option "flip", DEFAULT_FLIP): every view runs twice, as it is
and mirrored left-right, and the two answers are fused box by box.

A box both passes found keeps the mean of their scores and the score-weighted mean of their
corners; a box only one pass found keeps half its score, so what survives a mirror ranks
above what one pass imagined. That is weighted box fusion (Solovyev et al., 2021) over two
passes: it ranks detections better than either pass alone, which is what AP50 measures (the
sky sample's held-out sessions: docs/small-objects.md#the-test-time-flip). It costs a second
model pass over every view, and its scores are lower than one pass's for the same boxes: a
model's default confidence is chosen with the flip on or off, not carried over.
"""

from __future__ import annotations

import numpy as np

from .detections import Detections
from .nms import greedy_match

# Two boxes, one from each pass, are one object above this IoU: the slicing merge's default.
# Flat around it on the sky sample's held-out sessions (airborne's twin without the whole-image
# pass: 0.669 mean AP50 at 0.5, 0.666 at 0.55, 0.664 at 0.6): a mirrored box moves a pixel or two.
FLIP_MATCH_IOU = 0.5
PASSES = 2


def fuse_mirrored(
    plain: Detections,
    mirrored: Detections,
    *,
    class_agnostic: bool = False,
    threshold: float = FLIP_MATCH_IOU,
    max_keep: int | None = None,
) -> Detections:
    """One answer from a pass and its mirrored pass (both in image px), highest score first.

    Boxes match (greedily, in score order, as NMS does) above `threshold` IoU and, unless
    class_agnostic, when they share a class. Each group's score is the mean over the two
    passes of each pass's best score in it (0 for a pass with none); its box, the
    score-weighted mean of its boxes; its class, its best box's.
    """
    found = Detections.concatenate([plain, mirrored])
    if not len(found):
        return found
    from_mirror = np.arange(len(found)) >= len(plain)
    kept, owner = greedy_match(
        found.xyxy, found.confidence, None if class_agnostic else found.class_id, threshold
    )
    groups = len(kept)
    best = np.zeros((groups, PASSES), np.float32)
    np.maximum.at(best, (owner, from_mirror.astype(np.int64)), found.confidence)
    # A hair added to each weight: a group of boxes scored 0 (asked for with confidence 0)
    # gets their plain mean instead of a division by zero.
    each = found.confidence.astype(np.float64) + 1e-9
    weight = np.zeros(groups, np.float64)
    corners = np.zeros((groups, 4), np.float64)
    np.add.at(weight, owner, each)
    np.add.at(corners, owner, found.xyxy * each[:, None])
    corners /= weight[:, None]
    fused = Detections(
        corners.astype(np.float32), best.mean(axis=1), found.class_id[kept]
    ).sorted_by_confidence()
    return fused if max_keep is None else fused[:max_keep]
