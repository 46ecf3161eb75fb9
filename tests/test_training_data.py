"""train at data scale: images decoded once into the pixel store, batches cut in worker
processes (the same batches as in-process), scenes named by a rule and held out by class, the
class-balance repeats, and the upscaled-tile geometry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.detector.slicing import SlicingOptions
from app.training.data import class_weights, make_source, render, repeat_factors, source_views
from app.training.pixels import build_store, store_key
from app.training.validate import SceneRule, Score, split_by_scene
from app.tuning.labels import LabelledImage
from tests.conftest import encode_image

INPUT_WH = (416, 416)


def picture(path, seed: int, wh=(64, 48)) -> None:
    rng = np.random.default_rng(seed)
    path.write_bytes(encode_image(rng.integers(0, 255, (wh[1], wh[0], 3), np.uint8), "PNG"))


def test_images_are_decoded_once_and_read_back_exactly(tmp_path):
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for i, path in enumerate(paths):
        picture(path, i, (64 + 8 * i, 48))
    said: list[str] = []
    store = build_store(paths, tmp_path / "px", "abc", said.append)
    assert len(store) == 3 and store.sizes_wh[2] == (80, 48)
    for i, path in enumerate(paths):
        assert np.array_equal(store.image(i), np.asarray(Image.open(path).convert("RGB")))
    written = (tmp_path / "px" / "abc.rgb").stat().st_mtime_ns
    again = build_store(paths, tmp_path / "px", "abc", said.append)
    assert "reusing 3 decoded images" in said[-1] and again == store
    assert (tmp_path / "px" / "abc.rgb").stat().st_mtime_ns == written  # not decoded again
    assert len(build_store(paths[:2], tmp_path / "px", "abc")) == 2  # another set: rebuilt


def test_other_unlabelled_images_make_another_store_key(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    picture(a, 0)
    picture(b, 1)
    assert store_key("d1", []) == "d1"
    keys = {store_key("d1", [a]), store_key("d1", [b]), store_key("d2", [a]), "d1"}
    assert len(keys) == 4 and store_key("d1", [a]) == store_key("d1", [a])


@pytest.mark.parametrize(
    ("pattern", "block", "name", "scene"),
    [
        (None, 1, "DJI_0005-0019.jpg", "DJI_0005"),
        (None, 1, "V_DRONE_106-00125.jpg", "V_DRONE_106"),
        (r"^V_([A-Z]+)_(\d+)", 1, "V_DRONE_106-00125.jpg", "DRONE-106"),
        (r"^V_([A-Z]+)_(\d+)", 6, "V_DRONE_106-00125.jpg", "DRONE-102-107"),
        (r"^V_([A-Z]+)_(\d+)", 6, "V_DRONE_107-00000.jpg", "DRONE-102-107"),
        (r"^V_([A-Z]+)_(\d+)", 6, "V_DRONE_108-00000.jpg", "DRONE-108-113"),
        (r"^cam\d+", 1, "cam12_2024-05-01.jpg", "cam12"),
        (r"^cam\d+", 1, "other.jpg", "other"),  # not matched: an image of its own
    ],
)
def test_scene_rules(pattern, block, name, scene):
    assert SceneRule(pattern, block)(name) == scene


def labelled(name: str, classes: list[int]) -> LabelledImage:
    boxes = np.tile([10.0, 10.0, 20.0, 20.0], (len(classes), 1))
    return LabelledImage(None, name, (640, 512), boxes, np.array(classes, np.int64))


def test_sessions_are_held_out_whole_and_every_class_is_validated():
    # 4 classes, 12 to 60 clips of 3 frames, blocks of 6 clip numbers = recording sessions:
    # 19 sessions, past the exact search (16): each class holds its own share out
    images = [
        labelled(f"V_{kind}_{clip:03d}-{frame:05d}.jpg", [k])
        for k, kind in enumerate(("AIRPLANE", "BIRD", "DRONE", "HELICOPTER"))
        for clip in range(1, 61 if kind == "DRONE" else 13)
        for frame in (0, 25, 50)
    ]
    rule = SceneRule(r"^V_([A-Z]+)_(\d+)", 6)
    train, val = split_by_scene(images, 0.2, rule)
    assert len(train) + len(val) == len(images)
    held = {rule(im.name) for im in val}
    assert not held & {rule(im.name) for im in train}  # no session on both sides
    assert {int(im.truth_class[0]) for im in val} == {0, 1, 2, 3}
    assert 0.1 <= len(val) / len(images) <= 0.35  # whole sessions: a third of a small class
    assert split_by_scene(images, 0.2, rule) == (train, val)  # the same split every run


@pytest.mark.parametrize(
    ("held", "factors"),
    [
        ([[0], [0], [0], [0], [1]], [1.0, 1.0, 1.0, 1.0, 2.0]),  # sqrt(4 / 1)
        ([[0], [0], [0], [0], [0], [0], [0], [0], [0, 1], [1]], [1.0] * 8 + [np.sqrt(4.5)] * 2),
        ([[2], [2]], [1.0, 1.0]),
        ([[]], [1.0]),
    ],
)
def test_rare_classes_are_repeated(held, factors):
    assert np.allclose(repeat_factors([np.array(c) for c in held]), factors)


@pytest.mark.parametrize(
    ("held", "classes", "weights"),
    [
        ([[0], [0], [0], [0], [1]], 2, [1.0, 2.0]),  # sqrt(4 / 1), as the repeats
        ([[0, 0, 0], [1]], 2, [1.0, 1.0]),  # views are counted, not boxes
        ([[2], [2], [0, 2], [0]], 4, [np.sqrt(3 / 2), 1.0, 1.0, 1.0]),  # 1 and 3 unseen
        ([[1], [1], [1], [1], [1], [1], [1], [1], [1], [0]], 3, [3.0, 1.0, 1.0]),
        ([[]], 2, [1.0, 1.0]),  # no boxes: nothing to weigh
    ],
)
def test_rare_classes_weigh_more(held, classes, weights):
    """--weigh-classes: the class loss weight is the repeat factor, sqrt(f_max / f) over the
    views; the most common class and classes never seen weigh 1."""
    assert np.allclose(class_weights([np.array(c) for c in held], classes), weights)


def test_upscaled_tiles_enlarge_objects_as_the_server_does(tmp_path):
    path = tmp_path / "sky.png"
    picture(path, 0, (640, 512))
    store = build_store([path], tmp_path / "px", "k")
    box = [[100.0, 100.0, 130.0, 120.0]]  # 30 x 20 px
    slicing = SlicingOptions(tile_wh=(320, 320))
    source = make_source(store, 0, box, [1], "sky.png", INPUT_WH, slicing)
    views = source_views(0, source, INPUT_WH, slicing)
    assert len(views) == 6 and all(v.scale == 416 / 320 for v in views)
    assert not source.tiled  # tiles below the input size: no vertical flips
    canvas, targets = render(views[0], source, INPUT_WH, None)
    assert canvas.shape == (416, 416, 3)
    assert np.allclose(targets, [[1, 130.0, 130.0, 169.0, 156.0]])  # x 1.3
    whole = source_views(0, source, INPUT_WH, SlicingOptions())
    assert len(whole) == 1 and whole[0].scale == pytest.approx(416 / 640)


def test_same_batches_from_worker_processes_as_in_process(tmp_path):
    from app.training.feed import Feeder

    paths = [tmp_path / f"{i}.png" for i in range(2)]
    for i, path in enumerate(paths):
        picture(path, i, (500, 450))
    store = build_store(paths, tmp_path / "px", "k")
    sources = [
        make_source(store, i, [[40.0, 40.0, 80.0, 90.0]], [0], p.name, INPUT_WH, SlicingOptions())
        for i, p in enumerate(paths)
    ]
    views = [
        v for i, s in enumerate(sources) for v in source_views(i, s, INPUT_WH, SlicingOptions())
    ]
    tasks = [(views, [1, 2]), (views[::-1], [3, 4])]
    batches = {}
    for workers in (0, 1):
        feeder = Feeder(sources, INPUT_WH, workers)
        try:
            batches[workers] = list(feeder.run(tasks))
            assert feeder.wait_s >= 0
        finally:
            feeder.close()
    for (a, ta), (b, tb) in zip(batches[0], batches[1], strict=True):
        assert a.shape == (2, 416, 416, 3) and np.array_equal(a, b)
        assert all(np.array_equal(x, y) for x, y in zip(ta, tb, strict=True))


def test_mean_ap50_is_over_classes_with_boxes():
    score = Score(0.5, {"bird": 0.2, "drone": 0.6, "kite": float("nan")}, 0.3)
    assert score.mean_ap50 == pytest.approx(0.4)
    assert Score(0.7, {}, 0.3).mean_ap50 == 0.7
