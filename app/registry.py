"""The models one process serves, by name: which files they are, and loading each once.

Every `*.onnx` file in MODELS_DIR is a model named by its file stem; MODEL_PATH names the
default (a file in MODELS_DIR or elsewhere). MODELS_DIR keeps to itself: a file or link there
whose real path is outside it stops start-up, unless MODELS_ALLOW_LINKS_OUT says links out are
meant; a dangling link or a folder named *.onnx is logged as not served. The default loads at
cold start (create_app); the others load on first use, once per process, under a lock of their
own, so concurrent first requests wait for one load instead of loading twice. A model that
fails to load stays failed (it is not retried on every request): it answers 503
model_unavailable naming its file, and the other models keep serving.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import NOT_MODELS, Settings, settings_for_model
from .detector import ConfigError, InvalidRequest, Model, ModelError, load_model
from .detector.onnx_file import FileFacts, describe_file
from .locations import BUNDLED_MODELS_DIR

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def scan_models_dir(models_dir: Path, *, allow_links_out: bool = False) -> dict[str, Path]:
    """{name: path} for every *.onnx model file in models_dir ({} when it does not exist).

    Raises ConfigError naming the first file whose stem is not a valid model name, or (unless
    allow_links_out) whose real path is outside models_dir. Entries that are no model file (a
    dangling link, a folder) are logged as warnings and left out.
    """
    if not models_dir.is_dir():
        return {}
    root = models_dir.resolve()
    found = {}
    for path in sorted(models_dir.glob("*.onnx")):
        if path.name.endswith(NOT_MODELS):
            continue
        problem = _not_a_file(path)
        if problem:
            log.warning("MODELS_DIR %s: %s %s; it is not served", models_dir, path.name, problem)
            continue
        if not allow_links_out and not path.resolve().is_relative_to(root):
            raise ConfigError(
                f"The model file {path.name} in MODELS_DIR ({models_dir}) is a link to "
                f"{path.resolve()}, outside the folder: models are served from MODELS_DIR only. "
                "Put the file itself there, or set MODELS_ALLOW_LINKS_OUT=true if models are "
                "mounted elsewhere on purpose."
            )
        if not MODEL_NAME.fullmatch(path.stem):
            raise ConfigError(
                f"The model file {path.name} in MODELS_DIR ({models_dir}) has no valid model "
                "name: a file stem must be 1-64 of a-z, 0-9, '.', '_' or '-', starting with a "
                "letter or digit. Rename or remove it."
            )
        found[path.stem] = path
    return found


def _not_a_file(path: Path) -> str | None:
    """Why path is not a model file (a dangling link, a folder...), or None when it is one."""
    if path.is_file():
        return None
    if path.is_symlink() and not path.exists():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"is a link to {target}, which does not exist (or loops)"
    return "is a folder, not a model file" if path.is_dir() else "is not a regular file"


@dataclass(frozen=True)
class Served:
    """A loaded model and the settings its requests start from (its recommended ones applied)."""

    model: Model
    settings: Settings


class ModelRegistry:
    """Model names -> files, and the models loaded so far (thread-safe, each at most once)."""

    def __init__(
        self,
        settings: Settings,
        paths: dict[str, Path],
        default: str,
        *,
        loader: Callable[..., Model] = load_model,
        default_model: Model | None = None,
    ) -> None:
        self.base_settings = settings  # before any model's recommended settings
        self.paths = dict(paths)
        self.default = default
        self._loader = loader
        self._served: dict[str, Served | ModelError] = {}
        self._locks = {name: threading.Lock() for name in self.paths}
        self._given = {default: default_model} if default_model is not None else {}
        self._facts: dict[str, FileFacts | None] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, default_model: Model | None = None, **kwargs
    ) -> ModelRegistry:
        """MODELS_DIR's models plus MODEL_PATH, which names the default (and wins its name).
        default_model: the default, already loaded (its own name and file then count)."""
        paths = model_files(settings)
        if default_model is not None:
            default = default_model.info.name
            paths[default] = default_model.path or settings.model_path
        else:
            default = settings.model_path.stem
            paths[default] = settings.model_path
        return cls(settings, paths, default, default_model=default_model, **kwargs)

    @property
    def names(self) -> tuple[str, ...]:
        """Every model's name, the default first."""
        return (self.default, *sorted(name for name in self.paths if name != self.default))

    def is_loaded(self, name: str) -> bool:
        return isinstance(self._served.get(name), Served)

    def check_name(self, name: str) -> None:
        """InvalidRequest (unknown_model) listing the names when name is not one of them."""
        if name not in self.paths:
            raise unknown_model(name, self.names)

    def get(self, name: str) -> Served:
        """The model called name, loaded on first use; ModelError if it cannot be loaded."""
        self.check_name(name)
        served = self._served.get(name)
        if served is None:
            with self._locks[name]:  # the first caller loads; the others wait and reuse it
                served = self._served.get(name)
                if served is None:
                    served = self._served[name] = self._load(name)
        if isinstance(served, ModelError):
            raise served.with_traceback(None)  # the same error each time, its traceback fresh
        return served

    def facts(self, name: str) -> FileFacts | None:
        """What the file of the model called name says, read once without loading it (GET
        /models); None when it cannot be read. The default's MODEL_FORMAT and MODEL_LABELS
        apply, as they do to its load."""
        if name not in self._facts:
            settings, path = self.base_settings, self.paths[name]
            default = name == self.default
            try:
                self._facts[name] = describe_file(
                    path,
                    layout=settings.model_format if default else None,
                    labels_path=settings.model_labels if default else None,
                )
            except (ModelError, ConfigError):  # a missing or broken file: its load says why
                self._facts[name] = None
        return self._facts[name]

    def _load(self, name: str) -> Served | ModelError:
        settings, path = self.base_settings, self.paths[name]
        try:
            model = self._given.pop(name, None) or self._loader(
                path,
                # MODEL_FORMAT and MODEL_LABELS describe the default model's file only.
                layout=settings.model_format if name == self.default else None,
                labels_path=settings.model_labels if name == self.default else None,
                threads=settings.model_threads,
            )
            served = Served(model, settings_for_model(settings, model.info))
        except (ModelError, ConfigError) as exc:
            if name != self.default:  # the default's failure is create_app's to report
                log.error("model %s (%s) unavailable: %s", name, path, exc.message)
            failure = unavailable(name, path)
            failure.__cause__ = exc  # create_app's fail-fast start-up shows the reason itself
            return failure
        log.info("model %s loaded from %s", name, path)
        return served


def model_file(value: str | Path, settings: Settings) -> Path:
    """A command's --model: a model's name (MODELS_DIR, or MODEL_PATH's) or an ONNX file path.

    A value that is neither a served name nor looks like a path (an existing file, a .onnx
    name, a folder in it) is a ConfigError listing the names, rather than "file not found".
    """
    text = str(value)
    paths = {**model_files(settings), settings.model_path.stem: settings.model_path}
    if text in paths and not Path(text).is_file():
        return paths[text]
    path = Path(text)
    if path.is_file() or text.endswith(".onnx") or len(path.parts) > 1:
        return path
    raise ConfigError(
        f"--model {text[:64]!r} is neither a model in MODELS_DIR ({settings.models_dir}) nor "
        f"an ONNX file; the models: {', '.join(sorted(paths))}."
    )


def model_files(settings: Settings) -> dict[str, Path]:
    """{name: path} of every model served by name besides MODEL_PATH: the ones a pip-installed
    wheel carries (app/locations.py), then MODELS_DIR's, which win a name they share."""
    in_dir = scan_models_dir(settings.models_dir, allow_links_out=settings.models_allow_links_out)
    return {**scan_models_dir(BUNDLED_MODELS_DIR), **in_dir}


def unavailable(name: str, path: Path) -> ModelError:
    return ModelError(
        f"The model {name!r} (file {path.name}) failed to load, so it cannot answer; see the "
        "server log. The other models still serve."
    )


def unknown_model(name: object, names: tuple[str, ...]) -> InvalidRequest:
    return InvalidRequest(
        f"Unknown model {str(name)[:64]!r}; available: {', '.join(names)} (GET /models).",
        code="unknown_model",
    )
