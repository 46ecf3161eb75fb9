"""The one build step pyproject.toml cannot say: our own models ship inside the wheel.

Each model/<name>.onnx that has a model card, model/<name>.md (ours, kept in git; not the
fetched COCO model), is copied to app/bundled_models/ in the wheel, where app/locations.py
finds it, so that `pip install .` answers `--model <name>` from any folder. Everything else
about the package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "model"


def own_models() -> list[Path]:
    return sorted(p for p in MODELS.glob("*.onnx") if p.with_suffix(".md").is_file())


class BuildWithModels(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "app", "bundled_models")
        for model in own_models():
            self.mkpath(str(target))
            self.copy_file(str(model), str(target / model.name))


setup(cmdclass={"build_py": BuildWithModels})
