"""Training samples: the server's tile grid over each image, boxes clipped to a view, and the
augmentations (wide scale range, flips, colour jitter) that turn a view into a model input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..detector.preprocess import PAD_VALUE
from ..detector.slicing import SlicingOptions, plan_tiles
from .pixels import PixelStore

MIN_INSIDE = 0.5  # a box cut by the view's edge is kept when this share of it lies inside
MIN_BOX_PX = 2.0  # boxes smaller than this in the input, after scaling, are left out
NATIVE_SHARE = 0.5  # samples at about native scale (how the server sees tiles)
NATIVE_RANGE = (0.8, 1.25)
WIDE_RANGE = (0.3, 4.0)  # the rest: objects from a third to four times their labelled size
EMPTY_SHARE = 0.25  # of an epoch's samples, views without any box


@dataclass
class Source:
    """One training image: its pixels (image `index` of the store), (G, 4) xyxy px boxes,
    (G,) classes; tiled says it is a big image the server slices at native scale (seen from
    above, so vertical flips are fair)."""

    name: str
    store: PixelStore
    index: int
    boxes: np.ndarray
    classes: np.ndarray
    tiled: bool

    @property
    def size(self) -> tuple[int, int]:
        return self.store.sizes_wh[self.index]

    def pixels(self) -> np.ndarray:
        return self.store.image(self.index)


@dataclass(frozen=True)
class View:
    """A region of one source the server feeds the model: xyxy px and the factor it is scaled
    by to fill the input (1 for a tile; < 1 for a letterboxed whole image)."""

    source: int
    xyxy: tuple[int, int, int, int]
    scale: float


def make_source(
    store: PixelStore, index: int, boxes, classes, name: str, input_wh, slicing: SlicingOptions
) -> Source:
    """Image `index` of the store as a training source; tiled when the geometry slices it with
    tiles of at least the input size (native scale or larger: a view from above)."""
    tile_wh = slicing.tile_wh or input_wh
    sliced = plan_tiles(store.sizes_wh[index], slicing, input_wh) is not None
    return Source(
        name,
        store,
        index,
        np.asarray(boxes, np.float64).reshape(-1, 4),
        np.asarray(classes, np.int64),
        sliced and min(tile_wh) >= min(input_wh),
    )


def source_views(
    index: int, source: Source, input_wh: tuple[int, int], slicing: SlicingOptions
) -> list[View]:
    """The views the server runs on this image with this geometry: its tiles, each scaled to
    fill the input (1 at native scale, above 1 for tiles smaller than the input: upscaled, as
    the server feeds them; the whole-image pass adds nothing a model trained on tiles needs),
    or the whole image letterboxed."""
    w, h = source.size
    tiles = plan_tiles((w, h), slicing, input_wh)
    if tiles is None:
        return [View(index, (0, 0, w, h), min(input_wh[0] / w, input_wh[1] / h))]
    return [
        View(
            index,
            tuple(int(v) for v in tile),
            min(input_wh[0] / (tile[2] - tile[0]), input_wh[1] / (tile[3] - tile[1])),
        )
        for tile in tiles
    ]


def clip_boxes(
    boxes: np.ndarray, region: np.ndarray, min_inside: float = MIN_INSIDE
) -> tuple[np.ndarray, np.ndarray]:
    """(G, 4) xyxy boxes -> (K, 4) boxes clipped to region (xyxy), region-relative px, and
    the (K,) indices kept: those with at least min_inside of their area inside."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    clipped = np.concatenate(
        [np.maximum(boxes[:, :2], region[:2]), np.minimum(boxes[:, 2:], region[2:])], 1
    )
    inner = np.clip(clipped[:, 2:] - clipped[:, :2], 0, None).prod(1)
    area = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(1)
    keep = np.flatnonzero((area > 0) & (inner >= min_inside * area))
    return clipped[keep] - np.tile(region[:2], 2), keep


def has_boxes(view: View, source: Source) -> bool:
    return len(clip_boxes(source.boxes, np.array(view.xyxy, np.float64))[1]) > 0


def epoch_views(
    views: list[View],
    positive: list[bool],
    rng: np.random.Generator,
    repeats: list[float] | None = None,
) -> list[View]:
    """Every view with a box (view i repeats[i] times on average: class balance), plus empty
    views as EMPTY_SHARE of the epoch, shuffled."""
    if repeats is None:
        full = [v for v, p in zip(views, positive, strict=True) if p]
    else:
        full = []
        for view, wanted in zip(
            (v for v, p in zip(views, positive, strict=True) if p), repeats, strict=True
        ):
            full += [view] * (int(wanted) + int(rng.random() < wanted - int(wanted)))
    empty = [v for v, p in zip(views, positive, strict=True) if not p]
    wanted = min(len(empty), round(len(full) * EMPTY_SHARE / (1 - EMPTY_SHARE)) or len(empty))
    picked = full + [empty[i] for i in rng.permutation(len(empty))[:wanted]]
    return [picked[i] for i in rng.permutation(len(picked))]


def zoom(rng: np.random.Generator) -> float:
    """The scale augmentation: half the samples near native scale, half log-uniform wide."""
    low, high = NATIVE_RANGE if rng.random() < NATIVE_SHARE else WIDE_RANGE
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def render(
    view: View, source: Source, input_wh, rng: np.random.Generator | None, paste=None
) -> tuple[np.ndarray, np.ndarray]:
    """One sample: (H, W, 3) uint8 RGB input and (K, 5) [class, x1, y1, x2, y2] input px.

    rng None: the view as the server feeds it (no augmentation), for checks. paste (with an
    rng): paste(canvas, targets, factor, rng) adds objects of other images (--paste).
    """
    x1, y1 = view.xyxy[:2]
    factor = view.scale * (zoom(rng) if rng is not None else 1.0)
    region_wh = np.array(input_wh, np.float64) / factor
    if rng is None:
        origin = np.array([x1, y1], np.float64)
    else:
        origin = _zoom_centre(view, source, region_wh, factor, rng) - region_wh / 2
    region = np.concatenate([origin, origin + region_wh])
    canvas = _crop_scaled(source.pixels(), region, factor, input_wh)
    boxes, keep = clip_boxes(source.boxes, region)
    boxes = np.clip(boxes * factor, 0, [*input_wh, *input_wh])
    classes = source.classes[keep]
    large = (boxes[:, 2:] - boxes[:, :2] >= MIN_BOX_PX).all(1)
    targets = np.concatenate([classes[large, None].astype(np.float64), boxes[large]], 1)
    if rng is not None:
        if paste is not None:
            canvas, targets = paste(canvas, targets, factor, rng)
        canvas, flipped = _flip(canvas, targets[:, 1:], rng, vertical=source.tiled)
        targets = np.concatenate([targets[:, :1], flipped], 1)
        canvas = jitter_colour(canvas, rng)
    return canvas, targets


def _zoom_centre(view: View, source: Source, region_wh, factor: float, rng) -> np.ndarray:
    """Where a zoomed region is centred: zoomed out, on the view; zoomed in, mostly near one of
    the view's boxes (a small crop at a random point would seldom hold one), else anywhere."""
    x1, y1, x2, y2 = view.xyxy
    if factor <= view.scale:
        return np.array([x1 + x2, y1 + y2], np.float64) / 2
    inside, _ = clip_boxes(source.boxes, np.array(view.xyxy, np.float64))
    if len(inside) and rng.random() < 0.8:
        box = inside[rng.integers(len(inside))] + np.array([x1, y1, x1, y1])
        return (box[:2] + box[2:]) / 2 + rng.uniform(-0.4, 0.4, 2) * region_wh
    return rng.uniform([x1, y1], [x2, y2])


def _crop_scaled(image: np.ndarray, region: np.ndarray, factor: float, input_wh) -> np.ndarray:
    """The region of the (H, W, 3) image scaled by factor onto an input-sized canvas padded
    grey."""
    canvas = Image.new("RGB", tuple(input_wh), (PAD_VALUE,) * 3)
    h, w = image.shape[:2]
    inside = [max(0, region[0]), max(0, region[1]), min(w, region[2]), min(h, region[3])]
    if inside[2] - inside[0] >= 1 and inside[3] - inside[1] >= 1:
        box = tuple(round(float(v)) for v in inside)
        target = (
            max(1, round((box[2] - box[0]) * factor)),
            max(1, round((box[3] - box[1]) * factor)),
        )
        piece = Image.fromarray(np.ascontiguousarray(image[box[1] : box[3], box[0] : box[2]]))
        if target != piece.size:
            piece = piece.resize(target, Image.BILINEAR)
        canvas.paste(
            piece, (round((box[0] - region[0]) * factor), round((box[1] - region[1]) * factor))
        )
    return np.asarray(canvas)


def _flip(canvas, boxes, rng, *, vertical: bool):
    w, h = canvas.shape[1], canvas.shape[0]
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
        boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
    if vertical and rng.random() < 0.5:
        canvas = canvas[::-1]
        boxes = np.stack([boxes[:, 0], h - boxes[:, 3], boxes[:, 2], h - boxes[:, 1]], 1)
    return np.ascontiguousarray(canvas), boxes.reshape(-1, 4)


def jitter_colour(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation, each by up to +-25 %."""
    pixels = canvas.astype(np.float32)
    grey = pixels.mean(2, keepdims=True)
    pixels = grey + (pixels - grey) * rng.uniform(0.75, 1.25)  # saturation
    pixels = (pixels - pixels.mean()) * rng.uniform(0.75, 1.25) + pixels.mean()  # contrast
    pixels = pixels * rng.uniform(0.75, 1.25)  # brightness
    return np.clip(pixels, 0, 255).astype(np.uint8)


def view_classes(view: View, source: Source) -> np.ndarray:
    """The classes of the boxes a view holds (at least MIN_INSIDE of each inside)."""
    return source.classes[clip_boxes(source.boxes, np.array(view.xyxy, np.float64))[1]]


def class_balance(
    views: list[View], positive: list[bool], sources: list[Source], repeat: bool, weigh: int
) -> tuple[list[float] | None, np.ndarray | None]:
    """(repeats, weights): per positive view its repeat_factors if repeat, and with weigh=C
    classes the (C,) class_weights, each counted over the classes of the positive views."""
    held = [view_classes(v, sources[v.source]) for v, p in zip(views, positive, strict=True) if p]
    repeats = repeat_factors(held) if repeat else None
    return repeats, (class_weights(held, weigh) if weigh else None)


def repeat_factors(held: list[np.ndarray]) -> list[float]:
    """Class balance by repeating views (LVIS's repeat-factor sampling, threshold the most
    common class): held[i] is the classes in positive view i; a class in a share f of the
    views has r = sqrt(f_max / f), a view repeats max(r) over its classes per epoch. With
    1,093 drone frames against 220 helicopter ones, helicopter views come about 2.2 times."""
    present = [np.asarray(c, np.int64) for c in held if len(c)]
    if not present:
        return [1.0] * len(held)
    factor = class_weights(held, 1 + max(int(c.max()) for c in present))
    return [max([float(factor[int(c)]) for c in classes], default=1.0) for classes in held]


def class_weights(held: list[np.ndarray], num_classes: int) -> np.ndarray:
    """(C,) per-class sqrt(f_max / f) over the positive views' classes (held[i]: the classes
    in view i), 1 for the most common class and any class unseen: the weights of the class
    loss (--weigh-classes) and the factors repeat_factors repeats views by."""
    counts = np.zeros(num_classes)
    for classes in held:
        counts[np.unique(np.asarray(classes, np.int64))] += 1
    weights = np.ones(num_classes)
    seen = counts > 0
    weights[seen] = np.sqrt(counts.max() / counts[seen])
    return weights
