"""Rules of the code base that a reviewer would otherwise have to remember: small modules in
app/, and no tracker numbers in comments, docstrings or docs (a reader cannot look them up)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

MAX_MODULE_LINES = 300
# A ticket cited by number: one of these words, then digits (with or without a hash sign).
TRACKER_WORDS = re.compile(r"\b(?:issues?|tickets?|bugs?|PRs?|pull requests?)\s*#?\d+\b", re.I)
# A hash sign then digits inside a comment (not a colour, nor an anchor such as page#1).
TRACKER_HASH = re.compile(r"(?<![\w&/#])#\d+\b(?![0-9a-fA-F])")
CHECKED_TREES = ("app", "tests", "bench", "scripts", "docs")
CHECKED_FILES = (
    "handler.py",
    "README.md",
    "Dockerfile",
    "pyproject.toml",
    "serverless.yml",
    "mkdocs.yml",
    ".ci/run",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-docs.txt",
    "requirements-bench.txt",
)
HASH_COMMENTED = {".sh", ".txt", ".toml", ".yml", ".yaml"}
SKIPPED_PARTS = {"__pycache__", "fixtures", "img"}  # recorded events and generated plots


def app_modules() -> list[Path]:
    return sorted((REPO_ROOT / "app").rglob("*.py"))


def checked_files() -> list[Path]:
    files = [REPO_ROOT / name for name in CHECKED_FILES if (REPO_ROOT / name).is_file()]
    for tree in CHECKED_TREES:
        for path in sorted((REPO_ROOT / tree).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS & set(path.relative_to(REPO_ROOT).parts):
                files.append(path)
    files += sorted((REPO_ROOT / "tests" / "fixtures").rglob("*.md"))  # prose among the data
    return [path for path in files if path.suffix not in {".png", ".svg", ".onnx", ".jpg"}]


def prose_of(path: Path, text: str) -> list[tuple[int, str, bool]]:
    """(line, text, is_a_comment) of what a reader reads as prose in this file."""
    if path.suffix == ".py":
        return python_prose(text)
    if path.suffix in {".sh", ".txt", ".toml", ".yml", ".yaml"} or path.name in {
        "run",
        "Dockerfile",
    }:
        return [
            (number, line.split("#", 1)[1], True)
            for number, line in enumerate(text.splitlines(), 1)
            if "#" in line
        ]
    return [(number, line, False) for number, line in enumerate(text.splitlines(), 1)]


def python_prose(text: str) -> list[tuple[int, str, bool]]:
    """Comments and docstrings (module, class, function) of a Python file."""
    found = [
        (token.start[0], token.string.lstrip("#"), True)
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring and node.body:
                found.append((node.body[0].lineno, docstring, False))
    return found


def tracker_numbers(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    hits = []
    for line, prose, is_comment in prose_of(path, text):
        matches = TRACKER_WORDS.findall(prose)
        if is_comment:
            matches += TRACKER_HASH.findall(prose)
        hits += [f"{path.relative_to(REPO_ROOT)}:{line}: {match}" for match in matches]
    return hits


def test_no_app_module_passes_the_line_limit():
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in app_modules()}
    too_long = {str(p.relative_to(REPO_ROOT)): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert len(sizes) > 30  # the check saw the package
    assert not too_long, f"split these by idea (at most {MAX_MODULE_LINES} lines): {too_long}"


def test_no_tracker_numbers_in_comments_docstrings_or_docs():
    files = checked_files()
    assert {"handler.py", "README.md"} <= {path.name for path in files}
    hits = [hit for path in files for hit in tracker_numbers(path)]
    assert not hits, "say what and why instead of citing the tracker:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.py", "x = 1  # see issue 5\n", ["issue 5"]),
        ("a.py", '"""Owns X (Issue #12)."""\n', ["Issue #12"]),
        ("a.py", "def f():\n    '''Fixed in PR 40.'''\n", ["PR 40"]),
        ("a.py", "x = 1  # as asked in #17\n", ["#17"]),
        ("a.py", 'COLOURS = ["#1a9334"]  # red, green\nmsg = "issue 5"\n', []),
        ("a.py", "x = 1  # 2 issues, 3 bugs: none numbered; page#1\n", []),
        ("a.sh", "# Issue 7: fuzzing\necho '#3'\n", ["Issue 7"]),
        ("a.md", "## Made by SAM (issue 12)\n", ["issue 12"]),
    ],
)
def test_tracker_number_check_catches_what_it_should(tmp_path, monkeypatch, name, text, expected):
    monkeypatch.setattr("tests.test_code_rules.REPO_ROOT", tmp_path)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert [hit.rsplit(": ", 1)[1] for hit in tracker_numbers(path)] == expected


def test_line_limit_check_counts_lines(tmp_path, monkeypatch):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    monkeypatch.setattr("tests.test_code_rules.REPO_ROOT", tmp_path)
    [module] = app_modules()
    assert len(module.read_text().splitlines()) > MAX_MODULE_LINES


# Options are validated without an image through parse_detect_options (or the service's
# options()): an empty stand-in image passed to the whole-request parser hides that intent.
STAND_IN_IMAGE = re.compile(r"image_bytes\s*=\s*b(?:\"\"|'')")


def test_no_stand_in_image_validates_options():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for tree in ("app", "bench", "scripts")
        for path in sorted((REPO_ROOT / tree).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if STAND_IN_IMAGE.search(line)
    ]
    assert offenders == [], f"use parse_detect_options / DetectionService.options: {offenders}"


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('parse(p, s, m, max_image_bytes=1, image_bytes=b"")', True),
        ("parse(p, s, m, image_bytes = b'')", True),
        ("parse(p, s, m, image_bytes=path.read_bytes())", False),
    ],
)
def test_the_stand_in_check_finds_what_it_should(line, found):
    assert bool(STAND_IN_IMAGE.search(line)) is found
