"""One `train` run: the base model imported, the data and its split prepared, epochs trained
and scored, and the best epoch's EMA weights written as an ONNX model the server loads."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from ..detector import load_model
from ..detector.cpus import usable_cpus
from ..tuning.labels import LabelledImage
from .classes import ClassPlan
from .data import has_boxes, load_source, render, source_views
from .export import check_export, metadata, to_onnx
from .graph import LayoutError, YoloxGraph
from .loop import Plan, State, load_checkpoint, optimizer_for, save_checkpoint, train_epoch
from .validate import sliced_ap50

BATCH = 16
CHECK_SAMPLES = 4  # tiles the export is checked on against torch


@dataclass
class Job:
    """A prepared run: the base graph, the classes, the images on each side of the split."""

    base_path: Path
    base: onnx.ModelProto
    classes: ClassPlan
    train: list[LabelledImage]
    val: list[LabelledImage]
    distill: list[Path]  # images without labels, learnt from the frozen base model
    out: Path
    epochs: int
    budget_s: float
    command: str
    resume: bool


def setup_torch() -> torch.device:
    """Denormals flushed (the backward pass runs 2-15x slower on them), one thread per CPU."""
    torch.set_flush_denormal(True)
    torch.set_num_threads(usable_cpus())
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def import_base(path: Path) -> tuple[onnx.ModelProto, tuple[str, ...], tuple[int, int]]:
    """The base graph, its class names and input size; LayoutError for a layout train lacks."""
    model = load_model(path)
    if model.info.layout.name != "yolox":
        raise LayoutError(
            f"{path.name} has the {model.info.layout.name} layout; train takes YOLOX-layout "
            "ONNX models (output [1, N, 5+C] over strides 8/16/32)"
        )
    return onnx.load(str(path)), model.info.class_names, model.info.input_wh


def data_digest(images: list[LabelledImage]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(image.name.encode())
        digest.update(hashlib.sha256(image.path.read_bytes()).digest())
        digest.update(np.ascontiguousarray(image.truth_xyxy, np.float64).tobytes())
    return digest.hexdigest()[:16]


def build_plan(job: Job, input_wh, device, base_classes: int) -> Plan:
    sources = []
    for image in job.train:
        boxes, classes = job.classes.relabel(image)
        sources.append(load_source(image.path, boxes, classes, image.name, input_wh))
    views = [v for i, s in enumerate(sources) for v in source_views(i, s, input_wh)]
    positive = [has_boxes(v, sources[v.source]) for v in views]
    plan = Plan(sources, views, positive, input_wh, job.epochs, job.budget_s, BATCH, device)
    for path in job.distill:
        sources.append(load_source(path, [], [], path.name, input_wh))
        plan.distill_views += source_views(len(sources) - 1, sources[-1], input_wh)
    if job.distill:
        teacher = YoloxGraph(job.base, [[i] for i in range(base_classes)]).to(device).eval()
        plan.teacher = teacher.to(memory_format=torch.channels_last).requires_grad_(False)
        plan.class_sources = job.classes.sources
    return plan


@dataclass
class _Run:
    """A run in progress: the model, its data, where it is, and what its record says."""

    job: Job
    model: YoloxGraph
    plan: Plan
    state: State
    optimizer: torch.optim.Optimizer
    checkpoint: Path
    truths: list[np.ndarray]
    record: dict


def _start(job: Job, say) -> _Run:
    """The model and data of a fresh run, or of the checkpointed one with --resume."""
    device = setup_torch()
    _, base_names, input_wh = import_base(job.base_path)
    model = YoloxGraph(job.base, job.classes.sources).to(device)
    model = model.to(memory_format=torch.channels_last)
    plan = build_plan(job, input_wh, device, len(base_names))
    digest = data_digest(job.train + job.val)
    checkpoint = job.out.with_name(job.out.name + ".ckpt")
    optimizer = optimizer_for(model)
    state = State(digest=digest)
    if job.resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, model, device)
        if state.digest != digest:
            raise ValueError(f"{checkpoint}: made from other images or labels; drop --resume")
        optimizer.load_state_dict(state.optimizer)
        say(f"resuming after epoch {state.epoch} ({state.elapsed_s / 60:.1f} min trained)")
    else:
        state.ema = {k: p.detach().clone() for k, p in model.params.items()}
    record = {
        "base": job.base_path.name,
        "data_digest": digest,
        "command": job.command,
        "classes": list(job.classes.names),
        "train_images": len(job.train),
        "distill_images": len(job.distill),
        "val_images": [im.name for im in job.val],
    }
    truths = [job.classes.relabel(image)[0] for image in job.val]
    return _Run(job, model, plan, state, optimizer, checkpoint, truths, record)


def run_training(job: Job, progress, say) -> dict:
    """Train, keep the best epoch's EMA weights, write job.out; returns the training record.

    progress(epochs, epochs_done, budget_left_s) makes the bar (progress.Progress)."""
    run = _start(job, say)
    state = run.state
    rng = np.random.default_rng(state.epoch)
    bar = progress(job.epochs, state.epoch, job.budget_s - state.elapsed_s)
    reserve_s = 0.0  # kept for scoring the last epoch: the last scoring's time
    while state.epoch < job.epochs and state.elapsed_s < job.budget_s - reserve_s:
        deadline_s = job.budget_s - reserve_s
        loss = train_epoch(run.model, run.optimizer, run.plan, state, rng, deadline_s, bar.step)
        started = time.perf_counter()
        ap = _score(run, state.ema) if job.val else float("nan")
        reserve_s = time.perf_counter() - started + 5.0
        state.elapsed_s += reserve_s - 5.0
        _end_epoch(run, loss, ap)
        bar.epoch_done(state.epoch, loss, ap)
    bar.close()
    return _write(job, run.model, state, run.plan, run.record)


def _end_epoch(run: _Run, loss: float, ap: float) -> None:
    """Record the epoch, keep its EMA weights if they are the best so far, checkpoint."""
    state = run.state
    state.epoch += 1
    state.history.append(
        {
            "epoch": state.epoch,
            "loss": round(loss, 4),
            "val_ap50": round(ap, 4),
            "minutes": round(state.elapsed_s / 60, 2),
        }
    )
    if not run.job.val or ap > state.best_ap:
        state.best_ap, state.best_epoch = ap, state.epoch
        state.best = {k: v.clone() for k, v in state.ema.items()}
    state.optimizer = run.optimizer.state_dict()
    save_checkpoint(run.checkpoint, run.model, state)


def _with_weights(model: YoloxGraph, weights: dict) -> YoloxGraph:
    clone = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for key, value in weights.items():
            clone.params[key].copy_(value)
    return clone.eval()


def _score(run: _Run, weights: dict) -> float:
    """AP50 of these weights through the server's pipeline, on the held-out images."""
    job = run.job
    scored = _with_weights(run.model, weights)
    meta = metadata(job.classes.names, run.plan.input_wh, run.record)
    data = to_onnx(job.base, scored, meta)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "epoch.onnx"
        path.write_bytes(data)
        return sliced_ap50(path, job.val, run.truths)


def _write(job: Job, model, state: State, plan: Plan, record: dict) -> dict:
    best = _with_weights(model, state.best or state.ema)
    record |= {
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "val_ap50": None if not job.val else round(state.best_ap, 4),
        "history": state.history,
        "minutes": round(state.elapsed_s / 60, 2),
    }
    data = to_onnx(job.base, best, metadata(job.classes.names, plan.input_wh, record))
    rng = np.random.default_rng(0)
    picks = [plan.views[i] for i in rng.permutation(len(plan.views))[:CHECK_SAMPLES]]
    canvases = [render(v, plan.sources[v.source], plan.input_wh, None)[0] for v in picks]
    samples = torch.from_numpy(
        np.stack([c[..., ::-1] for c in canvases]).transpose(0, 3, 1, 2).copy()
    )
    record["export_max_abs_diff"] = check_export(data, best, samples.float())
    data = to_onnx(job.base, best, metadata(job.classes.names, plan.input_wh, record))
    scratch = job.out.with_name(job.out.name + ".tmp")
    scratch.write_bytes(data)
    os.replace(scratch, job.out)
    return json.loads(json.dumps(record))
