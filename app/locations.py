"""Where model files live: a checkout's (or the Lambda image's) `model/` folder beside `app/`, or,
for a `pip install`, a per-user data folder; and the models the wheel itself carries.

MODELS_DIR and MODEL_PATH (app/config.py) win over both. A wheel never writes into its own
installation: `fetch-model` puts the default model in the per-user folder instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent  # app/
REPO_ROOT = PACKAGE_ROOT.parent  # a checkout, the Lambda task root, or site-packages
DATA_FOLDER = "small-object-detect"
DEFAULT_MODEL_NAME = "yolox_nano.onnx"  # the COCO model `fetch-model` puts in place
# Our own models (model/<name>.onnx with a model card model/<name>.md) as the wheel carries
# them: setup.py copies them here at build time. Absent in a checkout and the Lambda image,
# whose model/ folder holds them.
BUNDLED_MODELS_DIR = PACKAGE_ROOT / "bundled_models"


def is_installed(root: Path = REPO_ROOT) -> bool:
    """Whether app/ is an installed package (in site-packages) rather than a source tree."""
    return root.name in ("site-packages", "dist-packages")


def user_models_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_DATA_HOME/small-object-detect/models, or ~/.local/share/... (the XDG rule: a
    relative XDG_DATA_HOME is ignored)."""
    data_home = environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(data_home):
        data_home = os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / DATA_FOLDER / "models"


def default_models_dir(root: Path = REPO_ROOT, environ: Mapping[str, str] = os.environ) -> Path:
    """`model/` beside app/ in a source tree (a checkout, the Lambda image); the per-user
    data folder for an installed package, where nothing of the project's own is writable."""
    return user_models_dir(environ) if is_installed(root) else root / "model"


DEFAULT_MODELS_DIR = default_models_dir()
DEFAULT_MODEL_PATH = DEFAULT_MODELS_DIR / DEFAULT_MODEL_NAME
