"""YOLOX's training loss: SimOTA assignment (centre prior + dynamic k), a GIoU loss on boxes and
binary cross-entropy on objectness and classes, on the raw head rows (logits)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional

CENTER_RADIUS = 2.5  # strides around a box centre whose cells may match it (YOLOX)
TOPK_IOUS = 10  # dynamic k: the sum of a box's 10 best IoUs, rounded down
BOX_WEIGHT = 5.0  # YOLOX's weight of the box loss
IOU_COST = 3.0
OUTSIDE_COST = 1e5  # a cell outside both the box and its centre region is never picked first
DISTILL_BOX_SCORE = 0.3  # the teacher's boxes are learnt where its score reaches this


@dataclass(frozen=True)
class Assignment:
    """One image's matched cells: fg (N,) bool, and per fg cell its box index and the IoU of
    its predicted box with that box."""

    fg: torch.Tensor
    box_index: torch.Tensor
    iou: torch.Tensor


def cell_grid(input_wh: tuple[int, int], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 2) cell origins and (N, 1) strides, in the ONNX output's row order."""
    grids, strides = [], []
    for stride in (8, 16, 32):
        rows, cols = input_wh[1] // stride, input_wh[0] // stride
        ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        grids.append(torch.stack([xs.flatten(), ys.flatten()], 1))
        strides.append(torch.full((rows * cols, 1), stride))
    return torch.cat(grids).float().to(device), torch.cat(strides).float().to(device)


def decode(rows: torch.Tensor, grid: torch.Tensor, stride: torch.Tensor) -> torch.Tensor:
    """(..., N, 4+) head rows -> (..., N, 4) xyxy input px."""
    centre = (rows[..., :2] + grid) * stride
    half = torch.exp(rows[..., 2:4].clamp(max=10.0)) * stride / 2
    return torch.cat([centre - half, centre + half], -1)


def box_iou(a: torch.Tensor, b: torch.Tensor, *, giou: bool = False) -> torch.Tensor:
    """Elementwise IoU (or GIoU) of xyxy boxes a and b, broadcast."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter + 1e-9
    iou = inter / union
    if not giou:
        return iou
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).prod(-1)
    return iou - (hull - union) / (hull + 1e-9)


@torch.no_grad()
def simota(
    rows: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor, grid, stride
) -> Assignment:
    """Assign one image's (N, 5+C) rows to its (G, 4) xyxy boxes of (G,) classes."""
    n, device = rows.shape[0], rows.device
    none = Assignment(
        torch.zeros(n, dtype=torch.bool, device=device),
        torch.zeros(0, dtype=torch.long, device=device),
        None,
    )
    if len(boxes) == 0:
        return none
    centre = (grid + 0.5) * stride  # (N, 2)
    inside = ((centre[None] > boxes[:, None, :2]) & (centre[None] < boxes[:, None, 2:])).all(-1)
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    near = ((centre[None] - box_centre[:, None]).abs() < CENTER_RADIUS * stride[None]).all(-1)
    candidate = (inside | near).any(0)  # (N,)
    if not candidate.any():
        return none
    cand = rows[candidate]
    ious = box_iou(boxes[:, None], decode(cand, grid[candidate], stride[candidate])[None])
    num_classes = rows.shape[1] - 5
    scores = (cand[:, 5:].sigmoid() * cand[:, 4:5].sigmoid()).sqrt()  # (M, C)
    target = functional.one_hot(classes.long(), num_classes).float()  # (G, C)
    cls_cost = functional.binary_cross_entropy(
        scores[None].expand(len(boxes), -1, -1).clamp(1e-6, 1 - 1e-6),
        target[:, None].expand(-1, len(cand), -1),
        reduction="none",
    ).sum(-1)
    both = inside[:, candidate] & near[:, candidate]
    cost = cls_cost + IOU_COST * -torch.log(ious + 1e-8) + OUTSIDE_COST * (~both).float()
    matching = _dynamic_k(cost, ious, both.sum(1))
    fg_cand = matching.any(0)
    box_index = cost[:, fg_cand].argmin(0)
    fg = torch.zeros(n, dtype=torch.bool, device=device)
    fg[candidate.nonzero().squeeze(1)[fg_cand]] = True
    columns = torch.arange(len(box_index), device=device)
    return Assignment(fg, box_index, ious[:, fg_cand][box_index, columns])


def _dynamic_k(cost: torch.Tensor, ious: torch.Tensor, central: torch.Tensor) -> torch.Tensor:
    """(G, M) bool: each box takes its k cheapest cells, k = sum of its best IoUs (at least 1,
    at most its `central` cells, inside it and near its centre: a small box never takes far
    cells); a cell two boxes take goes to the cheaper one (argmin, done by the caller)."""
    top = ious.topk(min(TOPK_IOUS, ious.shape[1]), dim=1).values
    ks = torch.minimum(top.sum(1).int(), central.int()).clamp(min=1)
    matching = torch.zeros_like(cost, dtype=torch.bool)
    for g, k in enumerate(ks.tolist()):
        matching[g, cost[g].topk(min(k, cost.shape[1]), largest=False).indices] = True
    return matching


def yolox_loss(
    rows: torch.Tensor,
    targets: list[torch.Tensor],
    grid,
    stride,
    class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """(B, N, 5+C) logits and per image a (G, 5) tensor [class, x1, y1, x2, y2] input px ->
    the loss (a scalar) and its parts, each normalised by the number of matched cells. With
    (C,) class_weights, a matched cell's class loss is weighed by its box's class's weight."""
    boxes_pred = decode(rows, grid, stride)
    obj_target = torch.zeros_like(rows[..., 4])
    box_losses, cls_losses = [], []
    for b, target in enumerate(targets):
        found = simota(rows[b].detach(), target[:, 1:], target[:, 0], grid, stride)
        if not found.fg.any():
            continue
        obj_target[b, found.fg] = 1.0
        matched = target[found.box_index]
        giou = box_iou(boxes_pred[b, found.fg], matched[:, 1:], giou=True)
        box_losses.append(1.0 - giou)
        cls_target = functional.one_hot(matched[:, 0].long(), rows.shape[-1] - 5).float()
        cls_target = cls_target * found.iou[:, None].clamp(min=0)
        cls_loss = functional.binary_cross_entropy_with_logits(
            rows[b, found.fg, 5:], cls_target, reduction="none"
        ).sum(-1)
        if class_weights is not None:
            cls_loss = cls_loss * class_weights[matched[:, 0].long()]
        cls_losses.append(cls_loss)
    num_fg = max(1.0, float(obj_target.sum()))
    obj = (
        functional.binary_cross_entropy_with_logits(rows[..., 4], obj_target, reduction="sum")
        / num_fg
    )
    box = torch.cat(box_losses).sum() / num_fg if box_losses else rows.sum() * 0
    cls = torch.cat(cls_losses).sum() / num_fg if cls_losses else rows.sum() * 0
    total = BOX_WEIGHT * box + obj + cls
    return total, {"box": box.item(), "obj": obj.item(), "cls": cls.item(), "fg": num_fg}


def distill_loss(
    rows: torch.Tensor, teacher: torch.Tensor, sources: list[list[int]]
) -> torch.Tensor:
    """Dense distillation on images without labels: (B, N, 5+C) student logits against the
    base model's (B, N, 5+80) probabilities. Objectness follows the teacher's everywhere;
    class k follows the best of its base classes sources[k], weighted by the teacher's
    objectness; boxes follow the teacher's where it is confident. Classes without sources
    learn nothing here. Normalised by the teacher's total objectness."""
    obj_t = teacher[..., 4]
    obj = functional.binary_cross_entropy_with_logits(rows[..., 4], obj_t, reduction="sum")
    norm = max(1.0, float(obj_t.sum()))
    taught = [k for k, picked in enumerate(sources) if picked]
    if not taught:
        return obj / norm
    cls_t = torch.stack([teacher[..., [5 + i for i in sources[k]]].amax(-1) for k in taught], -1)
    cls = functional.binary_cross_entropy_with_logits(
        rows[..., [5 + k for k in taught]], cls_t, reduction="none"
    )
    cls = (cls * obj_t[..., None]).sum()
    confident = (obj_t * cls_t.amax(-1)) >= DISTILL_BOX_SCORE
    box = (rows[..., :4] - teacher[..., :4]).abs()[confident].sum()
    return (obj + cls + box) / norm
