"""`python -m app detect`: files and folders in, JSON lines / COCO / YOLO out, like the API."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tqdm import tqdm

from app.__main__ import main
from app.cli import progress
from app.cli.detect import IMAGE_SUFFIXES
from app.schemas.detect import DETECT_FIELDS
from tests.conftest import REPO_ROOT, b64, shared_path
from tests.evaluation import coco_scores

CONFIDENCE = 0.3


@pytest.fixture
def model_path():
    return str(shared_path("models", "yolox_nano.onnx"))


@pytest.fixture
def image_tree(tmp_path, demo_jpeg):
    """photos/a.jpeg, photos/sub/b.JPG (same picture), photos/sub/notes.txt, photos/bad.png."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpeg").write_bytes(demo_jpeg)
    (root / "sub" / "b.JPG").write_bytes(demo_jpeg)
    (root / "sub" / "notes.txt").write_text("not an image")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["detect", *argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def api_detections(client, demo_jpeg) -> list[dict]:
    body = client.post("/detect", json={"image": b64(demo_jpeg), "confidence": CONFIDENCE})
    return body.get_json()["detections"]


def test_json_lines_match_the_api(model_path, image_tree, api_detections):
    status, out, err = run(str(image_tree), "--confidence", str(CONFIDENCE), "--model", model_path)
    records = [json.loads(line) for line in out.splitlines()]

    assert status == 1  # bad.png failed, and said so
    assert "bad.png" in err and "2 images" not in err and "3 images, " in err
    assert [r["file"] for r in records] == ["a.jpeg", "sub/b.JPG"]
    assert all(r["detections"] == api_detections for r in records)
    assert f"{2 * len(api_detections)} detections, 1 failed" in err


def test_json_files_mirror_the_tree(model_path, image_tree, api_detections, tmp_path):
    out_dir = tmp_path / "out"
    inputs = [str(image_tree / "sub"), str(image_tree / "a.jpeg")]
    status, out, _ = run(*inputs, "--out", str(out_dir), "--confidence", str(CONFIDENCE),
                         "--model", model_path)  # fmt: skip
    assert status == 0 and out == ""
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.json"))
    assert written == ["a.json", "b.json"]
    assert json.loads((out_dir / "b.json").read_text())["detections"] == api_detections


def test_coco_output_scores_perfectly_against_itself(model_path, image_tree, api_detections):
    status, out, _ = run(str(image_tree / "sub"), "--format", "coco", "--model", model_path,
                         "--confidence", str(CONFIDENCE))  # fmt: skip
    doc = json.loads(out)
    assert status == 0
    assert doc["images"] == [{"id": 1, "file_name": "b.JPG", "width": 1068, "height": 580}]
    assert len(doc["annotations"]) == len(api_detections)
    for row, found in zip(doc["annotations"], api_detections, strict=True):
        box = found["box"]
        assert row["bbox"] == pytest.approx(
            [box["x1"], box["y1"], box["x2"] - box["x1"], box["y2"] - box["y1"]], abs=0.01
        )
        assert row["category_id"] == found["class_id"] and row["score"] == found["confidence"]
    # pycocotools reads it; as ground truth and predictions at once it scores 1.0.
    truth = {**doc, "annotations": [{k: v for k, v in a.items() if k != "score"}
                                    for a in doc["annotations"]]}  # fmt: skip
    assert coco_scores(truth, doc["annotations"])["ap50"] == pytest.approx(1.0)


def test_yolo_labels_convert_back_to_the_api_boxes(model_path, image_tree, api_detections,
                                                   tmp_path):  # fmt: skip
    out_dir = tmp_path / "labels"
    status, _, _ = run(str(image_tree / "a.jpeg"), "--format", "yolo", "--out", str(out_dir),
                       "--model", model_path, "--confidence", str(CONFIDENCE))  # fmt: skip
    assert status == 0
    assert (out_dir / "classes.txt").read_text().splitlines()[2] == "car"
    rows = np.loadtxt(out_dir / "a.txt", ndmin=2)
    class_id, cx, cy, w, h, confidence = rows.T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * ([1068, 580] * 2)
    expected = np.array([[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in api_detections])
    np.testing.assert_allclose(xyxy, expected, atol=0.01)
    assert class_id.astype(int).tolist() == [d["class_id"] for d in api_detections]
    np.testing.assert_allclose(confidence, [d["confidence"] for d in api_detections])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing-folder"], "no such file or folder"),
        (["{tree}", "--format", "yolo"], "give --out DIR"),
        (["{tree}", "--confidence", "1.5"], '"confidence" must be a number between 0 and 1'),
        (["{tree}/a.jpeg", "{tree}/sub/b.JPG", "{tree}/a.jpeg"], "would both be written as"),
        (["{tree}", "--model", "{tree}/none.onnx"], "none.onnx"),
    ],
)
def test_usage_errors_exit_2_with_one_line(model_path, image_tree, argv, message):
    argv = [a.replace("{tree}", str(image_tree)) for a in argv]
    if "--model" not in argv:
        argv += ["--model", model_path]
    status, out, err = run(*argv)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_slicing_flag_maps_to_the_request_option(model_path, image_tree):
    status, out, err = run(str(image_tree / "a.jpeg"), "--slicing", "on", "--model", model_path)
    if "slicing" in DETECT_FIELDS:  # the request option exists: the flag sends it
        assert status == 0 and json.loads(out)["count"] >= 1
    else:
        assert status == 2 and "--slicing needs a build with slicing" in err


@pytest.mark.parametrize("multi_label", [False, True])
def test_multi_label_flag_maps_to_the_request_option(model_path, image_tree, client, multi_label):
    # At 0.05 some boxes pass for two classes, so the two modes give different answers.
    request = {"image": b64((image_tree / "a.jpeg").read_bytes()), "confidence": 0.05}
    api = client.post("/detect", json={**request, "multi_label": multi_label}).get_json()
    flags = ["--multi-label"] if multi_label else []
    status, out, _ = run(str(image_tree / "a.jpeg"), "--confidence", "0.05", *flags,
                         "--model", model_path)  # fmt: skip
    assert status == 0 and json.loads(out)["detections"] == api["detections"]


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive shell's is."""

    def isatty(self) -> bool:
        return True


def run_on_terminal(*argv: str) -> tuple[int, str]:
    err = Terminal()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["detect", *argv])
    return status, err.getvalue()


def _has_bar(text: str) -> bool:
    """A tqdm bar's rate: "img/s", or "s/img" when an image takes over a second (a loaded box)."""
    return "img/s" in text or "s/img" in text


def test_progress_bar_over_many_images(model_path, tmp_path, demo_jpeg):
    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(demo_jpeg)
    status, err = run_on_terminal(str(tmp_path), "--model", model_path)
    bars = [part for part in err.split("\r") if _has_bar(part)]
    assert status == 0 and len(bars) >= 2  # drawn at the start, then redrawn in place
    assert bars[0].lstrip().startswith("0%") and "0/5" in bars[0]
    assert "100%" in bars[-1] and "5/5" in bars[-1] and "4.jpg" in bars[-1]
    summary = err.rsplit("\n", 2)[-2]
    assert summary.startswith("5 images, ") and "\r" not in summary  # below the bar, not on it


class EveryUpdateBar(tqdm):
    """A bar redrawn at every image, as tqdm's 0.1 s throttle lets it be when images are slow."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs | {"mininterval": 0})


@pytest.mark.parametrize("every_update", [False, True])
def test_failures_print_below_the_bar(model_path, image_tree, monkeypatch, every_update):
    if every_update:  # then the bar is also drawn naming bad.png, on the bar's own line
        monkeypatch.setattr(progress, "tqdm", EveryUpdateBar)
    status, err = run_on_terminal(str(image_tree), "--model", model_path)
    drawn = [part for line in err.split("\n") for part in line.split("\r")]  # as a terminal shows
    # The failure is a line of its own, from the left edge once the bar is wiped.
    [failure] = [part for part in drawn if part.startswith(str(image_tree / "bad.png"))]
    assert status == 1 and "truncated" in failure and not _has_bar(failure)
    if every_update:
        assert any(_has_bar(part) and part.endswith("bad.png]") for part in drawn)
    assert drawn[-1] == "" and drawn[-2].startswith("3 images, ")


@pytest.mark.parametrize(("flag", "expect_bar"), [("--no-progress", False), ("--progress", True)])
def test_progress_flags_win_over_the_terminal_check(model_path, image_tree, flag, expect_bar):
    image = str(image_tree / "a.jpeg")
    _, on_terminal = run_on_terminal(image, "--model", model_path, flag)
    _, _, piped = run(image, "--model", model_path, flag)  # not a terminal
    assert _has_bar(on_terminal) is expect_bar and _has_bar(piped) is expect_bar
    assert "1 image, " in on_terminal and "1 image, " in piped


def test_a_real_terminal_gets_the_bar_on_stderr_only(model_path, tmp_path):
    # A bare pty, which reports 0 columns: the bar must still be drawn.
    shutil.copy(shared_path("data", "demo", "small-vehicles1.jpeg"), tmp_path / "x.jpeg")
    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        done = subprocess.run(
            [sys.executable, "-m", "app", "detect", str(tmp_path), "--model", model_path],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=follower, timeout=120, check=False,
        )  # fmt: skip
        os.close(follower)
        drawn = _read_all(terminal)
    assert done.returncode == 0 and json.loads(done.stdout)["count"] >= 1
    assert "1/1" in drawn and _has_bar(drawn) and "1 image, " in drawn


def _read_all(terminal) -> str:
    chunks = []
    with contextlib.suppress(OSError):  # Linux answers EIO once the writer has closed
        while chunk := terminal.read(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_real_command_line_and_serve_still_there(model_path, tmp_path):
    image = shared_path("data", "demo", "small-vehicles1.jpeg")
    shutil.copy(image, tmp_path / "x.jpeg")
    result = subprocess.run(
        [sys.executable, "-m", "app", "detect", str(tmp_path), "--model", model_path],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] >= 1
    assert "\r" not in result.stderr  # no bar when stderr is not a terminal
    helped = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--port" in helped.stdout and "--threads" in helped.stdout


def test_image_suffixes_cover_what_the_api_decodes():
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"} == IMAGE_SUFFIXES
