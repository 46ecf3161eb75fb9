"""The README and the docs site: short front door, links that resolve, nothing stale.

`mkdocs build --strict` (scripts/test.sh) checks the links between pages; these tests check
what it cannot: the README's own links, that every path and module the pages name exists, that
the configuration page lists every setting, and the generated API reference.
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
