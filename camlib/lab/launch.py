"""Where the notebooks are launched: Colab and Binder links, and the first setup cell's checks.

The repository URL lives in one place, ``[project.urls] Repository`` in pyproject.toml (read
from the installed package's metadata when there is no checkout). The badges in README.md and
in every notebook, and the ``%pip install`` line of each Colab setup cell, are derived from it:
``scripts/sync_badges.py`` rewrites them after the URL changes, and a test fails when they
disagree with it.
"""

from __future__ import annotations

import re
import sys
import tomllib
import urllib.request
import warnings
from importlib import metadata
from pathlib import Path

import torch

from camlib.config import project_root
from camlib.data.download import DEFAULT_TIMEOUT, network_timeout

BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
FOLDERS = ("students", "notebooks")


def repository_url() -> str:
    """The GitHub URL of the project, e.g. ``https://github.com/owner/name``."""
    root = project_root()
    if root is not None:
        urls = tomllib.loads((root / "pyproject.toml").read_text())["project"].get("urls", {})
    else:  # an installed camlib (Colab): the same table, from the package metadata
        urls = dict(entry.split(", ", 1) for entry in metadata.metadata("camlib").get_all("Project-URL") or [])
    if "Repository" not in urls:
        raise LookupError("pyproject.toml has no [project.urls] Repository entry; add the GitHub URL there")
    return urls["Repository"].rstrip("/")


def owner_and_name(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"the repository URL must be a string https://github.com/OWNER/NAME, got {url!r}")
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(\.git)?", url)
    if not match:
        raise ValueError(f"the repository URL {url!r} is not https://github.com/OWNER/NAME")
    return match.group(1)


def _notebook_name(notebook: str) -> str:
    """``"01_cam_equations"`` from that name, with or without ``notebooks/`` and ``.ipynb``."""
    if not isinstance(notebook, str):
        raise TypeError(f"notebook must be a name like '01_cam_equations', got {notebook!r}")
    name = notebook.strip().removeprefix("notebooks/").removeprefix("students/").removesuffix(".ipynb")
    if not re.fullmatch(r"[\w.-]+", name):  # a link cannot carry an empty name, a folder or spaces
        raise ValueError(f"notebook={notebook!r}: give the name of a notebook in notebooks/, e.g. '01_cam_equations'")
    return name


def _folder(folder: str) -> str:
    if folder not in FOLDERS:
        raise ValueError(f"folder={folder!r}: notebooks live in {' or '.join(FOLDERS)} "
                         "(students: the versions students fill in; notebooks: the solutions)")
    return folder


def colab_url(notebook: str, url: str | None = None, folder: str = "students") -> str:
    """Colab's link to ``<folder>/<notebook>.ipynb`` on the main branch (``notebook`` may carry
    the ``.ipynb`` suffix and a folder). Students get ``students/``, instructors ``notebooks/``."""
    notebook = _notebook_name(notebook)
    repo = owner_and_name(url or repository_url())
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{_folder(folder)}/{notebook}.ipynb"


def binder_url(notebook: str | None = None, url: str | None = None, folder: str = "students") -> str:
    """Binder's link that opens JupyterLab on ``notebook`` (or on the folder)."""
    folder = _folder(folder)
    path = f"{folder}%2F{_notebook_name(notebook)}.ipynb" if notebook is not None else folder
    return f"https://mybinder.org/v2/gh/{owner_and_name(url or repository_url())}/{BRANCH}?labpath={path}"


def badges(notebook: str | None = None, url: str | None = None, folder: str = "students") -> str:
    """The Markdown of the two launch badges, for one notebook or (None) for the whole suite."""
    colab = colab_url(notebook or "01_cam_equations", url, folder)
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab}) "
            f"[![Binder]({BINDER_BADGE})]({binder_url(notebook, url, folder)})")


def student_tests(notebook: str, questions: list[str], folder: str | Path = "tests",
                  timeout: float = DEFAULT_TIMEOUT) -> str:
    """The folder of a student notebook's public tests, ``tests/<notebook>``, for
    ``otter.Notebook(tests_dir=...)`` (one folder per notebook, so ``grader.check_all()`` runs only its own).

    Beside a student notebook (``students/tests``, Binder, a clone) they are already there. Colab
    opens the notebook alone, so there each missing test is fetched from the repository's
    ``students/tests/<notebook>`` (with a timeout). Elsewhere a missing test is an error that says where to run."""
    name = _notebook_name(notebook)
    folder = Path(folder) / name
    missing = [q for q in questions if not (folder / f"{q}.py").is_file()]
    if missing and not on_colab():
        raise FileNotFoundError(
            f"the checks {missing} are not in {folder.resolve()}: open the student notebook inside the "
            "students/ folder of the repository (its tests/ lie beside it), or rebuild them with `make students`")
    if missing:
        repo = owner_and_name(repository_url())
        folder.mkdir(parents=True, exist_ok=True)
        with network_timeout(timeout):
            for question in missing:
                url = f"https://raw.githubusercontent.com/{repo}/{BRANCH}/students/tests/{name}/{question}.py"
                try:
                    with urllib.request.urlopen(url) as response:
                        text = response.read().decode()
                except OSError as error:  # URLError, HTTPError, timeouts: one line, not a urllib traceback
                    raise FileNotFoundError(
                        f"the check {question} could not be fetched from {url} ({error}): check that the runtime "
                        f"is online, or upload students/tests/{name}/ from the repository to {folder}") from None
                staged = folder / f".{question}.py.part"  # a broken download never poses as a test
                staged.write_text(text)
                staged.replace(folder / f"{question}.py")
    return str(folder)


def on_colab() -> bool:
    return "google.colab" in sys.modules


def check_runtime() -> None:
    """Run by every notebook's first cell: on Colab without a GPU, warn (the quick profile still
    runs, on the CPU) and say how to attach one. Elsewhere it does nothing."""
    if on_colab() and not torch.cuda.is_available():
        warnings.warn(
            "No GPU on this Colab runtime: the notebook runs its quick profile on the CPU. For the full "
            "profile choose Runtime > Change runtime type > T4 GPU (or any GPU), then Runtime > Run all.",
            stacklevel=2,
        )
