"""Session set-up for speed: thread count from the CPUs available, the pre-optimised model copy."""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest

from app.cli import optimize_model
from app.detector import load_model
from app.detector.cpus import usable_cpus, whole_cpus
from app.detector.model import (
    optimized_path,
    save_optimized,
    session_options,
    session_source,
)
from tests.conftest import shared_path


@pytest.mark.parametrize(
    ("cpus", "lambda_memory_mb", "expected"),
    [
        (2, None, 2),  # not on Lambda: every CPU in the affinity mask
        (1, None, 1),
        (2, "128", 1),  # Lambda shows 2 CPUs but sells a fraction of one
        (2, "1024", 1),  # 0.58 vCPU
        (2, "2048", 1),  # 1.16 vCPU
        (2, "3008", 2),  # 1.70 vCPU
        (6, "10240", 6),  # 5.8 vCPU
        (4, "5307", 3),  # exactly 3 vCPU
        (1, "10240", 1),  # never more threads than CPUs
        (2, "not-a-number", 2),
        (2, "", 2),
    ],
)
def test_usable_cpus_table(monkeypatch, cpus, lambda_memory_mb, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    environ = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": lambda_memory_mb} if lambda_memory_mb else {}
    assert usable_cpus(environ) == expected


@pytest.fixture
def model_copy(tmp_path):
    """The default model copied to a scratch folder, where its optimised copy may be written."""
    path = tmp_path / "yolox_nano.onnx"
    shutil.copyfile(shared_path("models", "yolox_nano.onnx"), path)
    return path


def outputs(model, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    batch = rng.random((1, 3, *model.info.input_wh[::-1]), dtype=np.float32) * 255
    return model.run(batch)


def test_pre_optimised_copy_is_used_and_gives_the_same_outputs(model_copy):
    original = load_model(model_copy)
    assert session_source(model_copy) == model_copy

    written = save_optimized(model_copy)

    assert written == optimized_path(model_copy) and written.is_file()
    assert session_source(model_copy) == written
    optimised = load_model(model_copy)
    assert optimised.info == original.info  # name, labels and layout still come from the model
    np.testing.assert_allclose(outputs(optimised), outputs(original), rtol=1e-4, atol=1e-3)


def test_a_stale_or_damaged_copy_is_ignored(model_copy, caplog):
    written = save_optimized(model_copy)
    stat = written.stat()
    os.utime(model_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # model replaced
    assert session_source(model_copy) == model_copy

    written.write_bytes(b"\x08not an onnx model")  # newer again, but unloadable
    os.utime(written, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    with caplog.at_level(logging.WARNING, logger="app.detector.model"):
        model = load_model(model_copy)
    assert model.info.name == "yolox_nano"
    assert "ignoring the pre-optimised" in caplog.text


def test_optimize_model_command(model_copy, tmp_path, capsys):
    assert optimize_model.main([str(model_copy)]) == 0
    assert optimized_path(model_copy).is_file()
    assert str(optimized_path(model_copy)) in capsys.readouterr().out

    assert optimize_model.main([str(tmp_path / "missing.onnx")]) == 1
    assert "Model file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("cpus", "lambda_memory_mb", "threads", "allow_spinning", "expected_threads", "expected_spin"),
    [
        (2, None, None, None, 2, "1"),  # 2 CPUs of its own: the pool may spin
        (2, None, 1, None, 1, "0"),  # MODEL_THREADS=1: no pool to spin
        (2, None, 3, None, 3, "0"),  # MODEL_THREADS beyond the CPUs: spinning would starve
        (1, None, None, None, 1, "0"),
        (2, "3008", None, None, 2, "0"),  # 1.7 vCPU: 2 threads, but only 1 whole CPU
        (4, "3538", None, None, 2, "1"),  # exactly 2 vCPU
        (2, "1024", None, None, 1, "0"),
        (2, None, None, False, 2, "0"),  # explicit choices (the benchmark's A/B) win
        (2, "1024", 2, True, 2, "1"),
    ],
)
def test_session_options(
    monkeypatch, cpus, lambda_memory_mb, threads, allow_spinning, expected_threads, expected_spin
):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    if lambda_memory_mb:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", lambda_memory_mb)
    else:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    options = session_options(threads, allow_spinning=allow_spinning)
    assert options.intra_op_num_threads == expected_threads
    assert options.inter_op_num_threads == 1
    spinning = options.get_session_config_entry("session.intra_op.allow_spinning")
    assert spinning == expected_spin


@pytest.mark.parametrize(
    ("cpus", "lambda_memory_mb", "expected"),
    [(2, None, 2), (2, "1769", 1), (2, "3008", 1), (2, "3538", 2), (8, "10240", 5), (1, "3538", 1)],
)
def test_whole_cpus_table(monkeypatch, cpus, lambda_memory_mb, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    environ = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": lambda_memory_mb} if lambda_memory_mb else {}
    assert whole_cpus(environ) == expected
