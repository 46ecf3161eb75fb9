"""How a run's weights learn (--lr, --freeze-backbone, --freeze-neck, --weigh-classes,
--paste): the learning-rate curve, a frozen backbone (and neck) that takes no gradient and keeps
the base model's weights, the class loss weighed by rarity, and the record check that --resume
and --settings-from make (the pasting itself: test_train_paste.py)."""

from __future__ import annotations

import math

import pytest

from app.training.schedule import LEARNING_RATE, Schedule
from tests.conftest import shared_path

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh --train)")

from app.training.loop import WARMUP_STEPS, learning_rate, optimizer_for  # noqa: E402
from app.training.loss import cell_grid, yolox_loss  # noqa: E402

INPUT_WH = (128, 128)

MISMATCHES = [
    # (this run, the record it is checked against, a piece of the refusal or None)
    (Schedule(), {"learning_rate": 5e-4, "backbone": "trained"}, None),
    (Schedule(), {}, None),  # a record older than both fields: the defaults
    (Schedule(peak_lr=1e-3), {}, "trained with learning rate 0.0005; this run has 0.001"),
    (Schedule(), {"learning_rate": 1e-3}, "learning rate 0.001; this run has 0.0005 (give the"),
    (Schedule(peak_lr=1e-3), {"learning_rate": 1e-3, "backbone": "trained"}, None),
    (Schedule(freeze_backbone=True), {"learning_rate": 5e-4},
     "trained with the backbone trained; this run's is frozen (give --freeze-backbone to both"),
    (Schedule(), {"backbone": "frozen"}, "the backbone frozen; this run's is trained"),
    (Schedule(freeze_backbone=True), {"backbone": "frozen"}, None),
    (Schedule(weigh_classes=True), {"backbone": "trained"},
     "trained with the class loss plain; this run's is weighted (give --weigh-classes to both"),
    (Schedule(), {"class_loss": "weighted"}, "the class loss weighted; this run's is plain"),
    (Schedule(weigh_classes=True), {"class_loss": "weighted"}, None),
    (Schedule(freeze_neck=True), {"backbone": "frozen"},
     "trained with the neck trained; this run's is frozen (give --freeze-neck to both"),
    (Schedule(freeze_backbone=True), {"backbone": "frozen", "neck": "frozen"},
     "the neck frozen; this run's is trained"),
    (Schedule(freeze_neck=True), {"backbone": "trained", "neck": "frozen"},
     "the backbone trained; this run's is frozen"),  # --freeze-neck freezes the backbone too
    (Schedule(freeze_neck=True), {"backbone": "frozen", "neck": "frozen"}, None),
    (Schedule(paste=3), {},
     "trained with no pasted objects; this run has up to 3 pasted objects a sample (give the "
     "same --paste)"),
    (Schedule(), {"paste": 2}, "trained with up to 2 pasted objects a sample; this run has no"),
    (Schedule(paste=2), {"paste": 3}, "up to 3 pasted objects a sample; this run has up to 2"),
    (Schedule(paste=2), {"paste": 2}, None),
]  # fmt: skip


@pytest.mark.parametrize(("schedule", "record", "refusal"), MISMATCHES)
def test_a_record_of_another_schedule_is_named_in_the_flags_words(schedule, record, refusal):
    said = schedule.mismatch(record)
    if refusal is None:
        assert said is None
    else:
        assert refusal in said


@pytest.mark.parametrize(
    ("schedule", "record"),
    [
        (Schedule(), {"learning_rate": LEARNING_RATE, "backbone": "trained", "neck": "trained",
                      "class_loss": "plain", "paste": 0}),
        (Schedule(peak_lr=2e-3, freeze_backbone=True, weigh_classes=True, paste=3),
         {"learning_rate": 2e-3, "backbone": "frozen", "neck": "trained",
          "class_loss": "weighted", "paste": 3}),
        (Schedule(freeze_neck=True), {"learning_rate": LEARNING_RATE, "backbone": "frozen",
                                      "neck": "frozen", "class_loss": "plain", "paste": 0}),
    ],
)  # fmt: skip
def test_the_record_says_the_schedule(schedule, record):
    assert schedule.record() == record


@pytest.mark.parametrize(
    ("step", "progress", "share_of_peak"),
    [
        (0, 0.0, 1 / WARMUP_STEPS),  # the warm-up's first step
        (WARMUP_STEPS - 1, 0.0, 1.0),  # warmed up: the peak
        (1000, 0.5, 0.05 + 0.95 * 0.5),  # half way down the cosine
        (1000, 1.0, 0.05),  # the end: the floor, a twentieth of the peak
        (1000, 2.0, 0.05),  # past the end (a budget overrun) stays there
    ],
)
@pytest.mark.parametrize("peak", [LEARNING_RATE, 1e-3])
def test_the_learning_rate_scales_with_the_peak(step, progress, share_of_peak, peak):
    assert math.isclose(learning_rate(step, progress, peak), peak * share_of_peak, rel_tol=1e-9)


@pytest.fixture
def nano():
    import onnx

    from app.training.graph import YoloxGraph

    proto = onnx.load(str(shared_path("models", "yolox_nano.onnx")))
    return YoloxGraph(proto, [[2, 5, 7]])


def steps(model, optimizer, count: int = 3) -> None:
    grid, stride = cell_grid(INPUT_WH)
    x = torch.full((2, 3, *INPUT_WH), 114.0)
    x[0, :, 40:60, 30:70] = 20.0  # a dark car-sized block
    targets = [torch.tensor([[0.0, 30.0, 40.0, 70.0, 60.0]]), torch.zeros(0, 5)]
    for _ in range(count):
        loss, _ = yolox_loss(model(x), targets, grid, stride)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_backbone_takes_no_gradient_and_keeps_its_weights(nano, frozen):
    before = {k: p.detach().clone() for k, p in nano.params.items()}
    optimizer = optimizer_for(nano, Schedule(freeze_backbone=frozen))
    steps(nano, optimizer)
    backbone = sorted(nano.backbone_keys)
    rest = sorted(set(nano.params) - nano.backbone_keys)
    assert backbone and rest
    moved = {k: not torch.equal(before[k], nano.params[k]) for k in nano.params}
    assert any(moved[k] for k in rest)  # the neck and head learn either way
    if frozen:
        assert not any(moved[k] for k in backbone)
        assert all(nano.params[k].grad is None for k in backbone)
        assert len(optimizer.param_groups) == 1
    else:
        assert any(moved[k] for k in backbone)
        assert [g["share"] for g in optimizer.param_groups] == [0.2, 1.0]


@pytest.mark.parametrize(
    ("box_class", "weights", "times"),
    [
        (2, [1.0, 1.0, 3.0], 3.0),  # the box's class weighs 3: its class loss, three times
        (0, [1.0, 1.0, 3.0], 1.0),  # another class's weight changes nothing
        (1, [1.0, 0.5, 1.0], 0.5),
        (1, [1.0, 1.0, 1.0], 1.0),  # all ones: the plain loss
    ],
)
def test_a_weighed_class_loss_scales_only_its_own_boxes(box_class, weights, times):
    """--weigh-classes: a matched cell's class loss times its box's class weight; the box and
    objectness parts, and so the assignment, stay as they were."""
    torch.manual_seed(0)
    grid, stride = cell_grid(INPUT_WH)
    rows = torch.randn(2, grid.shape[0], 5 + 3)
    targets = [torch.tensor([[box_class, 20.0, 24.0, 50.0, 44.0]]), torch.zeros(0, 5)]
    _, plain = yolox_loss(rows, targets, grid, stride)
    _, weighed = yolox_loss(rows, targets, grid, stride, torch.tensor(weights))
    assert math.isclose(weighed["cls"], plain["cls"] * times, rel_tol=1e-5)
    assert (weighed["box"], weighed["obj"], weighed["fg"]) == (
        plain["box"], plain["obj"], plain["fg"],
    )  # fmt: skip


def test_the_head_is_each_levels_stem_and_what_follows_it(nano):
    """YOLOX-Nano's head, per level: a 1x1 stem, two depthwise-separable convs (two convs
    each) for the classes and two for the box, then the class, box and objectness convs: 12
    convs, a weight and a bias each, on each of 3 levels. None of it is backbone, and all of it
    runs after the neck's last upsampling."""
    assert len(nano.head_keys) == 3 * 12 * 2
    assert not nano.head_keys & nano.backbone_keys
    assert {nano.key[level.cls_weight] for level in nano.head} <= nano.head_keys
    used_at = {n: i for i, node in enumerate(nano.nodes) for n in node.input if n in nano.key}
    order = {nano.key[n]: i for n, i in used_at.items()}
    last_resize = max(i for i, node in enumerate(nano.nodes) if node.op_type == "Resize")
    assert min(order[k] for k in nano.head_keys) > last_resize


def test_a_frozen_neck_leaves_only_the_head_learning(nano):
    before = {k: p.detach().clone() for k, p in nano.params.items()}
    optimizer = optimizer_for(nano, Schedule(freeze_neck=True))
    steps(nano, optimizer)
    moved = {k for k in nano.params if not torch.equal(before[k], nano.params[k])}
    assert moved and moved <= nano.head_keys
    assert all(nano.params[k].grad is None for k in set(nano.params) - nano.head_keys)
    assert len(optimizer.param_groups) == 1
