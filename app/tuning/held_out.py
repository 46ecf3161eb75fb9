"""Which labelled images a model never trained on: its training record (ONNX metadata
`training`, written by train) lists the images it trained on."""

from __future__ import annotations

import json

from ..detector.model import Model
from .labels import LabelledImage


class TrainedOnError(ValueError):
    """Too few of the images are unseen by the model to choose its settings on."""


def never_trained_on(images: list[LabelledImage], model: Model) -> list[LabelledImage]:
    """The images a model's training record does not list as trained on: settings it carries
    are chosen on those alone (on its own training images a model is surest, so the confidence
    of best F1 there is too high). A model without the list (not made by train, or by an
    older one) keeps every image."""
    raw = model.session.get_modelmeta().custom_metadata_map.get("training")
    try:
        trained = set(json.loads(raw).get("trained_on") or ()) if raw else set()
    except (ValueError, AttributeError):
        trained = set()
    unseen = [im for im in images if im.name not in trained and im.path.name not in trained]
    if len(unseen) < 2:
        raise TrainedOnError(
            f"--into-model: {len(images) - len(unseen)} of these {len(images)} images trained "
            f"{model.info.name}; settings it carries must be chosen on images it never saw "
            "(at least 2): give the held-out images of its training run"
        )
    return unseen
