"""The settings a trained model recommends, chosen on its held-out images only: the geometry
(tile size, slicing, the whole-image pass) of best mean AP50 among a few candidates, and the
default confidence of best F1 there. Images the model trained on would flatter both (a
confidence chosen on them is too high: the model is surest where it has seen the answer)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..detector.slicing import SlicingOptions
from .validate import score_model


def geometry_env(slicing: SlicingOptions) -> dict[str, str]:
    """The SLICING_* variables that give this geometry (recommended_settings' form)."""
    env = {
        "SLICING_MODE": slicing.mode,
        "SLICING_OVERLAP": f"{slicing.overlap:g}",
        "SLICING_WHOLE_IMAGE": "true" if slicing.whole_image else "false",
    }
    if slicing.tile_wh is not None:
        w, h = slicing.tile_wh
        env["SLICING_TILE"] = f"{w}" if w == h else f"{w}x{h}"
    return env


def candidates(trained: SlicingOptions) -> dict[str, SlicingOptions]:
    """The geometries compared: the one trained, it without the whole-image pass, tiles of the
    model's input size (native scale) always, and the whole image alone."""
    return {
        "trained": trained,
        "trained, no whole-image pass": dataclasses.replace(trained, whole_image=False),
        "input-size tiles": SlicingOptions(mode="on"),
        "whole image only": SlicingOptions(mode="off"),
    }


def choose_settings(
    model_path: Path, images, truths, names: tuple[str, ...], trained: SlicingOptions, say
) -> tuple[dict[str, str], list[dict]]:
    """(recommended_settings, the table of candidates scored) on the held-out images."""
    table, best = [], None
    for label, slicing in candidates(trained).items():
        env = geometry_env(slicing)
        score = score_model(model_path, images, truths, names, env)
        row = {
            "geometry": label,
            "settings": env,
            "mean_ap50": round(score.mean_ap50, 4),
            "per_class": {k: round(v, 4) for k, v in score.per_class.items()},
            "confidence": score.confidence,
        }
        table.append(row)
        say(
            f"settings: {label}: held-out mean AP50 {row['mean_ap50']}, best-F1 confidence "
            f"{score.confidence}"
        )
        if best is None or row["mean_ap50"] > best["mean_ap50"]:
            best = row
    assert best is not None
    chosen = dict(best["settings"]) | {"DEFAULT_CONFIDENCE": f"{best['confidence']:g}"}
    say(f"settings: recommending {best['geometry']} ({chosen}), chosen on held-out images")
    return chosen, table
