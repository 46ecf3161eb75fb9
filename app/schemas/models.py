"""What GET /model and GET /models answer of a model, and the "model" of a POST /detect answer."""

from __future__ import annotations

from ..detector import ModelInfo
from ..detector.onnx_file import FileFacts


def model_summary(model: ModelInfo) -> dict:
    return {"name": model.name, "format": model.layout.name, "input": _size(model.input_wh)}


def listed_model(name: str, facts: FileFacts | None, *, default: bool, loaded: bool) -> dict:
    """A GET /models entry; facts None (a file that cannot be read): null format, input and
    labels, no recommended settings."""
    labels = facts.labels if facts is not None else None
    return {
        "name": name,
        "format": facts.format if facts is not None else None,
        "input": _size(facts.input_wh) if facts is not None else None,
        "labels": list(labels) if labels is not None else None,
        "recommended_settings": dict(facts.recommended_settings) if facts is not None else {},
        "default": default,
        "loaded": loaded,
    }


def _size(wh: tuple[int, int]) -> dict:
    return {"width": wh[0], "height": wh[1]}


def model_description(model: ModelInfo) -> dict:
    """The GET /model body."""
    return {
        **model_summary(model),
        "dynamic_batch": model.dynamic_batch,
        "num_classes": len(model.class_names),
        "labels": list(model.class_names),
        # What the model's metadata recommends (applied under the operator's environment).
        "recommended_settings": dict(model.recommended_settings),
    }
