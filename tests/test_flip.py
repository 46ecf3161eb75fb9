"""The test-time flip: views fed mirrored and their boxes mapped back (the Letterbox maths),
the same answer as a mirrored image, and the fusion of the two passes (weighted box fusion)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.detector import DetectOptions, detect_array, detect_bytes, load_model
from app.detector.detections import Detections
from app.detector.flip import fuse_mirrored
from app.detector.nms import overlap
from app.detector.pipeline import _Stopwatch
from app.detector.preprocess import decode_image, fit_letterbox, letterbox
from app.detector.slicing import SlicingOptions
from app.detector.views import detect_views
from tests.onnx_graphs import constant_output_model

# (image width, height, input, centered): a letterbox that shrinks, one that enlarges, one
# that pads left and right (centered: Ultralytics), one that pads only on the right (YOLOX).
PLACEMENTS = [
    (640, 512, (416, 416), False),
    (320, 320, (416, 416), True),
    (300, 500, (416, 416), True),
    (300, 500, (416, 416), False),
]


@pytest.mark.parametrize(("width", "height", "input_wh", "centered"), PLACEMENTS)
def test_a_mirrored_box_maps_to_the_mirror_image_of_its_place(width, height, input_wh, centered):
    plain, _ = fit_letterbox((width, height), input_wh, centered=centered)
    image = np.zeros((height, width, 3), np.uint8)
    _, mirrored = letterbox(image, input_wh, centered=centered, mirrored=True)
    box = np.array([[10.0, 20.0, 60.0, 45.0]], np.float32)  # image px
    # In the mirrored input the box lies where the plain input has its mirror image...
    mirror_image = np.array([[width - 60.0, 20.0, width - 10.0, 45.0]], np.float32)
    np.testing.assert_allclose(mirrored.to_input(box), plain.to_input(mirror_image), atol=1e-4)
    # ...and comes back to the image where it was, a tile's offset included.
    np.testing.assert_allclose(mirrored.to_image(mirrored.to_input(box), (width, height)), box,
                               atol=1e-4)  # fmt: skip
    tile = mirrored.offset((100, 30))
    big = box + np.array([100, 30, 100, 30], np.float32)
    np.testing.assert_allclose(tile.to_image(tile.to_input(big), (2000, 2000)), big, atol=1e-3)


@pytest.mark.parametrize(("width", "height", "input_wh", "centered"), PLACEMENTS)
@pytest.mark.parametrize("as_pil", [False, True], ids=["array", "pil"])
def test_the_mirrored_canvas_is_the_mirrored_image_s_canvas(
    width, height, input_wh, centered, as_pil
):
    """The pixels are resized, then flipped where they lie: the padding stays where the model
    expects it, and the canvas is the one the mirrored image would give."""
    rng = np.random.default_rng(width + height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels) if as_pil else pixels
    flipped = np.ascontiguousarray(pixels[:, ::-1])
    canvas, _ = letterbox(image, input_wh, centered=centered, mirrored=True)
    expected, _ = letterbox(flipped, input_wh, centered=centered)
    differs = np.abs(canvas.astype(int) - expected.astype(int))
    assert differs.max() <= 1  # bilinear resampling rounds alike either way, to one level


def shifted_box_model(tmp_path):
    """A YOLOv5 head for a 64x64 input whatever it is shown: one box at x 10-30, y 27-37."""
    rows = np.zeros((1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 7), np.float32)
    rows[0, 0] = [20, 32, 20, 10, 0.9, 1.0, 0.0]
    path = constant_output_model(tmp_path / "box.onnx", rows, input_shape=[1, 3, 64, 64])
    return load_model(path)


def test_each_mirrored_view_s_box_is_mirrored_within_its_view(tmp_path):
    """The model answers the same box in every view: fed mirrored, each view's box comes back
    mirrored within that view (a tile at x 52 answers 52 + 64 - 30 = 86 to 106)."""
    model = shifted_box_model(tmp_path)
    image = np.zeros((100, 150, 3), np.uint8)
    views = np.array([[0, 0, 64, 64], [52, 0, 116, 64], [86, 36, 150, 100]])
    options = DetectOptions()
    plain = detect_views(model, image, views, options, _Stopwatch())
    mirrored = detect_views(model, image, views, options, _Stopwatch(), mirrored=True)
    assert plain.xyxy.tolist() == [[10, 27, 30, 37], [62, 27, 82, 37], [96, 63, 116, 73]]
    assert mirrored.xyxy.tolist() == [[34, 27, 54, 37], [86, 27, 106, 37], [120, 63, 140, 73]]


def test_the_mirrored_pass_is_the_pass_over_the_mirrored_image(yolox_model, demo_jpeg):
    """A real model: every view fed mirrored answers what the plain pipeline answers on the
    mirrored image, mapped back (tiles and the whole image; to a fraction of a pixel)."""
    image = decode_image(demo_jpeg, max_pixels=10**8)
    width = image.shape[1]
    views = np.array([[0, 0, 416, 416], [300, 100, 716, 516], [0, 0, width, image.shape[0]]])
    options = DetectOptions(confidence=0.1)
    mirrored = detect_views(yolox_model, image, views, options, _Stopwatch(), mirrored=True)
    mirror_views = views.copy()
    mirror_views[:, [0, 2]] = width - views[:, [2, 0]]
    flipped = np.ascontiguousarray(image[:, ::-1])
    expected = detect_views(yolox_model, flipped, mirror_views, options, _Stopwatch())
    back = expected.xyxy.copy()
    back[:, [0, 2]] = width - expected.xyxy[:, [2, 0]]
    assert len(mirrored) == len(expected) > 5
    order, other = np.lexsort(mirrored.xyxy.T), np.lexsort(back.T)
    np.testing.assert_allclose(mirrored.xyxy[order], back[other], atol=1.0)
    np.testing.assert_allclose(mirrored.confidence[order], expected.confidence[other], atol=0.02)


def dets(*rows) -> Detections:
    """Detections from (x1, y1, x2, y2, score, class) rows."""
    table = np.array(rows, np.float32).reshape(-1, 6)
    return Detections.from_arrays(table[:, :4], table[:, 4], table[:, 5])


BOX = (10, 10, 30, 30)
NEAR = (12, 10, 32, 30)  # IoU 18/22 = 0.82 with BOX
FAR = (100, 100, 120, 120)

FUSIONS = [
    # (plain, mirrored, class_agnostic, expected rows (x1, y1, x2, y2, score, class))
    ("both passes: the mean score, the score-weighted box",
     dets((*BOX, 0.8, 0)), dets((*NEAR, 0.4, 0)), False,
     [(10 + 2 * 0.4 / 1.2, 10, 30 + 2 * 0.4 / 1.2, 30, 0.6, 0)]),
    ("one pass only: half its score",
     dets((*BOX, 0.8, 0)), dets((*FAR, 0.6, 1)), False,
     [(*BOX, 0.4, 0), (*FAR, 0.3, 1)]),
    ("two names, per class: each its own half",
     dets((*BOX, 0.8, 0)), dets((*NEAR, 0.4, 1)), False,
     [(*BOX, 0.4, 0), (*NEAR, 0.2, 1)]),
    ("two names, across classes: one box, the surer name",
     dets((*BOX, 0.8, 0)), dets((*NEAR, 0.4, 1)), True,
     [(10 + 2 * 0.4 / 1.2, 10, 30 + 2 * 0.4 / 1.2, 30, 0.6, 0)]),
    ("a pass's best box in the group counts, not a second one",
     dets((*BOX, 0.8, 0), (11, 10, 31, 30, 0.2, 0)), dets((*NEAR, 0.4, 0)), False,
     [(10 + 1.0 / 1.4, 10, 30 + 1.0 / 1.4, 30, 0.6, 0)]),
    ("nothing either way", dets(), dets(), False, []),
    ("scored 0 (confidence 0 asked): the plain mean box",
     dets((*BOX, 0.0, 0)), dets((*NEAR, 0.0, 0)), False, [(11, 10, 31, 30, 0.0, 0)]),
    ("only the mirrored pass found it",
     dets(), dets((*BOX, 0.5, 2)), False, [(*BOX, 0.25, 2)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("plain", "mirrored", "agnostic", "expected"),
    [case[1:] for case in FUSIONS],
    ids=[case[0] for case in FUSIONS],
)
def test_two_passes_fuse_box_by_box(plain, mirrored, agnostic, expected):
    fused = fuse_mirrored(plain, mirrored, class_agnostic=agnostic)
    got = np.column_stack([fused.xyxy, fused.confidence, fused.class_id]).reshape(-1, 6)
    np.testing.assert_allclose(got, np.array(expected, np.float64).reshape(-1, 6), atol=1e-5)


def test_the_fused_answer_is_cut_to_max_keep_after_ranking():
    plain = dets((*BOX, 0.9, 0), (*FAR, 0.5, 0))
    mirrored = dets((*FAR, 0.5, 0))
    fused = fuse_mirrored(plain, mirrored, max_keep=1)
    assert fused.xyxy.tolist() == [list(FAR)] and fused.confidence.tolist() == [0.5]


@pytest.mark.parametrize(
    "slicing",
    [None, SlicingOptions(mode="on"), SlicingOptions(mode="on", class_agnostic=False)],
    ids=["whole image", "tiles", "tiles merged per class"],
)
def test_the_flip_reranks_the_same_objects(yolox_model, demo_jpeg, slicing):
    """Through the pipeline: the flipped answer finds the same confident objects (a box kept
    at 0.5 without the flip has one at IoU > 0.7 with it) and reports each pass's share."""
    plain = detect_bytes(yolox_model, demo_jpeg, DetectOptions(confidence=0.05, slicing=slicing))
    flip = DetectOptions(confidence=0.05, slicing=slicing, flip=True)
    flipped = detect_bytes(yolox_model, demo_jpeg, flip)
    sure = plain.detections[plain.detections.confidence >= 0.5]
    assert len(sure) >= 3 and len(flipped.detections)
    ious = overlap(sure.xyxy[:, None], flipped.detections.xyxy[None])  # (sure, flipped)
    assert (ious.max(axis=1) > 0.7).all()
    assert not np.array_equal(flipped.detections.confidence, plain.detections.confidence)
    assert flipped.detections.confidence.tolist() == sorted(
        flipped.detections.confidence.tolist(), reverse=True
    )


def test_an_array_and_its_bytes_flip_alike(yolox_model, demo_jpeg):
    image = decode_image(demo_jpeg, max_pixels=10**8)
    options = DetectOptions(confidence=0.05, slicing=SlicingOptions(mode="on"), flip=True)
    from_bytes = detect_bytes(yolox_model, demo_jpeg, options).detections
    np.testing.assert_array_equal(from_bytes.xyxy, detect_array(yolox_model, image, options).xyxy)
