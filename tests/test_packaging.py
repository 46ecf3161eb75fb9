"""The package as pip sees it: pyproject.toml declares what requirements.txt pins (so that
`pip install .` gives a console script that runs), the licence, and the files beside the code."""

from __future__ import annotations

import fnmatch
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pinned(path: str) -> dict[str, str]:
    """name -> pinned version of a requirements file's own lines (no -r includes)."""
    pins = {}
    for line in (REPO_ROOT / path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, version = re.fullmatch(r"([A-Za-z0-9._-]+)==([\w.]+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def declared() -> dict[str, Requirement]:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in requirements}


def test_pyproject_declares_every_runtime_pin_and_nothing_else():
    pins, ranges = pinned("requirements.txt"), declared()
    assert len(pins) >= 8  # the parse saw the file
    assert sorted(ranges) == sorted(pins), "pyproject.toml dependencies != requirements.txt"


def test_each_declared_range_holds_its_pin():
    pins = pinned("requirements.txt")
    outside = {name: (str(r.specifier), pins[name]) for name, r in declared().items()
               if name in pins and not r.specifier.contains(pins[name])}  # fmt: skip
    assert not outside, f"range excludes the pin: {outside}"


def test_ranges_are_ranges_not_pins():
    """Pins belong in requirements.txt; a library pinned here would fight other installs."""
    exact = [str(r) for r in declared().values() if any(s.operator == "==" for s in r.specifier)]
    assert not exact


def test_licence_is_declared_and_shipped():
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a notice
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert "LICENSE" in project["license-files"]
    backend = " ".join(PYPROJECT["build-system"]["requires"])
    major = int(re.search(r"setuptools>=(\d+)", backend).group(1))
    assert major >= 77  # the first setuptools that reads an SPDX licence and license-files


def test_files_the_app_reads_are_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]
    data = [p for p in (REPO_ROOT / "app").rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"}]  # fmt: skip
    assert data  # the static files of the demo and docs pages at least

    def shipped(path) -> bool:
        for package, patterns in globs.items():
            folder = REPO_ROOT.joinpath(*package.split("."))
            if path.is_relative_to(folder):
                relative = path.relative_to(folder).as_posix()
                if any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
                    return True
        return False

    missing = [str(p.relative_to(REPO_ROOT)) for p in data if not shipped(p)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_console_script_is_the_cli():
    assert PYPROJECT["project"]["scripts"] == {"small-object-detect": "app.__main__:main"}
