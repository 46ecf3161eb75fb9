"""The ONNX session and what we know about it: layout, input size, class names."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .cpus import usable_cpus, whole_cpus
from .decode import LAYOUTS, Layout, grid_cells, num_classes_from_shape
from .errors import ModelError
from .labels import resolve_class_names

DEFAULT_INPUT_WH = (640, 640)
# The metadata key of a model's own recommended settings (`tune --into-model` writes it).
RECOMMENDED_SETTINGS_KEY = "recommended_settings"
MAX_END2END_ROWS = 1000
PROVIDERS = ["CPUExecutionProvider"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """Static facts about a loaded model, read once at start-up.

    recommended_settings: environment variable name -> value as text (what `tune` writes in
    its env file), from the metadata; app.config.settings_for_model checks and applies them.
    """

    name: str
    layout: Layout
    input_name: str
    input_wh: tuple[int, int]
    output_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    dynamic_batch: bool
    recommended_settings: Mapping[str, str] = field(default_factory=dict, hash=False)


def parse_imgsz(raw: str | None) -> tuple[int, int] | None:
    """Ultralytics metadata imgsz '[640, 640]' (height, width) -> (width, height)."""
    if not raw:
        return None
    try:
        values = [int(v) for v in raw.strip("[]() ").split(",") if v.strip()]
    except ValueError:
        return None
    if len(values) == 1:
        values = values * 2
    return (values[1], values[0]) if len(values) == 2 and min(values) > 0 else None


def read_recommended_settings(metadata: Mapping[str, str], model_name: str) -> dict[str, str]:
    """The metadata's recommended_settings: a JSON object of setting names and values (text;
    JSON numbers and booleans are taken as their text). {} when absent; ModelError when it is
    not such an object. Which names and values are valid is app/config.py's to say."""
    raw = metadata.get(RECOMMENDED_SETTINGS_KEY)
    if raw is None:
        return {}
    try:
        values = json.loads(raw)
    except ValueError:
        values = None
    if not isinstance(values, dict) or not all(
        isinstance(v, str | int | float) for v in values.values()
    ):
        raise ModelError(
            f"The model {model_name} has invalid {RECOMMENDED_SETTINGS_KEY} metadata: it must "
            'be a JSON object of setting names and values, e.g. {"SLICING_OVERLAP": "0.1"}.'
        )
    return {name: _setting_text(value) for name, value in values.items()}


def _setting_text(value: str | int | float) -> str:
    """true/false for JSON booleans (as the environment spells them), else the value's text."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def input_size(shape: list, metadata: dict[str, str]) -> tuple[int, int]:
    """(width, height) from a static NCHW graph input, else metadata imgsz, else 640x640."""
    if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
        return (shape[3], shape[2])
    return parse_imgsz(metadata.get("imgsz")) or DEFAULT_INPUT_WH


def detect_layout(
    output_shape: tuple[int, ...], input_wh: tuple[int, int], metadata: dict[str, str]
) -> str:
    """Name the output layout from the output shape (and metadata, which wins where present).

    Raises ModelError naming the shapes when the layout is not one we decode.
    """
    if len(output_shape) == 3 and output_shape[0] >= 1:
        _, rows, cols = output_shape
        end2end = metadata.get("end2end", "").strip().lower() == "true"
        if cols == 6 and (end2end or rows <= MAX_END2END_ROWS):
            return "end2end"
        if 5 <= rows < cols:
            return "ultralytics"
        cells = grid_cells(input_wh)
        if cols >= 6 and rows == cells:
            return "yolox"
        if cols >= 6 and rows == 3 * cells:
            return "yolov5"
    raise ModelError(
        f"Unknown model output layout: output shape {list(output_shape)} for input "
        f"{input_wh[0]}x{input_wh[1]}. Supported: YOLOX [1, N, 5+C] with N = cells over strides "
        "8/16/32, YOLOv5 [1, 3N, 5+C], Ultralytics v8/v11 [1, 4+C, N], end-to-end [1, K<=1000, 6]. "
        "Set MODEL_FORMAT to force one of: " + ", ".join(LAYOUTS)
    )


class Model:
    """Owns one onnxruntime session; safe to share between threads (session.run is).

    path: the file it was loaded from, when there is one; serial() needs it.
    """

    def __init__(
        self, session: ort.InferenceSession, info: ModelInfo, *, path: Path | None = None
    ) -> None:
        self.session = session
        self.info = info
        self.path = path
        self._serial: Model | None = None
        self._serial_failed = False
        self._serial_lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 -> the first output, batch first."""
        return self.session.run(None, {self.info.input_name: batch})[0]

    def serial(self) -> Model | None:
        """The same model on a second session with one intra-op thread, whose runs execute on
        the calling thread: several threads then run views side by side (sliced requests),
        instead of one run spreading over a pool. Created on first use, so cold starts and
        requests that never slice do not pay for it; None without a file to load it from, or
        if it could not be created (logged once; the caller runs views one after another)."""
        with self._serial_lock:
            if self._serial is None and self.path is not None and not self._serial_failed:
                try:
                    self._serial = Model(create_session(self.path, threads=1), self.info)
                except ModelError as exc:
                    self._serial_failed = True
                    log.warning("no one-thread session for parallel views: %s", exc.message)
            return self._serial


def optimized_path(path: Path) -> Path:
    """Where `save_optimized` puts a model's pre-optimised copy: beside it, named for the
    onnxruntime version that wrote it, so an upgrade falls back to the original."""
    return path.with_name(f"{path.stem}.ort-{ort.__version__}.optimized.onnx")


def save_optimized(path: Path) -> Path:
    """Write the model's graph optimised at ORT_ENABLE_EXTENDED beside it (image build time).

    Loading it skips the fusions at every cold start (bench/coldstart.py measures it). Not
    ORT_ENABLE_ALL: that bakes in the NCHWc block size of the CPU that wrote it (AVX2 and
    AVX-512 differ), and Lambda does not promise which CPU runs a function; the CPU-specific
    layout pass still runs at load, on the CPU the model then runs on.
    """
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}.")
    target = optimized_path(path)
    scratch = target.with_name(target.name + ".tmp")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(scratch)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=PROVIDERS)
        os.replace(scratch, target)  # atomic: a reader never sees half a file
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise ModelError(f"Cannot optimise the ONNX model {path.name}: {exc}") from exc
    return target


def session_source(path: Path) -> Path:
    """The pre-optimised copy when there is one at least as new as the model, else the model."""
    optimized = optimized_path(path)
    if optimized.is_file() and optimized.stat().st_mtime >= path.stat().st_mtime:
        return optimized
    return path


def session_options(
    threads: int | None = None, *, allow_spinning: bool | None = None
) -> ort.SessionOptions:
    """allow_spinning: whether idle intra-op pool threads spin (onnxruntime's default) or
    sleep. None decides: spin only when every thread has a whole CPU to itself (see
    cpus.whole_cpus): on 2 free CPUs spinning cuts a 640x480 request from 21 to 16 ms, while
    pinned to 1 CPU two spinning threads nearly double it (bench/latency.py A/Bs both)."""
    threads = threads or usable_cpus()
    if allow_spinning is None:
        allow_spinning = 1 < threads <= whole_cpus()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(allow_spinning)))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: optimiser chatter is noise in Lambda logs
    return options


def create_session(path: Path, *, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session for the model, from its pre-optimised copy when there is a usable one."""
    options = session_options(threads)
    source = session_source(path)
    if source != path:
        try:
            return ort.InferenceSession(str(source), options, providers=PROVIDERS)
        except Exception as exc:  # a damaged cache must not take the service down
            log.warning("ignoring the pre-optimised %s, loading the original: %s", source, exc)
    try:
        return ort.InferenceSession(str(path), options, providers=PROVIDERS)
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise ModelError(f"Cannot load the ONNX model {path.name}: {exc}") from exc


def load_model(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    labels_path: str | os.PathLike | None = None,
    threads: int | None = None,
) -> Model:
    """Create the session and read its facts; one warm-up run gives the real output shape."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"Model file not found: {path}. Run `small-object-detect fetch-model` to fetch the "
            "default model, or set MODEL_PATH to an ONNX file."
        )
    if layout is not None and layout not in LAYOUTS:
        raise ModelError(f"Unknown MODEL_FORMAT {layout!r}; use one of: {', '.join(LAYOUTS)}.")
    session = create_session(path, threads=threads)
    graph_input = session.get_inputs()[0]
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    input_wh = input_size(list(graph_input.shape), metadata)
    probe = np.zeros((1, 3, input_wh[1], input_wh[0]), np.float32)
    try:
        output_shape = tuple(session.run(None, {graph_input.name: probe})[0].shape)
    except Exception as exc:
        raise ModelError(f"The model {path.name} failed a test inference: {exc}") from exc
    layout_name = layout or detect_layout(output_shape, input_wh, metadata)
    class_names = resolve_class_names(
        path,
        metadata,
        num_classes_from_shape(layout_name, output_shape),
        Path(labels_path) if labels_path else None,
    )
    info = ModelInfo(
        name=path.stem,
        layout=LAYOUTS[layout_name],
        input_name=graph_input.name,
        input_wh=input_wh,
        output_shape=output_shape,
        class_names=class_names,
        dynamic_batch=not isinstance(graph_input.shape[0], int),
        recommended_settings=read_recommended_settings(metadata, path.stem),
    )
    return Model(session, info, path=path)
