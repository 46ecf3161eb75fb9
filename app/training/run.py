"""One `train` run: the base model imported, the data and its split prepared, epochs trained
and scored, and the best epoch's EMA weights written as an ONNX model the server loads."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from ..detector import load_model
from ..detector.cpus import usable_cpus
from ..detector.model import RECOMMENDED_SETTINGS_KEY
from ..detector.slicing import SlicingOptions
from ..tuning.labels import LabelledImage
from ..tuning.model_metadata import with_metadata
from .classes import ClassPlan
from .data import class_balance, has_boxes, make_source, render, source_views
from .export import check_export, metadata, to_onnx
from .feed import Feeder
from .graph import LayoutError, YoloxGraph
from .loop import (
    Plan,
    ResumeError,
    State,
    load_checkpoint,
    optimizer_for,
    save_checkpoint,
    time_for_another_epoch,
    train_epoch,
)
from .pixels import build_store, store_key
from .progress import epoch_line
from .schedule import Schedule
from .settings import balances, choose_settings, geometry_env
from .validate import Score, score_model

BATCH = 16
CHECK_SAMPLES = 4  # tiles the export is checked on against torch


@dataclass
class Job:
    """A prepared run: the base graph, the classes, the images on each side of the split."""

    base_path: Path
    base: onnx.ModelProto
    base_names: tuple[str, ...]  # the base model's classes
    input_wh: tuple[int, int]
    classes: ClassPlan
    train: list[LabelledImage]
    val: list[LabelledImage]
    distill: list[Path]  # images without labels, learnt from the frozen base model
    out: Path
    epochs: int
    budget_s: float
    command: str
    resume: bool
    slicing: SlicingOptions = field(default_factory=SlicingOptions)  # geometry trained
    workers: int = 0  # processes cutting samples (0: a thread of this process)
    balance: bool = True  # repeat views of rare classes (repeat_factors)
    pixels_dir: Path | None = None  # where decoded images are kept (default: beside out)
    borrowed: tuple[dict, dict] | None = None  # --settings-from: (settings, record entries)
    schedule: Schedule = field(default_factory=Schedule)  # --lr, --freeze-*, --weigh-*, --paste


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


def build_plan(job: Job, input_wh, device, base_classes: int, digest: str, say) -> Plan:
    folder = job.pixels_dir or job.out.with_name(job.out.name + ".pixels")
    key = store_key(digest, job.distill)
    store = build_store([im.path for im in job.train] + job.distill, folder, key, say)
    sources = []
    for index, image in enumerate(job.train):
        boxes, classes = job.classes.relabel(image)
        sources.append(make_source(store, index, boxes, classes, image.name, input_wh, job.slicing))
    views = [v for i, s in enumerate(sources) for v in source_views(i, s, input_wh, job.slicing)]
    positive = [has_boxes(v, sources[v.source]) for v in views]
    plan = Plan(sources, views, positive, input_wh, job.epochs, job.budget_s, BATCH, device)
    plan.schedule = job.schedule
    repeat = balances(job.balance, job.classes.names)
    weigh = len(job.classes.names) if job.schedule.weigh_classes else 0
    plan.repeats, weights = class_balance(views, positive, sources, repeat, weigh)
    if weights is not None:
        plan.class_weights = torch.from_numpy(weights).float().to(device)
    for offset, path in enumerate(job.distill):
        index = len(job.train) + offset
        sources.append(make_source(store, index, [], [], path.name, input_wh, job.slicing))
        plan.distill_views += source_views(len(sources) - 1, sources[-1], input_wh, job.slicing)
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
    truths: list[tuple[np.ndarray, np.ndarray]]
    record: dict


def _start(job: Job, say) -> _Run:
    """The model and data of a fresh run, or of the checkpointed one with --resume."""
    device = setup_torch()
    model = YoloxGraph(job.base, job.classes.sources).to(device)
    model = model.to(memory_format=torch.channels_last)
    digest = data_digest(job.train + job.val)
    plan = build_plan(job, job.input_wh, device, len(job.base_names), digest, say)
    checkpoint = job.out.with_name(job.out.name + ".ckpt")
    optimizer = optimizer_for(model, job.schedule)
    state = State(digest=digest, schedule=job.schedule.record())
    if job.resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, model, device)
        if state.digest != digest:
            raise ResumeError(f"{checkpoint}: made from other images or labels; drop --resume")
        if differs := job.schedule.mismatch(state.schedule):
            raise ResumeError(f"{checkpoint}: {differs}, or drop --resume")
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
        "trained_on": [im.name for im in job.train],
        "geometry": geometry_env(job.slicing),
        "class_balance": bool(plan.repeats),
    } | job.schedule.record()
    if plan.class_weights is not None:
        weights = zip(job.classes.names, plan.class_weights.tolist(), strict=True)
        record["class_weights"] = {name: round(w, 3) for name, w in weights}
    truths = [job.classes.relabel(image) for image in job.val]
    return _Run(job, model, plan, state, optimizer, checkpoint, truths, record)


def run_training(job: Job, progress, say) -> dict:
    """Train, keep the best epoch's EMA weights, write job.out; returns the training record.

    progress(epochs, epochs_done, budget_left_s) makes the bar (progress.Progress)."""
    run = _start(job, say)
    state = run.state
    rng = np.random.default_rng(state.epoch)
    plan, paste = run.plan, job.schedule.paste  # pasted from job.train, never --distill's
    feeder = Feeder(plan.sources, plan.input_wh, job.workers, paste=paste, labelled=len(job.train))
    try:
        bar = progress(job.epochs, state.epoch, job.budget_s - state.elapsed_s)
        while state.epoch < job.epochs and time_for_another_epoch(state, job.budget_s):
            deadline_s = job.budget_s - state.reserve_s
            loss, wait = train_epoch(
                run.model, run.optimizer, run.plan, state, rng, deadline_s, bar.step, feeder
            )
            started = time.perf_counter()
            score = _score(run, state.ema) if job.val else None
            state.reserve_s = time.perf_counter() - started + 5.0
            state.elapsed_s += state.reserve_s - 5.0
            _end_epoch(run, loss, score, wait)
            say(epoch_line(state.history[-1]))
            bar.epoch_done(state.epoch, loss, score.mean_ap50 if score else float("nan"))
        bar.close()
    finally:
        feeder.close()
    return _write(job, run.model, state, run.plan, run.record, say)


def _end_epoch(run: _Run, loss: float, score: Score | None, wait: float) -> None:
    """Record the epoch, keep its EMA weights if they are the best so far, checkpoint."""
    state = run.state
    state.epoch += 1
    ap = score.mean_ap50 if score else float("nan")
    state.history.append(
        {
            "epoch": state.epoch,
            "loss": round(loss, 4),
            "val_ap50": round(ap, 4) if score else None,
            "val_ap50_agnostic": round(score.ap50, 4) if score else None,
            "val_ap50_classes": (
                {k: round(v, 4) for k, v in score.per_class.items()} if score else None
            ),
            "data_wait": round(wait, 3),
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


def _score(run: _Run, weights: dict) -> Score:
    """AP50 of these weights through the server's pipeline, on the held-out images, with the
    geometry trained."""
    job = run.job
    scored = _with_weights(run.model, weights)
    meta = metadata(job.classes.names, run.plan.input_wh, run.record)
    data = to_onnx(job.base, scored, meta)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "epoch.onnx"
        path.write_bytes(data)
        return score_model(path, job.val, run.truths, job.classes.names, geometry_env(job.slicing))


def _write(job: Job, model, state: State, plan: Plan, record: dict, say) -> dict:
    """The best weights as ONNX, checked against torch, with the settings chosen on the
    held-out images in its metadata, written atomically to job.out; returns the record."""
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
    recommended = geometry_env(job.slicing)
    if job.borrowed:
        recommended, chosen = job.borrowed
        record |= chosen
        say(
            f"settings: {recommended}, chosen on {job.borrowed[1]['settings_from']['model']}'s "
            "held-out images (--settings-from)"
        )
    elif job.val:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "best.onnx"
            path.write_bytes(data)
            truths = [job.classes.relabel(im) for im in job.val]
            recommended, record["settings_choice"] = choose_settings(
                path, job.val, truths, job.classes.names, job.slicing, say
            )
    entries = metadata(job.classes.names, plan.input_wh, record)
    entries[RECOMMENDED_SETTINGS_KEY] = json.dumps(recommended)
    scratch = job.out.with_name(job.out.name + ".tmp")
    scratch.write_bytes(with_metadata(data, entries))
    os.replace(scratch, job.out)
    return record
