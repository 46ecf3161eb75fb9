"""`small-object-detect choose-settings`: a trained model's settings chosen again on the images
its record held out, as `train` chooses them (the test-time flip among the candidates), with
no torch; or copied from the validated twin it took them from. The model is our own
`airborne` file with a training record written for the test (which frames it "held out"):
the scoring is real, only the record is made up, so the weights never saw those frames as
held out (they did train on them; the test checks the mechanics, not the accuracy)."""

from __future__ import annotations

import io
import json

import pytest

from app.__main__ import build_parser
from app.cli.choose_settings import run_choose_settings
from app.detector.model import RECOMMENDED_SETTINGS_KEY
from app.detector.onnx_file import read_onnx_file
from app.tuning.model_metadata import write_with_metadata
from tests.conftest import REPO_ROOT, labelled_subset, shared_path

AIRBORNE = REPO_ROOT / "model" / "airborne.onnx"
CLASSES = ["airplane", "bird", "drone", "helicopter"]
CLIPS = ("V_AIRPLANE_001", "V_BIRD_008", "V_DRONE_001", "V_HELICOPTER_007")
FRAMES = 11  # a class of fewer than 10 boxes is merged into another (train plans them so)
OLD = {"SLICING_TILE": "320", "SLICING_WHOLE_IMAGE": "false", "DEFAULT_FLIP": "true",
       "DEFAULT_CONFIDENCE": "0.9"}  # fmt: skip
TWIN_FACTS = {"data_digest": "d1g35t", "best_epoch": 3, "val_ap50": 0.5}


def record(**extra) -> dict:
    return {"classes": CLASSES, "geometry": {"SLICING_MODE": "auto", "SLICING_OVERLAP": "0.2",
            "SLICING_TILE": "320", "SLICING_WHOLE_IMAGE": "true"}} | extra  # fmt: skip


def model_file(path, training: dict, settings: dict | None = None):
    write_with_metadata(AIRBORNE, path, {
        "training": json.dumps(training),
        RECOMMENDED_SETTINGS_KEY: json.dumps(settings if settings is not None else OLD),
    })  # fmt: skip
    return path


def metadata(path) -> tuple[dict, dict]:
    meta = read_onnx_file(path.read_bytes()).metadata
    return json.loads(meta["training"]), json.loads(meta[RECOMMENDED_SETTINGS_KEY])


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """11 frames of a clip of each class: the first frame of each "held out"."""
    images = shared_path("data", "airborne-sample", "images")
    names = [p.name for clip in CLIPS for p in sorted(images.glob(f"{clip}-*.jpg"))[:FRAMES]]
    root = labelled_subset("airborne-sample", names, tmp_path_factory.mktemp("sky"), classes=True)
    return root, names[::FRAMES]


def choose(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["choose-settings", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_choose_settings(args, stdout, stderr, "small-object-detect choose-settings (test)")
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_validated_model_s_settings_are_chosen_again_on_its_held_out_images(sky, tmp_path):
    root, held = sky
    twin = model_file(tmp_path / "twin.onnx", record(val_images=held, **TWIN_FACTS))
    out = tmp_path / "again.onnx"
    code, said, stderr = choose(str(twin), str(root / "images"), "--labels", str(root / "labels"),
                                "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    training, settings = metadata(out)
    table = training["settings_choice"]
    labels = [row["geometry"] for row in table]
    assert labels[:7] == [
        "trained", "trained, no whole-image pass", "input-size tiles",
        "trained, merged per class", "trained, no whole-image pass, merged per class",
        "input-size tiles, merged per class", "whole image only",
    ]  # fmt: skip
    best_plain = sorted(table[:7], key=lambda row: -row["mean_ap50"])[:2]  # the two best
    assert len(table) == 9
    for plain, flipped in zip(best_plain, table[7:], strict=True):
        assert flipped["geometry"] == f"{plain['geometry']}, flipped too"
        assert flipped["settings"] == plain["settings"] | {"DEFAULT_FLIP": "true"}
        # The model's old settings (the flip on) did not leak into the plain candidates.
        assert flipped["confidence"] != plain["confidence"], table
    winner = max(table, key=lambda row: row["mean_ap50"])
    assert settings == winner["settings"] | {"DEFAULT_CONFIDENCE": f"{winner['confidence']:g}"}
    assert training["settings_command"] == "small-object-detect choose-settings (test)"
    assert said.count("settings: ") == len(table) + 2  # each row, the choice, where it went
    assert metadata(twin)[1] == OLD  # --out: the model itself untouched
    assert _weights(out) == _weights(twin)


def _weights(path) -> bytes:
    """Everything but the metadata entries, as the file holds it."""
    from app.detector.onnx_file import GRAPH, fields

    return b"".join(bytes(v) for number, _, _, v in fields(path.read_bytes()) if number == GRAPH)


def test_a_run_on_every_frame_takes_its_twin_s_settings(sky, tmp_path):
    _, held = sky
    chosen = {"SLICING_TILE": "320", "DEFAULT_FLIP": "true", "DEFAULT_CONFIDENCE": "0.49"}
    table = [{"geometry": "trained", "mean_ap50": 0.6}]
    twin_record = record(val_images=held, settings_choice=table, **TWIN_FACTS)
    twin = model_file(tmp_path / "twin.onnx", twin_record, chosen)
    source = {"model": "twin.onnx", "held_out_images": 4, **TWIN_FACTS}
    every = model_file(tmp_path / "all.onnx", record(val_images=[], settings_from=source))
    code, said, stderr = choose(str(every), "--from", str(twin))
    assert code == 0, stderr
    training, settings = metadata(every)  # no --out: written into the model itself
    assert settings == chosen and training["settings_choice"] == table
    assert "chosen on twin.onnx's held-out images" in said


REFUSALS = [
    # (case, the model's record, the arguments after MODEL, words of the one-line refusal)
    ("held nothing out", record(val_images=[]), "images",
     "held nothing out (trained on every frame)"),
    ("other classes", record(val_images="held"), "images --classes drone",
     "was trained on airplane, bird, drone, helicopter; these labels give drone"),
    ("held-out images missing", record(val_images=["V_DRONE_999-00000.jpg"]), "images",
     "1 of the 1 images twin.onnx held out are not among these labelled images"),
    ("no record", None, "images", "no training record in it"),
    ("--from without settings_from", record(val_images=[]), "--from twin",
     "did not take its settings from a twin"),
    ("--from another run", record(val_images=[], settings_from=TWIN_FACTS | {"val_ap50": 0.4}),
     "--from twin",
     "other.onnx is not the run twin.onnx took its settings from (another run: its val_ap50"),
    ("--from with images", record(val_images=[]), "images --from twin",
     "--from TWIN takes no IMAGES_DIR, --labels or --classes"),
    ("neither", record(val_images="held"), "", "give IMAGES_DIR and --labels (or --from TWIN)"),
]  # fmt: skip


@pytest.mark.parametrize(("training", "rest", "words"), [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])  # fmt: skip
def test_what_cannot_be_chosen_again_is_refused_in_one_line(sky, tmp_path, training, rest, words):
    root, held = sky
    twin_path = tmp_path / "twin.onnx"
    if training is None:
        write_with_metadata(shared_path("models", "yolox_nano.onnx"), twin_path, {})
    else:
        if training.get("val_images") == "held":
            training = training | {"val_images": held}
        model_file(twin_path, training)
    other = model_file(tmp_path / "other.onnx", record(val_images=held, settings_choice=[],
                                                        **TWIN_FACTS))  # fmt: skip
    argv = {"images": [str(root / "images"), "--labels", str(root / "labels")],
            "twin": [str(other)]}  # fmt: skip
    args = [str(twin_path)]
    for word in rest.split():
        args += argv.get(word, [word])
    before = twin_path.read_bytes()
    code, _, stderr = choose(*args)
    assert code == 2 and stderr.startswith("error: ") and stderr.count("\n") == 1
    assert words in stderr, stderr
    assert twin_path.read_bytes() == before


def test_a_file_that_is_not_a_model_is_refused(tmp_path, sky):
    root, _ = sky
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    code, _, stderr = choose(str(junk), str(root / "images"), "--labels", str(root / "labels"))
    assert code == 2 and "junk.onnx: not an ONNX model" in stderr
