"""The training loop: AdamW with a slower (or frozen) backbone, warm-up and cosine by progress
(epochs or budget, whichever is nearer its end), an EMA of the weights scored every epoch, a
checkpoint every epoch that --resume continues from."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import epoch_views
from .feed import Feeder
from .loss import cell_grid, distill_loss, yolox_loss
from .schedule import LEARNING_RATE, Schedule

BACKBONE_LR_SHARE = 0.2  # the backbone learns 5x slower: it keeps what the base model knew
WEIGHT_DECAY = 5e-4
WARMUP_STEPS = 30
MIN_LR_SHARE = 0.05
MAX_GRAD_NORM = 10.0
EMA_DECAY = 0.995
EMA_RAMP_STEPS = 100
DISTILL_SHARE = 0.25  # of an epoch's samples, views of the --distill images
MIN_EPOCH_SHARE = 0.05  # an epoch starts only with this share of a mean epoch's time left


@dataclass
class State:
    """Everything a checkpoint holds: where the run is and what it has learnt so far."""

    epoch: int = 0
    step: int = 0
    elapsed_s: float = 0.0
    reserve_s: float = 0.0  # budget kept back for scoring an epoch: the last scoring's time
    best_ap: float = -1.0
    best_epoch: int = 0
    history: list = field(default_factory=list)  # per epoch: {epoch, loss, val_ap50, ...}
    schedule: dict = field(default_factory=dict)  # Schedule.record() of the run
    ema: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    digest: str = ""


class ResumeError(ValueError):
    """--resume with a checkpoint of another run: other data, or another schedule."""


def save_checkpoint(path: Path, model, state: State) -> None:
    scratch = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "state": state.__dict__}, scratch)
    scratch.replace(path)  # a run killed while saving keeps the previous checkpoint


def load_checkpoint(path: Path, model, device: torch.device) -> State:
    saved = torch.load(path, weights_only=False, map_location=device)
    model.load_state_dict(saved["model"])
    known = {f.name for f in dataclasses.fields(State)}
    return State(**{k: v for k, v in saved["state"].items() if k in known})


def time_for_another_epoch(state: State, budget_s: float) -> bool:
    """Whether the budget leaves room for another epoch: more than MIN_EPOCH_SHARE of a mean
    epoch's time after the reserve for scoring it. A resumed run that its budget ended
    starts no epoch of a few seconds."""
    left_s = budget_s - state.elapsed_s - state.reserve_s
    mean_epoch_s = state.elapsed_s / state.epoch if state.epoch else 0.0
    return left_s > MIN_EPOCH_SHARE * mean_epoch_s


def optimizer_for(model, schedule: Schedule) -> torch.optim.Optimizer:
    """AdamW over the trained parameters; a frozen backbone's (and neck's) take no gradient."""
    if schedule.freeze_neck:
        frozen = set(model.params) - model.head_keys
    else:
        frozen = model.backbone_keys if schedule.backbone_frozen else set()
    backbone = [p for k, p in model.params.items() if k in model.backbone_keys]
    rest = [p for k, p in model.params.items() if k not in model.backbone_keys | frozen]
    groups = [{"params": rest, "share": 1.0}]
    for key in frozen:
        model.params[key].requires_grad_(False)
    if not schedule.backbone_frozen:
        groups.insert(0, {"params": backbone, "share": BACKBONE_LR_SHARE})
    return torch.optim.AdamW(groups, lr=schedule.peak_lr, weight_decay=WEIGHT_DECAY)


def learning_rate(step: int, progress: float, peak_lr: float = LEARNING_RATE) -> float:
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    cosine = MIN_LR_SHARE + (1 - MIN_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * min(progress, 1)))
    return peak_lr * warm * cosine


def update_ema(ema: dict, model, step: int) -> None:
    decay = EMA_DECAY * (1 - math.exp(-step / EMA_RAMP_STEPS))
    with torch.no_grad():
        for key, param in model.params.items():
            ema[key].mul_(decay).add_(param.detach(), alpha=1 - decay)


@dataclass
class Plan:
    """What one run trains on and for how long."""

    sources: list
    views: list
    positive: list
    input_wh: tuple[int, int]
    epochs: int
    budget_s: float
    batch: int
    device: torch.device
    distill_views: list = field(default_factory=list)  # views of images without labels
    teacher: torch.nn.Module | None = None  # the base model, frozen, for those views
    class_sources: list = field(default_factory=list)  # ClassPlan.sources
    repeats: list | None = None  # per positive view, its mean repeats per epoch (class balance)
    class_weights: torch.Tensor | None = None  # (C,) class loss weights (--weigh-classes)
    schedule: Schedule = field(default_factory=Schedule)


def epoch_order(plan: Plan, rng: np.random.Generator) -> list:
    """One epoch's views: the labelled ones (epoch_views), plus --distill views drawn to make
    DISTILL_SHARE of the epoch, shuffled together."""
    order = epoch_views(plan.views, plan.positive, rng, plan.repeats)
    if plan.distill_views and plan.teacher is not None:
        wanted = round(len(order) * DISTILL_SHARE / (1 - DISTILL_SHARE))
        drawn = rng.integers(0, len(plan.distill_views), wanted)
        order += [plan.distill_views[i] for i in drawn]
        order = [order[i] for i in rng.permutation(len(order))]
    return order


def batches(plan: Plan, rng: np.random.Generator, feeder: Feeder):
    """One epoch's batches: (B, 3, H, W) BGR 0-255 (channels-last), the (K, 5) targets and
    (B,) whether each sample is a --distill view, rendered ahead by the feeder."""
    order = epoch_order(plan, rng)
    distilled = {id(v) for v in plan.distill_views}
    seeds = rng.integers(0, 2**31, len(order))
    starts = list(range(0, len(order) - plan.batch + 1, plan.batch)) or [0]
    tasks = [
        (order[start : start + plan.batch], seeds[start : start + plan.batch].tolist())
        for start in starts
    ]
    for (images, targets), (views, _) in zip(feeder.run(tasks), tasks, strict=True):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # channels-last already
        mask = torch.tensor([id(v) in distilled for v in views], dtype=torch.bool)
        yield x, [torch.from_numpy(t).float() for t in targets], mask


def step_loss(model, plan: Plan, x, targets, distilled, cells) -> torch.Tensor:
    """YOLOX's loss on the labelled samples, plus distillation from the frozen base model on
    the --distill ones."""
    rows = model(x)
    labelled = [
        t.to(plan.device) for t, d in zip(targets, distilled.tolist(), strict=True) if not d
    ]
    loss = rows.sum() * 0
    if labelled:
        loss = loss + yolox_loss(rows[~distilled], labelled, *cells, plan.class_weights)[0]
    if bool(distilled.any()):
        with torch.no_grad():
            taught = plan.teacher(x[distilled], logits=False)
        loss = loss + distill_loss(rows[distilled], taught, plan.class_sources)
    return loss


def train_epoch(
    model, optimizer, plan: Plan, state: State, rng, deadline_s: float, tick, feeder: Feeder
) -> tuple[float, float]:
    """One epoch (or until deadline_s of run time); returns the mean loss and the share of the
    epoch's time spent waiting for data. tick(loss) after each step, for the progress bar."""
    grid, stride = cell_grid(plan.input_wh, plan.device)
    steps_per_epoch = max(1, len(epoch_order(plan, np.random.default_rng(0))) // plan.batch)
    total_steps = plan.epochs * steps_per_epoch
    losses = []
    started, before, waited = time.perf_counter(), state.elapsed_s, feeder.wait_s
    model.train()
    for x, targets, distilled in batches(plan, rng, feeder):
        progress = max(state.step / total_steps, state.elapsed_s / plan.budget_s)
        lr = learning_rate(state.step, progress, plan.schedule.peak_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["share"]
        x = x.to(plan.device).contiguous(memory_format=torch.channels_last)
        loss = step_loss(model, plan, x, targets, distilled.to(plan.device), (grid, stride))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        state.step += 1
        update_ema(state.ema, model, state.step)
        losses.append(loss.item())
        state.elapsed_s = before + time.perf_counter() - started
        tick(float(np.mean(losses[-20:])))
        if state.elapsed_s >= deadline_s:
            break
    wait_share = (feeder.wait_s - waited) / max(time.perf_counter() - started, 1e-9)
    return (float(np.mean(losses)) if losses else float("nan")), wait_share
