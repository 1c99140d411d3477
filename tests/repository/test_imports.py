"""The import audit: every third-party module that camlib or a notebook imports is declared where it runs.

Every ``import`` counts, at module level or inside a function, and a notebook reaches every camlib
module it imports, and every camlib module those import, and so on. Where each is declared:

- camlib as a whole (the student build and ``make book`` included): the core dependencies or the
  ``notebooks`` extra, which ``make lab``, ``environment.yml`` and Binder install;
- a notebook: also the core dependencies plus the ``grading`` extra alone, the smallest environment a
  student gets. The autograder installs exactly that (each notebook's Otter ``requirements``), and
  Colab has its own packages (``COLAB_SHIPS``) plus that, from the notebook's first cell;
- never a test-only reference (pytorch-grad-cam, torchcam, Quantus, OpenCV, pytest): those live in the
  ``test`` extra and the tests alone import them.

tests/repository/test_exercises.py then runs the student notebooks in that smallest environment.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from camlib import _moved

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEST_ONLY = {"grad-cam", "torchcam", "quantus", "opencv-python-headless", "pytest", "nbval", "playwright"}
KERNEL = {"ipython", "ipykernel"}  # whatever runs a notebook runs it in an IPython kernel
# What a Colab runtime ships that the notebooks rely on, read from Google's list of the runtime's
# packages (github.com/googlecolab/backend-info, pip-freeze.txt). camlib[grading] comes on top.
COLAB_SHIPS = {"torch", "torchvision", "numpy", "scipy", "matplotlib", "pillow", "scikit-learn", "scikit-image",
               "pandas", "tqdm", "ipywidgets", "ipython", "ipykernel", "nbformat"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    """Distribution names in the core dependencies and the given extras of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    return {normalized(re.match(r"\s*([A-Za-z0-9_.\-]+)", line).group(1)) for line in lines}


def imported(source: str) -> set[str]:
    """Every absolute import in the source, as dotted module names (``from camlib import cam`` gives
    camlib and camlib.cam); IPython magics are read as the calls they become."""
    tree = ast.parse(TransformerManager().transform_cell(source))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if node.module.startswith("camlib")}
        elif isinstance(node, ast.ImportFrom):  # relative, inside camlib
            found |= {f"camlib.{node.module}"} if node.module else {f"camlib.{a.name}" for a in node.names}
    return found


@cache
def camlib_imports(module: str) -> frozenset[str]:
    """The imports of one camlib module; an old path (camlib.cam) reads the module it moved to."""
    old = module.partition(".")[2]
    if old in _moved.MOVED or old in _moved.SPLIT:
        return frozenset(_moved.SPLIT.get(old, (_moved.MOVED.get(old),)))
    folder = ROOT.joinpath(*module.split("."))
    path = folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
    return frozenset(imported(path.read_text())) if path.exists() else frozenset()


def reached(names: set[str]) -> set[str]:
    """The imports, with every camlib module's own imports followed to the end."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.split(".")[0] == "camlib":
            todo += [*camlib_imports(name), "camlib"]
    return seen


def third_party(names: set[str]) -> dict[str, str]:
    """{top-level module: the distribution that provides it} for every module that is neither the
    standard library nor camlib."""
    providers = metadata.packages_distributions()
    found = {}
    for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - {"camlib", "__future__"}:
        assert top in providers, f"no installed distribution provides the module {top!r}"
        found[top] = normalized(providers[top][0])
    return found


def notebook_imports(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    return {name for cell in cells if cell["cell_type"] == "code" for name in imported("".join(cell["source"]))}


def test_the_audit_reads_imports_inside_functions_magics_and_relative_ones():
    source = ("%pip install x\nimport a.b\ndef f():\n"
              "    from c import d\n    from . import cam\n    from .gradcam import y\n")
    assert imported(source) == {"a.b", "c", "camlib.cam", "camlib.gradcam"}
    assert imported("from camlib import cam, config") == {"camlib", "camlib.cam", "camlib.config"}
    assert "camlib.methods.transfer" in reached({"camlib.transfer"})  # an old path leads to where it moved
    sanity = reached({"camlib.metrics.sanity"})
    assert "scipy.stats" in sanity and "skimage.metrics" in sanity


def test_every_module_camlib_imports_is_declared_for_its_users():
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "camlib").rglob("*.py")}
    allowed = declared("notebooks") | KERNEL
    missing = {top: dist for top, dist in third_party(reached(modules)).items() if dist not in allowed}
    assert not missing, f"camlib imports {missing}, declared neither in the dependencies nor the notebooks extra"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_module_a_notebook_reaches_is_declared_in_every_student_environment(path):
    found = third_party(reached(notebook_imports(path)))
    test_only = {top: dist for top, dist in found.items() if dist in TEST_ONLY}
    assert not test_only, f"{path.name} reaches test-only packages {test_only}: students do not have them"
    environments = {"make lab and Binder (dependencies + notebooks)": declared("notebooks") | KERNEL,
                    "the autograder (dependencies + grading)": declared("grading") | KERNEL,
                    "Colab (its own packages + dependencies + grading)": declared("grading") | COLAB_SHIPS}
    for environment, has in environments.items():
        missing = {top: dist for top, dist in found.items() if dist not in has}
        assert not missing, f"{path.name} needs {missing}, which {environment} lacks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_autograder_installs_camlib_with_its_grading_extra(path):
    config = json.loads(path.read_text())["cells"][0]
    requirements = re.search(r"requirements:\n((?:\s+- .*\n)+)", "".join(config["source"])).group(1)
    assert [line.strip("- ").strip() for line in requirements.strip().splitlines()] == [
        "camlib[grading] @ git+https://github.com/cam-lab/cam-lab"]


def test_the_grading_extra_is_inside_the_notebooks_extra():
    """So make lab's environment holds the autograder's, and a notebook run in the smaller one runs in both."""
    assert declared("grading") <= declared("notebooks")


def test_the_exercise_tests_the_autograder_runs_import_only_what_grading_installs():
    tests = sorted((ROOT / "students" / "tests").rglob("*.py"))
    assert tests
    found = third_party(reached({name for path in tests for name in imported(path.read_text())}))
    missing = {top: dist for top, dist in found.items() if dist not in declared("grading") | KERNEL}
    assert not missing, f"the students' exercise tests import {missing}, which camlib[grading] does not install"


def private_names_used_across_modules(folder: Path = ROOT / "camlib") -> list[str]:
    """``from camlib.x import _name`` and ``x._name`` on another camlib module, anywhere in camlib (the
    core's private modules, ``from camlib import _moved``, are not names)."""
    modules = {p.stem for p in folder.rglob("*.py")} - {"__init__"}
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("camlib"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                found += [f"{path.name}: from {node.module} import {name}" for name in private
                          if name not in modules]  # a private module (the core) is fine
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                  and node.value.id != path.stem and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_camlib_module_reaches_for_another_modules_private_name(tmp_path):
    """What several modules share lives in the core (camlib/_checks.py, camlib/_guards.py) under public
    names; a private name is its own module's business."""
    assert not private_names_used_across_modules()
    (tmp_path / "cam.py").write_text("def _helper(): pass\n")
    (tmp_path / "_moved.py").write_text("")
    (tmp_path / "user.py").write_text("from camlib import _moved, cam\nfrom camlib.cam import _helper\ncam._helper()\n")
    assert private_names_used_across_modules(tmp_path) == ["user.py: from camlib.cam import _helper",
                                                           "user.py:3: cam._helper"]


def test_the_old_module_paths_are_the_moved_modules():
    """Committed student tests and handed-out autograders import camlib.exercises, old notebooks
    camlib.cam and the rest: each old path gives the module it moved to, itself."""
    import importlib

    for old, new in _moved.MOVED.items():
        assert importlib.import_module(f"camlib.{old}") is importlib.import_module(new), old
    vit = importlib.import_module("camlib.vit")
    assert {"TinyViT", "token_reshape", "attention_rollout", "compute_token_cams"} <= set(vars(vit))
    from camlib.imagenet import ilsvrc_cams, read_annotations, write_synthetic_ilsvrc  # noqa: F401

    from camlib.models import GAPNet
    from camlib.models.cnn import GAPNet as Moved
    assert GAPNet is Moved
