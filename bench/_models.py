"""The models bench/slicing.py compares, and the settings each row runs with.

A model is a ../shared model name (`yolox_nano`) or a path to an ONNX file
(`model/aerial-vehicles.onnx`), with optional variants: `+dynamic` (a dynamic-batch copy of a
fixed-batch model, made here) and `+per-tile` (the same model fed one view per session.run, to
compare with its batched runs), e.g. `yolox_nano+dynamic+per-tile`.

Settings: "reference" is ../shared/README.md's reference pipeline (multi-label, NMS IoU 0.65,
416/640 tiles at overlap 0.2, whole-image pass, class-aware NMS merge at IoU 0.5); "model" is
what POST /detect does for that model: the built-in defaults under its own recommended
settings (app.config.settings_for_model), one label per box. Both at the benchmark's confidence,
<= 500 boxes. Predictions count as vehicles: COCO car/bus/truck for a COCO model, every class for
a model of vehicles only.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings, settings_for_model
from app.detector import DetectOptions, Model, load_model
from app.detector.model import ModelInfo
from app.detector.slicing import SlicingOptions

SHARED_MODELS = Path(__file__).resolve().parent.parent.parent / "shared" / "models"
VARIANTS = ("dynamic", "per-tile")
COCO_VEHICLES = {"car": 2, "bus": 5, "truck": 7}
REFERENCE_SLICING = SlicingOptions(
    mode="on", overlap=0.2, whole_image=True, merge="nms", match_threshold=0.5,
    class_agnostic=False,
)  # fmt: skip
MAX_DETECTIONS = 500
# Views per session.run in ours when the model takes a dynamic batch (app/detector/views.py).
TILE_BATCH = 8


@dataclass(frozen=True)
class BenchModel:
    """One row: the loaded model and the request ours makes (slicing included)."""

    label: str
    model: Model
    options: DetectOptions

    @property
    def batch(self) -> int:
        return TILE_BATCH if self.model.info.dynamic_batch else 1


def split_variant(name: str) -> tuple[str, str]:
    """ "model/x.onnx+per-tile" -> ("model/x.onnx", "per-tile"); no known variant: ""."""
    stem, plus, variant = name.rpartition("+")
    return (stem, variant) if plus and variant in VARIANTS else (name, "")


def model_path(name: str) -> Path:
    """A ../shared model by name, else a path to an ONNX file."""
    path = Path(name) if name.endswith(".onnx") else SHARED_MODELS / f"{name}.onnx"
    if not path.is_file():
        raise SystemExit(f"{path}: no such model (a ../shared model name, or an .onnx path)")
    return path


def load_variant(name: str) -> Model:
    """The model of a --models entry; variants apply right to left ("x+dynamic+per-tile")."""
    source, variant = split_variant(name)
    if variant == "per-tile":  # the same session and file, told it takes batch 1
        model = load_variant(source)
        info = dataclasses.replace(model.info, dynamic_batch=False)
        return Model(model.session, info, path=model.path)
    path = model_path(source)
    if variant != "dynamic":
        return load_model(path)
    from tests.onnx_graphs import with_dynamic_batch

    folder = Path(tempfile.mkdtemp())  # kept: model.serial() loads from it later
    model = load_model(with_dynamic_batch(path, folder / path.name))
    assert model.info.dynamic_batch, name
    return model


def vehicle_classes(info: ModelInfo) -> frozenset[int] | None:
    """COCO car/bus/truck for a model with COCO's names there; None (every class) else."""
    names = info.class_names
    if all(i < len(names) and names[i] == label for label, i in COCO_VEHICLES.items()):
        return frozenset(COCO_VEHICLES.values())
    return None


def bench_model(name: str, settings: str, confidence: float) -> BenchModel:
    model = load_variant(name)
    classes = vehicle_classes(model.info)
    if settings == "reference":
        options = DetectOptions(
            confidence=confidence,
            iou=0.65,
            max_detections=MAX_DETECTIONS,
            class_ids=classes,
            multi_label=True,
            slicing=REFERENCE_SLICING,
        )
    else:
        served = settings_for_model(Settings(), model.info)
        options = DetectOptions(
            confidence=confidence,
            iou=served.default_iou,
            max_detections=MAX_DETECTIONS,
            class_ids=classes,
            slicing=served.slicing_defaults(),
        )
    source, plus, variants = name.partition("+")
    label = Path(source).stem if source.endswith(".onnx") else source
    return BenchModel(label + plus + variants, model, options)


def sahi_settings(slicing: SlicingOptions) -> dict:
    """The same slicing, in SAHI's words (get_sliced_prediction's keyword arguments)."""
    return {
        "overlap_height_ratio": slicing.overlap,
        "overlap_width_ratio": slicing.overlap,
        "perform_standard_pred": slicing.whole_image,
        "postprocess_type": {"nms": "NMS", "greedy_nmm": "GREEDYNMM"}[slicing.merge],
        "postprocess_match_metric": slicing.match_metric.upper(),
        "postprocess_match_threshold": slicing.match_threshold,
        "postprocess_class_agnostic": slicing.class_agnostic,
    }
