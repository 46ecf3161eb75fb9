"""What `train` compares on its held-out images before it recommends settings: the geometries,
each tiled one merged across classes and per class (for a model of two classes or more), and
the environment lines that make each one the server's defaults."""

from __future__ import annotations

import dataclasses

import pytest

from app.config import Settings
from app.detector.slicing import SlicingOptions
from app.training.settings import candidates, geometry_env

TRAINED = SlicingOptions(tile_wh=(320, 320))
ACROSS = (
    "trained",
    "trained, no whole-image pass",
    "input-size tiles",
)
PER_CLASS = tuple(f"{label}, merged per class" for label in ACROSS)

CHOICES = [
    # (classes, compared: name -> merged across classes; None: the whole image, no merge)
    (1, dict.fromkeys(ACROSS, True) | {"whole image only": None}),
    (2, dict.fromkeys(ACROSS, True) | dict.fromkeys(PER_CLASS, False) | {"whole image only": None}),
    (4, dict.fromkeys(ACROSS, True) | dict.fromkeys(PER_CLASS, False) | {"whole image only": None}),
]


@pytest.mark.parametrize(("classes", "compared"), CHOICES, ids=[f"{c[0]} classes" for c in CHOICES])
def test_a_model_of_several_classes_also_tries_its_tiles_merged_per_class(classes, compared):
    found = candidates(TRAINED, classes)
    assert list(found) == list(compared)
    for label, across in compared.items():
        if across is None:
            assert found[label].mode == "off"
        else:
            assert found[label].class_agnostic is across and found[label].mode != "off"
    for label in PER_CLASS if classes > 1 else ():  # the same geometry, only the merge differs
        twin = found[label.removesuffix(", merged per class")]
        assert dataclasses.replace(found[label], class_agnostic=True) == twin


@pytest.mark.parametrize("label", [*ACROSS, *PER_CLASS, "whole image only"])
def test_each_candidate_s_lines_give_the_server_that_candidate(label):
    """recommended_settings holds geometry_env's lines: the server must read back the very
    options that were scored (the per-class merge included), or the choice means nothing."""
    slicing = candidates(TRAINED, 4)[label]
    assert Settings.from_env(geometry_env(slicing)).slicing_defaults() == slicing


def test_the_merge_across_classes_writes_no_line_so_older_records_still_match():
    """--settings-from compares a twin's recorded trained geometry with this run's: the
    server's default merge adds no key, so records written before the per-class candidate
    compare equal."""
    assert "SLICING_CLASS_AGNOSTIC" not in geometry_env(TRAINED)
    per_class = dataclasses.replace(TRAINED, class_agnostic=False)
    assert geometry_env(per_class) == geometry_env(TRAINED) | {"SLICING_CLASS_AGNOSTIC": "false"}
