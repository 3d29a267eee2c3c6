"""Old import paths keep working: ``chainrule.losses`` is ``chainrule.nn.losses``, and so on.

chainrule's modules were grouped into packages (nn, optim, data, io, fast, train, model, learn).
A finder on ``sys.meta_path`` answers an import of an old path with the module at its new path,
imported on demand, so ``from chainrule.network import to_engine`` and
``import chainrule.layers.dense`` still run and give the very same module objects.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path -> new module path
MOVED: dict[str, str] = {
    "chainrule.layers": "chainrule.nn",
    "chainrule.layers.base": "chainrule.nn.layer",
    "chainrule.activations": "chainrule.nn.functional",
    "chainrule.init": "chainrule.nn.init",
    "chainrule.losses": "chainrule.nn.losses",
    "chainrule.optimizers": "chainrule.optim",
    "chainrule.datasets": "chainrule.data",
    "chainrule.targets": "chainrule.data.targets",
    "chainrule.standardize": "chainrule.data.standardize",
    "chainrule.serialization": "chainrule.model.files",
    "chainrule.onnx_export": "chainrule.io.onnx",
    "chainrule.blas": "chainrule.fast.blas",
    "chainrule.training": "chainrule.train.fit",
    "chainrule.checkpoint": "chainrule.train.checkpoint",
    "chainrule.diagnostics": "chainrule.train.diagnostics",
    "chainrule.progress": "chainrule.train.progress",
    "chainrule.network": "chainrule.model.network",
    "chainrule.builders": "chainrule.model.builders",
    "chainrule.builders_cnn": "chainrule.model.cnn",
    "chainrule.gradcheck": "chainrule.learn.gradcheck",
    "chainrule.explain": "chainrule.learn.explain",
    "chainrule.bench": "chainrule.learn.lab",
    "chainrule.loops": "chainrule.learn.loops",
}
for _name in ("dense", "activation", "conv", "im2col", "pool", "flatten", "dropout", "batchnorm"):
    MOVED[f"chainrule.layers.{_name}"] = f"chainrule.nn.{_name}"
for _name in ("base", "csv", "fashion_mnist", "mnist", "mnist1d", "sklearn_data", "toy"):
    MOVED[f"chainrule.datasets.{_name}"] = f"chainrule.data.{_name}"
for _name in ("conv", "costs", "dense", "pool"):
    MOVED[f"chainrule.loops.{_name}"] = f"chainrule.learn.loops.{_name}"


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path by importing its new one and handing back that module."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the import machinery overwrites __spec__ ...
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at the new path is already imported."""
        module.__spec__ = module.__spec__.loader_state  # ... so the module gets its own back


def install() -> None:
    """Put the finder FIRST on ``sys.meta_path``, once: the path finder would otherwise find
    ``chainrule/nn/dense.py`` through the alias package's ``__path__`` and run it a second time
    under the old name (a second ``Dense`` class)."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModules())
