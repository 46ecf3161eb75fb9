"""train --paste: objects of other training images pasted into samples. Every object drawn
alike, the margin cut with each object matched to where it lands and faded in, no pasted object
over another, every pasted object under its box after the flips and the colour jitter, the same
samples from worker processes, and none pasted into --distill's images."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app.__main__ import main
from app.detector.slicing import SlicingOptions
from app.training.data import make_source, render, source_views
from app.training.feed import Feeder
from app.training.paste import (
    MARGIN_SHARE,
    Bank,
    Paster,
    Patch,
    blend,
    cut,
    fade,
    paste_objects,
    place,
)
from app.training.pixels import build_store
from tests.conftest import encode_image

INPUT_WH = (416, 416)
SKY = 160  # the synthetic images' background
OBJECT = 20  # their objects: dark squares that fill their boxes (tight labels)
RISE = [0.1, 0.3, 0.5, 0.7, 0.9]  # alpha across a 5 px margin, pixel centres at 0.5 to 4.5


def classes_of(*per_source):
    return [SimpleNamespace(classes=np.array(c, np.int64)) for c in per_source]


@pytest.mark.parametrize(
    ("per_source", "shares"),
    [
        (([0] * 9, [1]), {0: 0.9, 1: 0.1}),  # 9 drones and 1 helicopter: as they occur
        (([0, 3], [3, 3]), {0: 0.25, 3: 0.75}),  # classes 1 and 2 have no object: never drawn
        (([2], [], [0, 1]), {0: 1 / 3, 1: 1 / 3, 2: 1 / 3}),  # an image without objects
    ],
)
def test_the_bank_draws_every_object_alike(per_source, shares):
    sources = classes_of(*per_source)
    bank = Bank.of(sources)
    rng = np.random.default_rng(0)
    drawn = [bank.draw(rng) for _ in range(3000)]
    classes = [int(sources[s].classes[b]) for s, b in drawn]
    for label, share in shares.items():
        assert classes.count(label) / len(classes) == pytest.approx(share, abs=0.03)
    assert set(classes) == set(shares)
    assert len(set(drawn)) == sum(map(len, per_source))  # every object comes up


def test_an_empty_bank_draws_nothing():
    assert Bank.of(classes_of([], [])).draw(np.random.default_rng(0)) is None


@pytest.mark.parametrize(
    ("wh", "box", "row", "expected"),
    [
        # a 20 px box with a 5 px margin each side: 0 at the edge, 1 over the box
        ((30, 30), (5, 5, 25, 25), 15, [*RISE, *[1.0] * 20, *RISE[::-1]]),
        # the box at the image's left edge: no margin there, nothing fades on that side
        ((25, 30), (0, 5, 20, 25), 15, [*[1.0] * 20, *RISE[::-1]]),
    ],
)  # fmt: skip
def test_the_margin_fades_in_and_the_box_is_whole(wh, box, row, expected):
    patch = Patch(np.zeros((wh[1], wh[0], 3), np.float32), np.array(box, np.float64))
    alpha = fade(patch)
    assert alpha.shape == (wh[1], wh[0], 1)
    assert alpha[row, :, 0] == pytest.approx(expected, abs=1e-6)
    x1, y1, x2, y2 = box
    assert (alpha[y1:y2, x1:x2] == 1).all()


def test_the_patch_takes_the_colour_of_where_it_lands_and_keeps_its_contrast():
    pixels = np.full((30, 30, 3), 200, np.float32)  # a grey sky
    pixels[10:20, 10:20] = 150  # the object: 50 darker than its sky
    patch = Patch(pixels, np.array([5, 5, 25, 25], np.float64))
    region = np.full((30, 30, 3), [40, 90, 220], np.float32)  # a blue sky
    out = blend(patch, region)
    assert out[0, 0] == pytest.approx([40, 90, 220])  # the margin is the blue sky there
    assert out[15, 15] == pytest.approx([-10, 40, 170])  # 50 darker than the blue sky
    assert out[7, 7] == pytest.approx([40, 90, 220])  # the box's sky: shifted to blue too


@pytest.mark.parametrize(
    ("patch_wh", "taken", "placed"),
    [
        ((40, 40), [], True),
        ((40, 40), [[0, 0, 416, 200]], True),  # the bottom half is free
        ((40, 40), [[0, 0, 416, 390]], False),  # 26 px left: too little room
        ((300, 40), [], False),  # wider than MAX_PATCH_SHARE of the canvas
    ],
)
def test_a_patch_lands_where_it_overlaps_no_object(patch_wh, taken, placed):
    taken = np.array(taken, np.float64).reshape(-1, 4)
    for seed in range(20):
        spot = place(patch_wh, INPUT_WH, taken, np.random.default_rng(seed))
        if not placed:
            assert spot is None
            continue
        assert spot is not None and tuple(spot[2:] - spot[:2]) == patch_wh
        assert (spot[:2] >= 0).all() and (spot[2:] <= INPUT_WH).all()
        for box in taken:
            assert box[2] <= spot[0] or box[0] >= spot[2] or box[3] <= spot[1] or box[1] >= spot[3]


@pytest.fixture
def sky(tmp_path):
    """Three 500x450 images of a uniform sky, each with one dark square object of its class
    (tight labels, 40x40 px); the third image has none (a --distill image)."""
    boxes = [[[40.0, 40.0, 80.0, 80.0]], [[300.0, 200.0, 340.0, 240.0]], []]
    paths = []
    for i, found in enumerate(boxes):
        pixels = np.full((450, 500, 3), SKY, np.uint8)
        for x1, y1, x2, y2 in found:
            pixels[int(y1) : int(y2), int(x1) : int(x2)] = OBJECT
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(encode_image(pixels, "PNG"))
    store = build_store(paths, tmp_path / "px", "k")
    return [
        make_source(store, i, found, [i] * len(found), p.name, INPUT_WH, SlicingOptions())
        for i, (p, found) in enumerate(zip(paths, boxes, strict=True))
    ]


def test_a_cut_holds_the_box_and_its_margin_scaled(sky):
    patch = cut(sky[1], 0, 2.0)
    side = 2 * 40 * (1 + 2 * MARGIN_SHARE)  # 40 px and 10 px each side, twice as large
    assert patch.wh == (side, side)
    assert patch.box.tolist() == [20, 20, 100, 100]
    x1, y1, x2, y2 = patch.box.astype(int)
    assert patch.pixels[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].max() == OBJECT
    assert patch.pixels[: y1 - 2].min() == SKY  # the margin: the object's own sky
    assert cut(sky[1], 0, 0.05) is None  # 2 px: too small to paste
    off = SimpleNamespace(boxes=np.array([[495.0, 100.0, 540.0, 140.0]]), pixels=sky[1].pixels)
    edge = cut(off, 0, 1.0)  # 5 of its 45 px on the image: cut to the image, no margin there
    assert edge.box.tolist() == [11, 10, 16, 50] and edge.wh == (16, 60)  # 11 px margin left
    off.boxes[0] = [510.0, 100.0, 550.0, 140.0]
    assert cut(off, 0, 1.0) is None  # wholly off the image


def test_pasted_objects_lie_under_their_boxes_after_flips_and_jitter(sky):
    """Every box of every sample, real or pasted, holds a dark object; pasted boxes never
    overlap another box; about half the samples get 1 to 3 objects of the other image."""
    paster = Paster.of(sky[:2], 3)
    view = source_views(0, sky[0], INPUT_WH, SlicingOptions())[0]
    pasted = []
    for seed in range(60):
        canvas, targets = render(view, sky[0], INPUT_WH, np.random.default_rng(seed), paster)
        real = render(view, sky[0], INPUT_WH, np.random.default_rng(seed))[1]
        grey = canvas.mean(2)
        for label, *xyxy in targets:
            x1, y1, x2, y2 = np.round(xyxy).astype(int)
            if min(x2 - x1, y2 - y1) > 6:  # clear of the edges' blur
                inside = grey[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
                assert inside.max() < grey.max() / 2, (seed, label, xyxy)
        boxes = targets[:, 1:]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert np.array_equal(targets[: len(real), 0], real[:, 0])  # the real boxes first
        pasted.append(len(targets) - len(real))
    with_paste = [n for n in pasted if n > 0]
    assert 0.3 < len(with_paste) / len(pasted) < 0.7
    assert max(with_paste) >= 2 and min(with_paste) >= 1


def test_without_paste_the_sample_is_what_it_was(sky):
    view = source_views(0, sky[0], INPUT_WH, SlicingOptions())[0]
    none = Paster.of(sky[:2], 0)
    for seed in range(5):
        plain = render(view, sky[0], INPUT_WH, np.random.default_rng(seed))
        zero = render(view, sky[0], INPUT_WH, np.random.default_rng(seed), none)
        assert np.array_equal(plain[0], zero[0]) and np.array_equal(plain[1], zero[1])


def test_paste_objects_keeps_the_canvas_outside_the_pasted_patches(sky):
    canvas = np.full((416, 416, 3), 90, np.uint8)
    targets = np.zeros((0, 5))
    bank = Bank.of(sky[:2])
    for seed in range(10):
        out, found = paste_objects(
            canvas, targets, sky[:2], bank, 2, 1.0, np.random.default_rng(seed)
        )
        changed = (out != canvas).any(2)
        covered = np.zeros_like(changed)
        for _, x1, y1, x2, y2 in found:  # each patch reaches a margin beyond its box
            m = MARGIN_SHARE * (x2 - x1)
            covered[int(y1 - m) : int(y2 + m), int(x1 - m) : int(x2 + m)] = True
        assert not (changed & ~covered).any()
        assert set(found[:, 0]) <= {0.0, 1.0}


def test_workers_paste_the_same_and_never_into_distill_images(sky):
    views = [v for i, s in enumerate(sky) for v in source_views(i, s, INPUT_WH, SlicingOptions())]
    tasks = [(views * 4, list(range(12)))]
    batches = {}
    for workers, paste in ((0, 3), (1, 3), (0, 0)):
        feeder = Feeder(sky, INPUT_WH, workers, paste=paste, labelled=2)
        try:
            batches[workers, paste] = next(iter(feeder.run(tasks)))
        finally:
            feeder.close()
    (a, ta), (b, tb), (_, plain) = batches.values()
    assert np.array_equal(a, b) and all(np.array_equal(x, y) for x, y in zip(ta, tb, strict=True))
    distilled = [t for view, t in zip(tasks[0][0], ta, strict=True) if view.source == 2]
    assert len(distilled) == 4 and all(len(t) == 0 for t in distilled)
    assert sum(map(len, ta)) > sum(map(len, plain))  # the pastes, into labelled images only


@pytest.mark.parametrize("value", ["-1", "17"])
def test_paste_out_of_range_is_a_usage_error(tmp_path, capsys, value):
    code = main(["train", str(tmp_path), "--labels", str(tmp_path), "--paste", value])
    assert code == 2 and capsys.readouterr().err == "error: --paste must be 0 to 16\n"
