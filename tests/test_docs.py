"""The README and the docs site: short front door, links that resolve, nothing stale.

`mkdocs build --strict` (scripts/test.sh) checks the links between pages; these tests check
what it cannot: the README's own links, that every path and module the pages name exists, that
every table row has its header's cells, that the configuration page lists every setting, and
the generated API reference.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import pytest
import yaml

from app.config import REPO_ROOT, Settings
from app.http.openapi import ERROR_STATUSES

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# Repository paths as the pages spell them in backticks: app/..., bench/x.py, scripts/x.sh, ...
REPO_PATH = re.compile(r"`((?:app|bench|scripts|tests|examples|docs)/[\w./-]*\w)`")
MODULE = re.compile(r"python3? -m (app(?:\.\w+)*)")
DELIMITER_ROW = re.compile(r"\s*\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*")  # |---|:--:|


def _load_hook():
    path = DOCS / "hooks" / "api_reference.py"
    spec = importlib.util.spec_from_file_location("api_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    return [page for value in nav.values() for page in _nav_pages(value)]


def table_cells(row: str) -> list[str]:
    """A Markdown table row's cells: split on pipes, except escaped ones and those in code spans."""
    cells, cell, i = [], "", 0
    row = row.strip()
    while i < len(row):
        char = row[i]
        if char == "\\" and i + 1 < len(row):
            cell, i = cell + row[i : i + 2], i + 2
            continue
        if char == "`":
            fence = re.match(r"`+", row[i:]).group()
            close = row.find(fence, i + len(fence))
            if close != -1:  # a code span: its pipes are text
                cell, i = cell + row[i : close + len(fence)], close + len(fence)
                continue
        if char == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += char
        i += 1
    cells.append(cell)
    if row.startswith("|"):
        cells = cells[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        cells = cells[:-1]
    return [c.strip() for c in cells]


def tables(text: str) -> list[list[tuple[int, str]]]:
    """Each table (a row, then a |---| delimiter row, then rows) as (line number, row) pairs,
    outside fenced code blocks."""
    found, current, fenced = [], None, False
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not line.lstrip().startswith("|"):
            current = None
            continue
        if current is not None:
            current.append((number, line))
        elif number < len(lines) and DELIMITER_ROW.fullmatch(lines[number]):
            current = [(number, line)]
            found.append(current)
    return found


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda path: path.name)
def test_every_table_row_has_its_headers_cells(page):
    bad = []
    for table in tables(page.read_text(encoding="utf-8")):
        width = len(table_cells(table[0][1]))
        bad += [f"line {n}: {len(table_cells(row))} cells, header {width}"
                for n, row in table if len(table_cells(row)) != width]  # fmt: skip
    assert not bad, f"{page.name}: {bad}"


@pytest.mark.parametrize(
    ("row", "cells"),
    [
        ("| a | b |", ["a", "b"]),
        ("a | b", ["a", "b"]),
        ("| `x | y` | b |", ["`x | y`", "b"]),
        ("| ``a ` | b`` | c |", ["``a ` | b``", "c"]),
        ("| a \\| b | c |", ["a \\| b", "c"]),
        ("| `unclosed | b |", ["`unclosed", "b"]),
        ("|  | empty |", ["", "empty"]),
    ],
)
def test_table_cells_mind_escaped_pipes_and_code_spans(row, cells):
    assert table_cells(row) == cells


def test_tables_are_found_and_a_stray_row_counts():
    text = "x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |\n\n```\n| not | a | table |\n```\n"
    [table] = tables(text)
    assert [len(table_cells(row)) for _, row in table] == [2, 2, 2, 1]


def test_readme_is_a_short_front_door():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_readme_links_and_pictures_resolve():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert "docs/demo.png" in local
    missing = [target for target in local if not (REPO_ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.Loader)
    nav = _nav_pages(config["nav"])
    assert sorted(nav) == sorted(page.name for page in PAGES)


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda path: path.name)
def test_paths_and_modules_named_exist(page):
    text = page.read_text(encoding="utf-8")
    stale = [path for path in REPO_PATH.findall(text) if not (REPO_ROOT / path).exists()]
    for module in MODULE.findall(text):
        if importlib.util.find_spec(module) is None:
            stale.append(f"python -m {module}")
    assert not stale, f"{page.name} names what does not exist: {stale}"


def test_configuration_page_lists_every_setting():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))
    settings = {field.name.upper() for field in dataclasses.fields(Settings) if field.init}
    assert settings <= documented, f"undocumented settings: {sorted(settings - documented)}"


def test_api_reference_lists_every_route_and_error_code():
    hook = _load_hook()
    document = hook.build_document()
    reference = hook.render(document)
    for path, item in document["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in reference
    for _, codes in ERROR_STATUSES.values():
        for code in codes:
            assert f"`{code}`" in reference, code
    assert hook.MARKER in (DOCS / "api.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("schema", "spelled"),
    [
        ({"type": "number", "minimum": 0, "maximum": 1}, "number 0–1"),
        ({"enum": ["on", "off"]}, '`"on"` or `"off"`'),
        ({"type": "array", "items": {"$ref": "#/components/schemas/Box"}}, "array of Box"),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
            "string or integer 0–",
        ),
    ],
)
def test_reference_spells_schema_types(schema, spelled):
    assert _load_hook().type_of(schema) == spelled


@pytest.mark.parametrize("plot", sorted((DOCS / "img").glob("*.svg")), ids=lambda path: path.name)
def test_each_plot_names_its_command_and_machine_and_is_shown(plot):
    svg = plot.read_text(encoding="utf-8")
    assert re.search(r"\.venv/bin/python bench/\w+\.py", svg), "no command in the plot"
    assert re.search(r"\d+ of \d+ CPUs", svg), "no machine in the plot"
    shown = [page.name for page in PAGES if f"img/{plot.name}" in page.read_text("utf-8")]
    assert shown, f"{plot.name} is on no page"


def test_reference_degrades_to_a_note_when_the_app_cannot_be_imported(monkeypatch):
    hook = _load_hook()

    def unavailable():
        raise ImportError("No module named 'flask'")

    monkeypatch.setattr(hook, "build_document", unavailable)
    config = object()
    assert hook.on_config(config) is config
    assert hook.on_files([], config) == []  # no openapi.json to link to
    page = hook.on_page_markdown(f"# API\n\n{hook.MARKER}\n", None, config, [])
    assert hook.MARKER not in page
    assert "No module named 'flask'" in page
    assert "openapi.json](openapi.json)" not in page
