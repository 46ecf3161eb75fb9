"""`python -m app models`: the models MODELS_DIR holds, by the names requests pick them with."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO


def add_models_command(commands) -> None:
    cmd = commands.add_parser(
        "models",
        help='list the models in MODELS_DIR (the names POST /detect\'s "model" takes)',
        description="List every model the server would serve: each *.onnx file in MODELS_DIR "
        "by its file stem (and those a pip install carries), and MODEL_PATH's, the default. "
        "Nothing is loaded. Exit status 1 when the default model's file is missing.",
    )
    cmd.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    cmd.set_defaults(func=models_main)


def list_models(as_json: bool, stdout: TextIO, stderr: TextIO) -> int:
    from ..config import Settings
    from ..detector import DetectionError
    from ..registry import ModelRegistry

    try:
        registry = ModelRegistry.from_settings(Settings.from_env(os.environ))
    except DetectionError as exc:
        stderr.write(f"error: {exc.message}\n")
        return 2
    rows = []
    for name in registry.names:
        path = registry.paths[name]
        size_mb = round(path.stat().st_size / 1e6, 1) if path.is_file() else None
        rows.append(
            {
                "name": name,
                "path": str(path),
                "size_mb": size_mb,
                "default": name == registry.default,
            }
        )
    models_dir = registry.base_settings.models_dir
    if as_json:
        stdout.write(json.dumps({"models_dir": str(models_dir), "models": rows}) + "\n")
    else:
        stdout.write(f"MODELS_DIR {models_dir}\n")
        for row in rows:
            size = "missing" if row["size_mb"] is None else f"{row['size_mb']} MB"
            mark = "  (default)" if row["default"] else ""
            stdout.write(f"{row['name']:<24} {size:>10}  {row['path']}{mark}\n")
    default = registry.paths[registry.default]
    if not default.is_file():
        stderr.write(
            f"error: the default model {default} is missing: run `small-object-detect "
            "fetch-model` (or set MODEL_PATH to an ONNX file).\n"
        )
        return 1
    return 0


def models_main(args: argparse.Namespace) -> int:
    return list_models(args.json, sys.stdout, sys.stderr)
