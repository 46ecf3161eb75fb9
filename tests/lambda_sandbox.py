"""Lambda's file system, as far as a process here can have it: the task root laid out by
scripts/lambda_task_root.sh (the Dockerfile's own layout step) and made read-only, a HOME that
cannot be written, and one fresh folder standing in for /tmp, the only place to write.

How: the function runs as a user id of its own, which no account or process here has (setpriv,
so root is needed), and every folder of the sandbox but the /tmp stand-in belongs to root
without write permission for others; elsewhere that user may write only where anyone may (the
system's /tmp, /var/tmp, /dev/shm), and `writes_outside_tmp` finds any file it left there (so
a write to the literal path /tmp counts as outside: the stand-in is TMPDIR, which `tempfile`
follows). The one capability it keeps, CAP_DAC_READ_SEARCH, lets it read and traverse (the
interpreter may sit under a 0700 /root, as pyenv's does), never write.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO_ROOT

LAYOUT_SCRIPT = REPO_ROOT / "scripts" / "lambda_task_root.sh"
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")
FIRST_UID = 40_000


class SandboxUnavailable(Exception):
    """Why the function cannot be run as Lambda runs it on this machine."""


def check_requirements() -> None:
    """Raise SandboxUnavailable naming what is missing."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("running the function as another user needs root (setpriv)")
    if shutil.which("setpriv") is None:
        raise SandboxUnavailable("setpriv (util-linux) is not installed")
    try:
        import awslambdaric  # noqa: F401
    except ImportError:
        raise SandboxUnavailable("awslambdaric is not installed (requirements-dev.txt)") from None


@dataclass(frozen=True)
class Sandbox:
    base: Path  # holds everything below; removed by `remove`
    task_root: Path
    home: Path
    tmp: Path
    uid: int

    @classmethod
    def create(cls, models: str, model_files: Sequence[Path] = ()) -> Sandbox:
        """Lay out a task root serving `models` (the script's --models) from this checkout;
        the interpreter's own site-packages stand in for the requirements (--no-deps)."""
        check_requirements()
        base = Path(tempfile.mkdtemp(prefix="local-lambda-"))
        base.chmod(0o755)
        sandbox = cls(base, base / "task", base / "home", base / "tmp", _unused_uid())
        try:
            sandbox._build(models, model_files)
        except BaseException:
            sandbox.remove()
            raise
        return sandbox

    def _build(self, models: str, model_files: Sequence[Path]) -> None:
        args = ["--no-deps", "--models", models]
        for path in model_files:
            args += ["--model-file", str(path)]
        env = {**os.environ, "PYTHON": sys.executable}
        done = subprocess.run(
            ["sh", str(LAYOUT_SCRIPT), *args, str(self.task_root)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{LAYOUT_SCRIPT.name} failed:\n{done.stderr}")
        _read_only(self.task_root)
        self.home.mkdir(mode=0o555)
        self.tmp.mkdir(mode=0o700)
        os.chown(self.tmp, self.uid, self.uid)

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv run as the sandbox's user, with no groups and only CAP_DAC_READ_SEARCH."""
        drop = [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all,+dac_read_search",
            "--ambient-caps=-all,+dac_read_search",
        ]
        return [*drop, *argv]

    def writes_outside_tmp(self) -> list[str]:
        """Every file or folder the sandbox's user owns outside its /tmp stand-in."""
        return _owned_by(self.uid, [str(self.base), *WORLD_WRITABLE], pruned=str(self.tmp))

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _read_only(root: Path) -> None:
    """No write permission for anyone (root owns it, so the function's user could not have
    written anyway; this also holds for a folder its user might come to own)."""
    no_write = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for folder, _, files in os.walk(root):
        for path in (folder, *(os.path.join(folder, name) for name in files)):
            if not os.path.islink(path):  # a link has no permissions of its own
                os.chmod(path, os.stat(path).st_mode & no_write)


def _unused_uid() -> int:
    """A user id with no account, no process and no file where anyone may write, so that
    whatever it owns there afterwards, the function wrote."""
    used = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            used.add(os.stat(f"/proc/{pid}").st_uid)
        except FileNotFoundError:  # the process has ended since
            continue
    uid = FIRST_UID + os.getpid() % 10_000
    while uid in used or _has_account(uid) or _owned_by(uid, WORLD_WRITABLE):
        uid += 1
    return uid


def _owned_by(uid: int, roots: Sequence[str], pruned: str | None = None) -> list[str]:
    """What uid owns under roots (on their own file systems), leaving out `pruned`."""
    prune = ["-path", pruned, "-prune", "-o"] if pruned else []
    found = subprocess.run(
        ["find", *(r for r in roots if os.path.isdir(r)), "-xdev", *prune, "-uid", str(uid),
         "-print"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.split()


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
