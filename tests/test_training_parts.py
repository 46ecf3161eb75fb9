"""train's parts on planted cases: the SimOTA assignment and loss, tile/box clipping, class
planning, the scene split, and the export against the torch model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.training.classes import plan_classes
from app.training.data import clip_boxes
from app.training.validate import scene_of, split_by_scene
from app.tuning.labels import LabelledImage
from tests.conftest import shared_path

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh --train)")

from app.training.loss import cell_grid, decode, simota, yolox_loss  # noqa: E402

INPUT_WH = (128, 128)


def rows_predicting(box: torch.Tensor, classes: int = 1) -> torch.Tensor:
    """(N, 5+C) head rows in which every cell predicts exactly box (xyxy input px)."""
    grid, stride = cell_grid(INPUT_WH)
    centre, wh = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    rows = torch.zeros(len(grid), 5 + classes)
    rows[:, :2] = centre / stride - grid
    rows[:, 2:4] = torch.log(wh / stride)
    return rows


def test_a_box_takes_the_cells_around_its_centre():
    grid, stride = cell_grid(INPUT_WH)
    box = torch.tensor([40.0, 48.0, 72.0, 64.0])
    rows = rows_predicting(box)
    assert torch.allclose(decode(rows, grid, stride), box.expand(len(grid), 4), atol=1e-4)
    found = simota(rows, box[None], torch.tensor([0]), grid, stride)
    centres = (grid[found.fg] + 0.5) * stride[found.fg]
    assert 1 <= int(found.fg.sum()) <= 10  # dynamic k: the sum of the 10 best IoUs (all 1)
    inside = (centres > box[:2]) & (centres < box[2:])
    near = (centres - torch.tensor([56.0, 56.0])).abs() < 2.5 * stride[found.fg]
    assert bool((inside & near).all()), centres
    assert torch.allclose(found.iou, torch.ones_like(found.iou), atol=1e-4)


def test_two_boxes_get_cells_of_their_own_and_empty_images_none():
    grid, stride = cell_grid(INPUT_WH)
    boxes = torch.tensor([[8.0, 8.0, 24.0, 24.0], [96.0, 96.0, 120.0, 120.0]])
    rows = torch.zeros(len(grid), 7)
    found = simota(rows, boxes, torch.tensor([0, 1]), grid, stride)
    centres = (grid[found.fg] + 0.5) * stride[found.fg]
    for index, box in enumerate(boxes):
        mine = centres[found.box_index == index]
        assert len(mine) >= 1
        assert bool(((mine - (box[:2] + box[2:]) / 2).abs() < 2.5 * 32).all())
    assert not simota(rows, torch.zeros(0, 4), torch.zeros(0), grid, stride).fg.any()


def test_a_few_steps_lower_the_loss(base_graph):
    model = base_graph([[2, 5, 7]])
    grid, stride = cell_grid(INPUT_WH)
    x = torch.full((2, 3, *INPUT_WH), 114.0)
    x[0, :, 40:60, 30:70] = 20.0  # a dark car-sized block
    targets = [torch.tensor([[0.0, 30.0, 40.0, 70.0, 60.0]]), torch.zeros(0, 5)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    losses = []
    for _ in range(8):
        loss, parts = yolox_loss(model(x), targets, grid, stride)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert parts["fg"] >= 1
    assert min(losses[-3:]) < 0.7 * losses[0], losses


@pytest.mark.parametrize(
    ("box", "kept", "clipped"),
    [
        ((10, 10, 30, 30), True, (10, 10, 30, 30)),  # inside
        ((90, 10, 110, 30), True, (90, 10, 100, 30)),  # half out on the right: kept, cut
        ((85, 10, 105, 30), True, (85, 10, 100, 30)),  # 75 % inside
        ((95, 10, 115, 30), False, None),  # 25 % inside: left out
        ((-12, -12, 8, 8), False, None),  # a corner: 16 % inside
        ((-4, 40, 16, 60), True, (0, 40, 16, 60)),  # 80 % inside on the left
        ((40, 95, 60, 105), True, (40, 95, 60, 100)),  # exactly half at the bottom
        ((120, 120, 140, 140), False, None),  # outside
        ((50, 50, 50, 60), False, None),  # no area
    ],
)
def test_tile_edge_clipping(box, kept, clipped):
    region = np.array([0.0, 0.0, 100.0, 100.0])
    boxes, keep = clip_boxes(np.array([box], np.float64), region)
    assert (len(keep) == 1) is kept
    if kept:
        assert boxes[0].tolist() == list(clipped)


def test_clipping_is_relative_to_the_tile():
    boxes, keep = clip_boxes(
        np.array([[210.0, 110.0, 230.0, 130.0]]), np.array([200.0, 100, 300, 200])
    )
    assert keep.tolist() == [0] and boxes[0].tolist() == [10, 10, 30, 30]


def labelled(name: str, classes: list[int]) -> LabelledImage:
    boxes = np.tile([0.0, 0.0, 10.0, 10.0], (len(classes), 1))
    return LabelledImage(None, name, (100, 100), boxes, np.array(classes, np.int64))


def test_classes_of_few_boxes_are_merged_and_empty_ones_dropped():
    images = [labelled("a.jpg", [0] * 30 + [1] * 2 + [2] * 12)]
    names = {0: "car", 1: "truck", 2: "bus", 3: "cyclist"}
    plan = plan_classes(images, names, ("person", "bicycle", "car", "motorcycle", "bus"))
    assert plan.names == ("car", "bus")
    assert plan.of_label == {0: 0, 1: 0, 2: 1}
    assert plan.sources == [[2], [4]]  # each starts from the base class of its name
    assert any("truck: 2 boxes" in n and "merged into car" in n for n in plan.notes)
    assert any(n.startswith("cyclist: no boxes") for n in plan.notes)
    merged = plan_classes(images, names, ("car", "bus", "truck"), "vehicle=car+truck+bus")
    assert merged.names == ("vehicle",) and merged.sources == [[0, 1, 2]]


def test_scenes_stay_on_one_side_of_the_split():
    folder = shared_path("data", "aerial-cars-sample", "images")
    images = [labelled(p.name, [0]) for p in sorted(folder.iterdir())]
    train, val = split_by_scene(images, 0.2)
    assert 4 <= len(val) <= 12 and len(train) + len(val) == len(images)
    scenes = {scene_of(im.name) for im in val}
    assert not scenes & {scene_of(im.name) for im in train}
    assert scene_of("DJI_0005-0019.jpg") == "DJI_0005" and scene_of("MOS155.png") == "MOS"
    assert scene_of("MunichStreet02-MOS74.png") == "MunichStreet02-MOS"
    assert split_by_scene(images, 0)[1] == []


def test_export_computes_what_the_torch_model_does(base_graph, tmp_path):
    import onnx

    from app.detector import load_model
    from app.training.export import check_export, metadata, to_onnx

    model = base_graph([[2], [7]])
    with torch.no_grad():
        for param in model.params.values():
            param.add_(torch.randn_like(param) * 1e-3)  # weights unlike the base's
    base = onnx.load(str(shared_path("models", "yolox_nano.onnx")))
    data = to_onnx(base, model, metadata(("car", "truck"), (416, 416), {"base": "test"}))
    samples = torch.rand(3, 3, 416, 416) * 255
    assert check_export(data, model, samples) < 2e-3  # three tiles in one batch
    (tmp_path / "m.onnx").write_bytes(data)
    info = load_model(tmp_path / "m.onnx").info
    assert info.dynamic_batch and info.class_names == ("car", "truck")
    assert info.layout.name == "yolox" and info.output_shape == (1, 3549, 7)


def refuse(constant: str):
    raise ValueError(f"{constant} is not JSON")


@pytest.mark.parametrize(
    ("record", "written"),
    [
        ({"val_ap50": None}, {"val_ap50": None}),  # an unscored epoch as train writes it now
        ({"history": [{"val_ap50": float("nan")}]}, {"history": [{"val_ap50": None}]}),  # older
        ({"x": [1.5, float("inf"), -float("inf")]}, {"x": [1.5, None, None]}),
        ({"t": (0.25, {"k": float("nan")})}, {"t": [0.25, {"k": None}]}),
        ({"n": 3, "s": "NaN"}, {"n": 3, "s": "NaN"}),  # a string is a string
    ],
)
def test_the_training_record_is_strict_json(record, written):
    from app.training.export import metadata

    raw = metadata(("car",), (416, 416), record)["training"]
    assert json.loads(raw, parse_constant=refuse) == written  # JSON.parse and jq would read it


MIN = 60.0


@pytest.mark.parametrize(
    ("epochs_done", "elapsed_s", "reserve_s", "budget_s", "another"),
    [
        (0, 0.0, 0.0, 5 * MIN, True),  # a fresh run always starts
        (2, 18 * MIN, 1 * MIN, 85 * MIN, True),  # plenty left
        (9, 81.5 * MIN, 1 * MIN, 85 * MIN, True),  # 2.5 min left of 9-min epochs: a short one
        (8, 84.9 * MIN, 0.0, 85 * MIN, False),  # 6 s left (a budget-ended run, --resume)
        (8, 83.9 * MIN, 1.05 * MIN, 85 * MIN, False),  # the scoring reserve eats what is left
        (3, 5 * MIN, 0.0, 5 * MIN, False),  # the budget is spent
        (40, 10 * MIN, 0.0, 90 * MIN, True),  # --epochs is checked by the caller, not here
    ],
)
def test_an_epoch_starts_only_with_time_for_it(
    epochs_done, elapsed_s, reserve_s, budget_s, another
):
    from app.training.loop import State, time_for_another_epoch

    state = State(epoch=epochs_done, elapsed_s=elapsed_s, reserve_s=reserve_s)
    assert time_for_another_epoch(state, budget_s) is another


@pytest.fixture
def base_graph():
    import onnx

    from app.training.graph import YoloxGraph

    proto = onnx.load(str(shared_path("models", "yolox_nano.onnx")))
    return lambda sources: YoloxGraph(proto, sources)


def test_distillation_pulls_the_student_to_the_teacher():
    from app.training.loss import distill_loss

    teacher = torch.zeros(1, 4, 85)
    teacher[0, :, 4] = torch.tensor([0.9, 0.9, 0.01, 0.01])  # objects at the first two cells
    teacher[0, :2, 5 + 2] = 0.8  # a car there (base class 2)
    teacher[0, :2, :4] = torch.tensor([0.5, 0.5, 1.0, 1.0])
    logit = torch.logit(teacher[..., 4:].clamp(1e-4, 1 - 1e-4))
    copied = torch.cat([teacher[..., :4], logit[..., :1], logit[..., 3:4]], -1)  # class 0 <- car
    unlike = torch.zeros(1, 4, 6, requires_grad=True)
    assert distill_loss(copied, teacher, [[2]]) < distill_loss(unlike.detach(), teacher, [[2]])
    distill_loss(unlike, teacher, [[2]]).backward()
    assert unlike.grad[0, 0, 4] < 0 and unlike.grad[0, 3, 4] > 0  # obj up where it sees one
    assert unlike.grad[0, 0, 5] < 0  # the class that starts from car follows car
    assert unlike.grad[0, 0, :4].abs().sum() > 0 and unlike.grad[0, 3, :4].abs().sum() == 0
