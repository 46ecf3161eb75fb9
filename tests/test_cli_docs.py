"""docs/cli.md against the parsers: each command it shows answers --help, and every option
each command's parser has is written in the page (a new flag without a word there fails)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re

import pytest

from app.__main__ import build_parser, main
from tests.conftest import REPO_ROOT

PAGE = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
SHOWN = sorted(set(re.findall(r"^\.venv/bin/small-object-detect ([a-z-]+)", PAGE, re.M)))


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def spellings(action: argparse.Action) -> set[str]:
    """How the page may write an option: any of its long names, or --[no-]x for a pair."""
    names = {name for name in action.option_strings if name.startswith("--")}
    if isinstance(action, argparse.BooleanOptionalAction):
        names |= {name.replace("--", "--[no-]", 1) for name in names if "--no-" not in name}
    return names


def test_the_page_shows_every_command():
    assert len(SHOWN) >= 8 and sorted(commands()) == SHOWN


@pytest.mark.parametrize("command", SHOWN)
def test_each_command_shown_answers_help(command):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and out.getvalue().startswith("usage: small-object-detect")


@pytest.mark.parametrize("command", SHOWN)
def test_every_option_of_the_parser_is_documented(command):
    options = [
        a for a in commands()[command]._actions if a.option_strings and a.help != "==SUPPRESS=="
    ]
    missing = [
        "/".join(sorted(spellings(a)))
        for a in options
        if a.dest != "help"
        and not any(re.search(re.escape(s) + r"(?![\w-])", PAGE) for s in spellings(a))
    ]
    assert not missing, f"docs/cli.md does not mention {command}'s {', '.join(missing)}"
