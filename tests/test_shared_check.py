"""The test command stops, rather than skipping a third of the suite, when ../shared is absent
and CI is set: a green CI must never mean that the tests reading models and data did not run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SHARED, shared_missing_in_ci


def run_pytest(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """A real pytest run of a file whose tests need ../shared, with these variables."""
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_first_run.py"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_ci_run_without_shared_fails(tmp_path):
    done = run_pytest(tmp_path, CI="true", TEST_SHARED_DIR=str(tmp_path / "no-shared"))
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "CI is set" in output and str(tmp_path / "no-shared" / "models") in output
    assert " passed" not in output and " skipped" not in output  # stopped before any test


def test_a_local_run_without_shared_skips_with_the_reason(tmp_path):
    done = run_pytest(tmp_path, TEST_SHARED_DIR=str(tmp_path / "no-shared"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 skipped" in done.stdout and "is absent" in done.stdout


def test_ci_run_with_shared_runs(tmp_path):
    if not (SHARED / "models").is_dir():
        pytest.skip(f"{SHARED} is absent")
    done = run_pytest(tmp_path, CI="true", TEST_SHARED_DIR=str(SHARED))
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("ci", "layout", "stops"),
    [
        ("true", [], True),
        ("1", ["models"], True),  # data/ missing
        ("true", ["models", "data"], False),
        ("", [], False),
        ("false", [], False),
        ("0", [], False),
        (None, [], False),
    ],
)
def test_the_check(tmp_path, ci, layout, stops):
    for folder in layout:
        (tmp_path / folder).mkdir()
    environ = {} if ci is None else {"CI": ci}
    reason = shared_missing_in_ci(tmp_path, environ)
    assert (reason is not None) is stops
    if stops:
        assert "CI is set" in reason and "TEST_SHARED_DIR" in reason
