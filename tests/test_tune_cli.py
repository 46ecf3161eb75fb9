"""`python -m app tune`: usage errors in one line (exit 2), and a reduced-budget run on part of
the shared aerial images whose defaults score matches pycocotools through POST /detect."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from app import create_app
from app.__main__ import main
from app.config import MODEL_SETTINGS, Settings
from app.detector import load_model
from app.detector.model import RECOMMENDED_SETTINGS_KEY
from app.tuning.model_metadata import write_with_metadata
from tests.conftest import b64, labelled_subset, shared_path
from tests.evaluation import coco_scores, to_coco_predictions, yolo_labels_to_coco
from tests.test_label_checks import ALL_CASES, case_labels, make_images
from tests.test_tuning_env import parse_env_file

# Both kinds of image: 684x547 (not sliced by "auto" at 416 px) and sliced ones, PNG and JPEG.
SUBSET = (
    "MOS76.png",
    "MOS82.png",
    "MOS91.png",
    "MunichStreet02-MOS74.png",
    "MunichStreet02-MOS82.png",
    "MunichStreet02-MOS90.png",
    "DJI_0005-0019.jpg",
    "DJI_0005-0124.jpg",
)
CLASSES = ["car", "bus", "truck"]


@pytest.fixture(scope="module")
def aerial_subset(tmp_path_factory):
    """SUBSET's images and YOLO labels copied into a temporary folder."""
    return labelled_subset("aerial-cars-sample", SUBSET, tmp_path_factory.mktemp("aerial"))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["tune", *argv, "--no-progress"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def model_path():
    return str(shared_path("models", "yolox_nano.onnx"))


def test_reduced_budget_run_writes_settings_the_server_reads(
    aerial_subset, model_path, tmp_path, capsys, yolox_model
):
    out = tmp_path / "tuned.env"
    status, stdout, stderr = run_cli(
        capsys,
        str(aerial_subset / "images"),
        "--labels", str(aerial_subset / "labels"),
        "--classes", ",".join(CLASSES),
        "--out", str(out),
        "--budget-minutes", "0.3",
        "--model", model_path,
    )  # fmt: skip
    assert status == 0, stderr
    assert "AP50, COCO-style" in stdout
    assert re.search(r"^Winner: ", stdout, re.M)
    assert len(re.findall(r"^ +\d +[12] +0\.\d{3} +0\.\d{3} ", stdout, re.M)) == 5  # 5 folds
    text = out.read_text()
    assert text.startswith("# Tuned by `python -m app tune`")
    values = parse_env_file(text)
    settings = Settings.from_env(values)  # the server reads the file as it is
    assert settings.default_confidence == float(values["DEFAULT_CONFIDENCE"])
    assert settings.slicing_defaults().mode == values["SLICING_MODE"]

    # The defaults' AP50 that tune printed is the one pycocotools gives the API's answers.
    printed = float(re.search(r"defaults (\d\.\d{3}), tuned", text).group(1))
    assert printed == pytest.approx(defaults_ap50_through_api(yolox_model, aerial_subset), abs=6e-4)


def defaults_ap50_through_api(model, root) -> float:
    truth = yolo_labels_to_coco(root / "images", root / "labels", "vehicle")
    client = create_app(model=model).test_client()
    predictions = []
    for image in truth["images"]:
        data = (root / "images" / image["file_name"]).read_bytes()
        request = {"image": b64(data), "confidence": 0.001, "classes": CLASSES}
        body = client.post("/detect", json=request).get_json()
        predictions += to_coco_predictions(image["id"], body["detections"], lambda _: 1)
    return coco_scores(truth, predictions, max_dets=Settings().default_max_detections)["ap50"]


def test_without_out_the_settings_are_printed(aerial_subset, model_path, capsys):
    images = str(aerial_subset / "images")
    labels = str(aerial_subset / "labels")
    status, stdout, _ = run_cli(
        capsys, images, "--labels", labels, "--budget-minutes", "0.05", "--model", model_path
    )
    assert status == 0
    section = stdout.split("Settings (write them to a file with --out FILE):\n")[1]
    printed = parse_env_file("\n".join(re.findall(r"^[A-Z_]+=.*$", section, re.M)))
    Settings.from_env(printed)
    assert set(printed) >= {"SLICING_TILE", "DEFAULT_IOU", "DEFAULT_CONFIDENCE"}
    assert printed["DEFAULT_FLIP"] == "false"  # scored one pass per view: said so


def test_a_model_that_recommends_the_flip_is_tuned_and_served_without_it(
    aerial_subset, model_path, tmp_path, capsys, monkeypatch
):
    """tune scores one pass per view; the env file it writes turns a model's flip off, so the
    server answers with what was scored (not the flip with a confidence chosen without it)."""
    for name in MODEL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    flipping = tmp_path / "flipping.onnx"
    flip = {RECOMMENDED_SETTINGS_KEY: json.dumps({"DEFAULT_FLIP": "true"})}
    write_with_metadata(Path(model_path), flipping, flip)
    assert create_app(model=load_model(flipping)).extensions["settings"].default_flip
    env_file = tmp_path / "tuned.env"
    images, labels = str(aerial_subset / "images"), str(aerial_subset / "labels")
    status, _, stderr = run_cli(
        capsys, images, "--labels", labels, "--budget-minutes", "0.05", "--model", str(flipping),
        "--out", str(env_file),
    )  # fmt: skip
    assert status == 0, stderr
    for name, value in parse_env_file(env_file.read_text()).items():  # set -a; . tuned.env
        monkeypatch.setenv(name, value)
    assert create_app(model=load_model(flipping)).extensions["settings"].default_flip is False


def test_into_model_writes_a_copy_the_server_serves_with_the_settings(
    aerial_subset, model_path, tmp_path, capsys, monkeypatch
):
    for name in MODEL_SETTINGS:  # no operator settings: the copy's are what apply
        monkeypatch.delenv(name, raising=False)
    copy_path = tmp_path / "tuned.onnx"
    images, labels = str(aerial_subset / "images"), str(aerial_subset / "labels")
    status, stdout, stderr = run_cli(
        capsys, images, "--labels", labels, "--budget-minutes", "0.05", "--model", model_path,
        "--into-model", str(copy_path),
    )  # fmt: skip
    assert status == 0, stderr
    assert f"Wrote {copy_path}: yolox_nano.onnx with these settings in its metadata" in stdout
    section = stdout.split("Settings (write them to a file with --out FILE):\n")[1]
    printed = parse_env_file("\n".join(re.findall(r"^[A-Z_]+=.*$", section, re.M)))
    served = create_app(model=load_model(copy_path)).extensions["settings"]
    assert served == Settings.from_env(printed)  # as if the env file had been loaded
    assert served.explicit == frozenset()  # ... but from the model, under the environment


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no images folder", r"error: .*nowhere: not a folder of images"),
        ("orphan label", r"error: 1 label file\(s\) in .* match no image: ghost.txt"),
        ("empty labels", r"error: the labels in .* hold no box"),
        ("unknown class", r"error: --classes: unknown class 'plane'; yolox_nano knows 80"),
        ("bad budget", r"error: --budget-minutes must be more than 0"),
        ("into a missing folder", r"error: --into-model .*nowhere/t.onnx: its folder does not"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    case, message, aerial_subset, model_path, tmp_path, capsys
):
    images, labels = aerial_subset / "images", tmp_path / "labels"
    shutil.copytree(aerial_subset / "labels", labels)
    extra: list[str] = []
    if case == "no images folder":
        images = tmp_path / "nowhere"
    elif case == "orphan label":
        (labels / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    elif case == "empty labels":
        for label in labels.iterdir():
            label.write_text("")
    elif case == "unknown class":
        extra = ["--classes", "car,plane"]
    elif case == "into a missing folder":
        extra = ["--into-model", str(tmp_path / "nowhere" / "t.onnx")]
    else:
        extra = ["--budget-minutes", "0"]
    status, stdout, stderr = run_cli(
        capsys, str(images), "--labels", str(labels), "--model", model_path, *extra
    )
    assert status == 2
    assert re.fullmatch(message + r".*\n", stderr)
    assert stdout == ""


class Terminal(io.StringIO):
    """stderr as an interactive shell has it: a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_views_on_stderr_only(aerial_subset, model_path, tmp_path, capsys,
                                                  monkeypatch):  # fmt: skip
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for name in SUBSET[:2]:
        shutil.copy(aerial_subset / "images" / name, images / name)
        label = name.rsplit(".", 1)[0] + ".txt"
        shutil.copy(aerial_subset / "labels" / label, labels / label)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    status = main(["tune", str(images), "--labels", str(labels),
                   "--budget-minutes", "0.05", "--model", model_path])  # fmt: skip
    drawn, out = terminal.getvalue(), capsys.readouterr().out
    bars = [part for part in drawn.split("\r") if "view" in part]
    assert status == 0, drawn
    assert "\r" not in out and "Winner: " in out
    done, total = map(int, re.search(r"(\d+)/(\d+)", bars[-1]).groups())
    assert len(bars) >= 2 and 0 < done == total  # ends complete: skipped passes are notes
    notes = [line for line in drawn.split("\n") if "budget:" in line]
    assert all(line.rsplit("\r", 1)[-1].startswith("budget:") for line in notes)


@pytest.mark.parametrize(("kind", "name"), ALL_CASES)
def test_each_bad_label_stops_tune_in_one_line(kind, name, tmp_path, model_path, capsys):
    make_images(tmp_path / "images")
    labels, message = case_labels(tmp_path, kind, name)
    status, stdout, stderr = run_cli(
        capsys, str(tmp_path / "images"), "--labels", str(labels), "--model", model_path
    )
    assert (status, stdout) == (2, "")
    assert re.fullmatch(r"error: .*" + message + r".*\n", stderr), stderr


@pytest.mark.parametrize(
    ("kind", "name"), [("yolo", "class a word"), ("coco", "annotation a list")]
)
def test_skip_bad_labels_tunes_on_the_rest_saying_what_it_left_out(
    kind, name, tmp_path, model_path, capsys
):
    make_images(tmp_path / "images")
    labels, _ = case_labels(tmp_path, kind, name)
    status, stdout, stderr = run_cli(
        capsys, str(tmp_path / "images"), "--labels", str(labels), "--model", model_path,
        "--skip-bad-labels", "--budget-minutes", "0.05",
    )  # fmt: skip
    assert status == 0, stderr
    first, second = stdout.splitlines()[:2]
    assert first.startswith("labels: skipped 1 bad label(s) of 3 (")
    assert second.startswith("Tuning on 2 labelled images (2 boxes)")
