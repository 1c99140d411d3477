"""The module paths camlib had before it was grouped by role (``camlib.cam``, ``camlib.localize``, ...),
kept working: committed student tests, autograders already handed out and old notebooks import them.

``import camlib.cam`` returns ``camlib.methods.cam`` itself (the same module object, so its private
names and monkeypatching work too). ``camlib.vit`` and ``camlib.imagenet`` were split in two; their old
path gives a module that holds the names of both halves. New code imports the new paths or the flat
``from camlib import ...`` (docs/design.md).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

MOVED = {
    "cam": "camlib.methods.cam", "gradcam": "camlib.methods.gradcam", "attribution": "camlib.methods.attribution",
    "transfer": "camlib.methods.transfer", "localize": "camlib.metrics.localize", "floors": "camlib.metrics.floors",
    "faithfulness": "camlib.metrics.faithfulness", "sanity": "camlib.metrics.sanity",
    "pretrained": "camlib.models.pretrained", "photos": "camlib.data.photos", "network": "camlib.data.download",
    "finetune": "camlib.train.finetune", "mnist": "camlib.lab.mnist_recipe", "wsol": "camlib.lab.wsol",
    "viz": "camlib.lab.viz", "widgets": "camlib.lab.widgets", "exercises": "camlib.lab.exercises",
    "launch": "camlib.lab.launch",
}
SPLIT = {"vit": ("camlib.models.vit", "camlib.methods.token_cams"),
         "imagenet": ("camlib.data.ilsvrc", "camlib.metrics.ilsvrc")}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A finder for ``camlib.<old name>`` that hands back the module it moved to."""

    def __init__(self):
        self.specs = {}

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package == "camlib" and (name in MOVED or name in SPLIT):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        name = spec.name.partition(".")[2]
        if name in MOVED:
            module = importlib.import_module(MOVED[name])
            # After create_module the import system writes the alias's spec onto the module it got back;
            # exec_module puts the module's own spec back, so importlib.reload and tools that read
            # __spec__ still see camlib.methods.cam, not camlib.cam.
            self.specs[module.__name__] = module.__spec__
            return module
        merged = types.ModuleType(spec.name, f"{spec.name}: moved to {' and '.join(SPLIT[name])}")
        for part in SPLIT[name]:
            merged.__dict__.update({k: v for k, v in vars(importlib.import_module(part)).items()
                                    if not k.startswith("__")})
        return merged

    def exec_module(self, module):
        """Nothing to run: the module was imported (or merged) whole. Its own spec is put back."""
        if module.__name__ in self.specs:
            module.__spec__ = self.specs.pop(module.__name__)


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
