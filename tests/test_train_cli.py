"""`small-object-detect train`: a short run on 6 shared aerial images whose model the server
loads and serves with the labels in its metadata; --resume; the budget; one-line errors, bad
labels included (--skip-bad-labels)."""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil

import onnx
import onnx.numpy_helper
import pytest

from app import create_app
from app.__main__ import main
from app.cli.train import INSTALL_HINT, add_train_command, run_train
from tests.conftest import b64, labelled_subset, shared_path
from tests.test_label_checks import ALL_CASES, case_labels, make_images

pytest.importorskip("torch", reason="torch is not installed (scripts/setup.sh --train)")

# Two scenes of each kind: one held out by --val-fraction 0.3 (the DJI-00760 frames).
SUBSET = (
    "DJI-00760-00001.jpg", "DJI-00760-00022.jpg", "DJI_0005-0019.jpg", "DJI_0005-0124.jpg",
    "MOS155.png", "MOS82.png",
)  # fmt: skip


@pytest.fixture(scope="module")
def aerial6(tmp_path_factory):
    root = tmp_path_factory.mktemp("aerial6")
    return labelled_subset("aerial-cars-sample", SUBSET, root, classes=True)


def train(root, out, *extra: str) -> tuple[int, str, str]:
    import argparse

    parser = argparse.ArgumentParser()
    add_train_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", str(root / "images"), "--labels", str(root / "labels"), "--out", str(out),
         "--base", str(shared_path("models", "yolox_nano.onnx")), "--val-fraction", "0.3",
         "--classes", "vehicle=car+truck+bus+minibus", *extra]
    )  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_train(args, stdout, stderr, "small-object-detect train (test)")
    return code, stdout.getvalue(), stderr.getvalue()


def record_of(path) -> dict:
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(meta["training"])


@pytest.fixture(scope="module")
def trained(aerial6, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "vehicles.onnx"
    demo = str(shared_path("data", "demo"))  # two unlabelled pictures: the distillation path
    code, stdout, stderr = train(
        aerial6, out, "--epochs", "2", "--budget-minutes", "1.5", "--distill", demo,
        "--workers", "1",
    )  # fmt: skip
    assert code == 0, stderr
    return out, stdout


def test_the_trained_model_is_served_with_its_labels(trained):
    out, stdout = trained
    assert "4 training images, 2 held out (1 scene: DJI-00760)" in stdout
    assert "pixels: 6 images decoded once" in stdout  # 4 trained, 2 distilled
    assert "waited for data" in stdout
    assert "2 other images to distil the base model on" in stdout
    record = record_of(out)
    assert record["classes"] == ["vehicle"] and record["base"] == "yolox_nano.onnx"
    assert record["epochs"] == 2 and len(record["history"]) == 2
    assert record["distill_images"] == 2
    assert record["learning_rate"] == 5e-4 and record["backbone"] == "trained"
    assert record["class_loss"] == "plain" and "class_weights" not in record
    assert record["paste"] == 0
    assert 0 <= record["val_ap50"] <= 1 and record["export_max_abs_diff"] < 2e-3
    client = create_app({"model_path": out}).test_client()
    image = shared_path("data", "demo", "small-vehicles1.jpeg").read_bytes()
    body = client.post("/detect", json={"image": b64(image), "confidence": 0.01}).get_json()
    assert body["detections"], body
    assert {d["label"] for d in body["detections"]} == {"vehicle"}


def test_resume_continues_the_killed_run(trained, aerial6, tmp_path):
    out, _ = trained
    copy = tmp_path / "vehicles.onnx"
    shutil.copy(out.with_name(out.name + ".ckpt"), tmp_path / "vehicles.onnx.ckpt")
    code, stdout, stderr = train(aerial6, copy, "--epochs", "3", "--resume")
    assert code == 0, stderr
    assert "resuming after epoch 2" in stdout
    history = record_of(copy)["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[:2] == record_of(out)["history"]


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (("--lr", "1e-3"), "trained with learning rate 0.0005; this run has 0.001 (give the "
         "same --lr), or drop --resume"),
        (("--freeze-backbone",), "trained with the backbone trained; this run's is frozen"),
        (("--paste", "2"), "trained with no pasted objects; this run has up to 2 pasted objects "
         "a sample (give the same --paste), or drop --resume"),
    ],
)  # fmt: skip
def test_resume_refuses_another_schedule(trained, aerial6, tmp_path, flags, refusal):
    out, _ = trained
    copy = tmp_path / "vehicles.onnx"
    shutil.copy(out.with_name(out.name + ".ckpt"), tmp_path / "vehicles.onnx.ckpt")
    code, stdout, stderr = train(aerial6, copy, "--epochs", "3", "--resume", *flags)
    assert code == 2 and refusal in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "epoch" not in stdout
    assert not copy.exists()


def test_resume_refuses_a_checkpoint_of_other_images_in_one_line(trained, tmp_path):
    out, _ = trained
    fewer = labelled_subset("aerial-cars-sample", SUBSET[1:], tmp_path / "fewer", classes=True)
    copy = tmp_path / "vehicles.onnx"
    shutil.copy(out.with_name(out.name + ".ckpt"), tmp_path / "vehicles.onnx.ckpt")
    code, stdout, stderr = train(fewer, copy, "--epochs", "3", "--resume")
    assert code == 2 and "made from other images or labels; drop --resume" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "epoch" not in stdout


@pytest.mark.parametrize(
    ("flag", "neck"), [("--freeze-backbone", "trained"), ("--freeze-neck", "frozen")]
)
def test_a_frozen_backbone_ships_the_base_models_backbone(aerial6, tmp_path, flag, neck):
    """--freeze-backbone (and --freeze-neck, which freezes the neck too), end to end: the
    exported model's frozen convs are the base model's bytes, the rest learnt; the record says
    so."""
    from app.training.graph import YoloxGraph

    out = tmp_path / "frozen.onnx"
    code, _, stderr = train(
        aerial6, out, "--epochs", "1", "--budget-minutes", "0.05", flag,
        "--lr", "1e-3", "--workers", "0", "--no-progress",
    )  # fmt: skip
    assert code == 0, stderr
    record = record_of(out)
    assert record["backbone"] == "frozen" and record["learning_rate"] == 1e-3
    assert record["neck"] == neck
    base = onnx.load(str(shared_path("models", "yolox_nano.onnx")))
    graph = YoloxGraph(base, [[2]])
    frozen = graph.backbone_keys if neck == "trained" else set(graph.params) - graph.head_keys
    kept = {graph.names[k] for k in frozen}
    before = {t.name: onnx.numpy_helper.to_array(t) for t in base.graph.initializer}
    after = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    assert all((before[n] == after[n]).all() for n in kept)
    rest = [n for n in graph.names.values() if n not in kept]
    assert any(before[n].shape != after[n].shape or (before[n] != after[n]).any() for n in rest)
    learnt = [n for n in rest if before[n].shape == after[n].shape]  # not the class convs
    assert any((before[n] != after[n]).any() for n in learnt)


def test_the_budget_stops_training(aerial6, tmp_path):
    out = tmp_path / "short.onnx"
    code, _, stderr = train(aerial6, out, "--epochs", "50", "--budget-minutes", "0.05")
    assert code == 0, stderr
    record = record_of(out)
    assert record["epochs"] == 1  # the first epoch was cut at the budget, then scored


def test_a_base_of_another_layout_is_refused_in_one_line(aerial6, tmp_path):
    code, _, stderr = train(aerial6, tmp_path / "x.onnx", "--base",
                            str(shared_path("models", "yolov8n_int8.onnx")))  # fmt: skip
    assert code == 2
    assert stderr.count("\n") == 1 and "train takes YOLOX-layout ONNX models" in stderr
    assert "ultralytics" in stderr


def test_without_torch_it_says_how_to_install(monkeypatch, capsys, aerial6):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    code = main(["train", str(aerial6 / "images"), "--labels", str(aerial6 / "labels")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {INSTALL_HINT}\n"
    assert "scripts/setup.sh --train" in err


SKY_CLIPS = ("V_BIRD_008", "V_BIRD_020", "V_DRONE_001", "V_DRONE_025")  # four sessions


@pytest.fixture(scope="module")
def sky24(tmp_path_factory):
    """6 frames of each of 4 sky clips (640x512): birds and drones, two sessions each."""
    images = shared_path("data", "airborne-sample", "images")
    names = [p.name for clip in SKY_CLIPS for p in sorted(images.glob(f"{clip}-*.jpg"))[:6]]
    return labelled_subset("airborne-sample", names, tmp_path_factory.mktemp("sky24"), classes=True)


def test_sessions_upscaled_tiles_and_settings_from_held_out_images(sky24, tmp_path):
    import argparse

    out = tmp_path / "sky.onnx"
    parser = argparse.ArgumentParser()
    add_train_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", str(sky24 / "images"), "--labels", str(sky24 / "labels"), "--out", str(out),
         "--base", str(shared_path("models", "yolox_nano.onnx")), "--val-fraction", "0.25",
         "--scenes", r"^V_([A-Z]+)_(\d+)", "--scene-block", "6", "--tile", "320",
         "--epochs", "1", "--workers", "0", "--weigh-classes"]
    )  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_train(args, stdout, stderr, "test") == 0, stderr.getvalue()
    said = stdout.getvalue()
    assert "18 training images, 6 held out (1 scene: BIRD-18-23)" in said  # clip 20: 18-23
    record = record_of(out)
    assert record["classes"] == ["bird", "drone"] and record["class_balance"]
    weights = record["class_weights"]  # --weigh-classes, beside the repeats
    assert record["class_loss"] == "weighted" and set(weights) == {"bird", "drone"}
    assert min(weights.values()) == 1.0 and max(weights.values()) > 1.0  # 3 bird clips to 1
    assert record["geometry"]["SLICING_TILE"] == "320"
    assert len(record["trained_on"]) == 18
    assert not {name for name in record["trained_on"] if name.startswith("V_BIRD_020")}
    row = record["history"][0]
    assert set(row["val_ap50_classes"]) == {"bird", "drone"} and 0 <= row["data_wait"] < 1
    assert row["val_ap50"] == row["val_ap50_classes"]["bird"]  # drone: none held out (nan)
    tiled = ["trained", "trained, no whole-image pass", "input-size tiles"]
    plain = [*tiled, *(f"{g}, merged per class" for g in tiled), "whole image only"]
    ranked = sorted(record["settings_choice"][:7], key=lambda r: -r["mean_ap50"])
    assert [r["geometry"] for r in record["settings_choice"]] == [
        *plain,
        *(f"{r['geometry']}, flipped too" for r in ranked[:2]),
    ]  # two classes: each tiled geometry merged across classes and per class; the best 2 flipped
    best = max(record["settings_choice"], key=lambda r: r["mean_ap50"])
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    recommended = json.loads(meta["recommended_settings"])
    assert recommended == best["settings"] | {"DEFAULT_CONFIDENCE": f"{best['confidence']:g}"}
    assert "recommending" in said and "chosen on held-out images" in said


def test_tune_into_model_keeps_to_the_images_the_model_never_saw(sky24, tmp_path):
    from app.cli.tune import add_tune_command, run_tune

    trained = tmp_path / "t.onnx"
    code, _, stderr = train(sky24, trained, "--epochs", "1", "--classes", "drone,bird")
    assert code == 0, stderr
    seen = labelled_subset("airborne-sample", record_of(trained)["trained_on"][:4], tmp_path)

    def tune(root) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser()
        add_tune_command(parser.add_subparsers(dest="command"))
        args = parser.parse_args(
            ["tune", str(root / "images"), "--labels", str(root / "labels"),
             "--model", str(trained), "--into-model", str(tmp_path / "tuned.onnx"),
             "--budget-minutes", "0.3"]
        )  # fmt: skip
        stdout, stderr = io.StringIO(), io.StringIO()
        return run_tune(args, stdout, stderr), stdout.getvalue(), stderr.getvalue()

    code, _, stderr = tune(seen)
    assert code == 2 and "4 of these 4 images trained t" in stderr
    code, stdout, stderr = tune(sky24)
    assert code == 0, stderr
    assert "Tuning on 6 labelled images" in stdout  # the held-out session alone
    assert "left out: 18 images the model trained on" in stdout


def train_on(images, labels, out, *extra: str) -> tuple[int, str, str]:
    """run_train on these labels from YOLOX-Nano, as the command line parses them."""
    import argparse

    parser = argparse.ArgumentParser()
    add_train_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["train", str(images), "--labels", str(labels), "--out", str(out),
         "--base", str(shared_path("models", "yolox_nano.onnx")), "--no-progress", *extra]
    )  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_train(args, stdout, stderr, "small-object-detect train (test)")
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize(("kind", "name"), ALL_CASES)
def test_each_bad_label_stops_train_in_one_line(kind, name, tmp_path):
    make_images(tmp_path / "images")
    labels, message = case_labels(tmp_path, kind, name)
    code, _, stderr = train_on(tmp_path / "images", labels, tmp_path / "x.onnx")
    assert code == 2
    assert re.fullmatch(r"error: .*" + message + r".*\n", stderr), stderr


def test_skip_bad_labels_trains_on_the_rest_saying_what_it_left_out(tmp_path):
    make_images(tmp_path / "images")
    labels, _ = case_labels(tmp_path, "yolo", "class beyond classes.txt")
    out = tmp_path / "x.onnx"
    code, stdout, stderr = train_on(
        tmp_path / "images", labels, out, "--skip-bad-labels", "--epochs", "1",
        "--budget-minutes", "0.05", "--val-fraction", "0",
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith("labels: skipped 1 bad label(s) of 3 (1 class without a name);")
    assert out.is_file()
