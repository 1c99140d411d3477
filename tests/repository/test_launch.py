"""camlib.lab.launch: badges and install lines derived from the one repository URL, and the Colab GPU warning."""

import re
import sys
import tomllib
import warnings
from pathlib import Path

import nbformat
import pytest
from scripts_loader import load_script

from camlib.lab import launch

sync_badges = load_script("sync_badges")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_the_repository_url_comes_from_pyproject():
    assert launch.repository_url() == URL.rstrip("/")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", launch.repository_url())


def test_links_are_built_from_the_url():
    url = "https://github.com/someone/cam-course"
    assert launch.colab_url("02_mnist", url) == (  # students get the student version
        "https://colab.research.google.com/github/someone/cam-course/blob/main/students/02_mnist.ipynb"
    )
    assert launch.colab_url("02_mnist", url, folder="notebooks") == (  # instructors the solutions
        "https://colab.research.google.com/github/someone/cam-course/blob/main/notebooks/02_mnist.ipynb"
    )
    binder = "https://mybinder.org/v2/gh/someone/cam-course/main?labpath="
    assert launch.binder_url("02_mnist", url) == binder + "students%2F02_mnist.ipynb"
    assert launch.binder_url("students/02_mnist", url, "notebooks") == binder + "notebooks%2F02_mnist.ipynb"
    assert launch.binder_url(None, url) == binder + "students"
    with pytest.raises(ValueError, match="notebooks live in students or notebooks"):
        launch.colab_url("02_mnist", url, folder="solutions")
    with pytest.raises(ValueError, match="not https://github.com/OWNER/NAME"):
        launch.colab_url("x", "https://gitlab.com/a/b")


def test_with_repository_rewrites_badges_and_install_lines_only():
    old = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/old/repo/blob/dev/notebooks/01_x.ipynb) "
        "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/old/repo/dev?labpath=notebooks)\n"
        '    %pip install -q "camlib @ git+https://github.com/old/repo"\n'
        "see https://github.com/pytorch/vision for torchvision\n"
    )
    new = sync_badges.with_repository(old, "https://github.com/new/place")
    assert new == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/new/place/blob/main/notebooks/01_x.ipynb) "
        "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/new/place/main?labpath=notebooks)\n"
        '    %pip install -q "camlib @ git+https://github.com/new/place"\n'
        "see https://github.com/pytorch/vision for torchvision\n"
    )


def test_readme_and_notebooks_agree_with_the_url():
    stale = sync_badges.sync_links(ROOT, write=False)
    assert not stale, f"run `python -m camlib.lab.launch` to point these at {URL}: {[str(p) for p in stale]}"


def test_sync_rewrites_a_stale_copy(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "README.md").write_text("[b](https://mybinder.org/v2/gh/old/repo/main?labpath=notebooks)\n")
    (tmp_path / "notebooks" / "01_a.ipynb").write_text(launch.badges("01_a"))
    assert sync_badges.sync_links(tmp_path, write=True) == [tmp_path / "README.md"]
    assert sync_badges.sync_links(tmp_path, write=False) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_launches_itself_and_installs_only_on_colab(path):
    notebook = nbformat.read(path, as_version=4)
    title = next(c for c in notebook.cells if c.cell_type == "markdown")
    assert launch.badges(path.stem, folder="notebooks") in title.source, f"{path.name}: the title needs its own badges"
    setup = next(c for c in notebook.cells if c.cell_type == "code")
    assert 'if "google.colab" in sys.modules:' in setup.source and "check_runtime()" in setup.source
    install = [line for line in setup.source.splitlines() if "pip install" in line]
    want = f'    %pip install -q "camlib[grading] @ git+{launch.repository_url()}"'
    assert install == [want], "install on Colab only"
    assert sum("pip install" in c.source for c in notebook.cells) == 1


def test_readme_carries_both_badges():
    readme = (ROOT / "README.md").read_text()
    assert launch.colab_url("01_cam_equations") in readme and launch.binder_url() in readme


def test_check_runtime_warns_on_colab_without_a_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.warns(UserWarning, match=r"No GPU on this Colab runtime.*Runtime > Change runtime type"):
        launch.check_runtime()


def test_check_runtime_is_silent_elsewhere(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert launch.check_runtime() is None


def test_the_command_checks_and_exits_nonzero_when_stale(monkeypatch, capsys):
    assert sync_badges.main(["--check"]) == 0
    assert f"repository: {launch.repository_url()}" in capsys.readouterr().out


def test_notebook_names_with_folder_or_suffix_give_the_same_link_and_bad_names_are_refused():
    url = "https://github.com/someone/cam-course"
    plain = launch.colab_url("02_mnist", url)
    assert launch.colab_url("02_mnist.ipynb", url) == plain  # once gave .../02_mnist.ipynb.ipynb
    assert launch.colab_url("notebooks/02_mnist.ipynb", url) == plain
    assert launch.binder_url("02_mnist.ipynb", url) == launch.binder_url("02_mnist", url)
    for bad in ("", "a/b", "two words"):
        with pytest.raises(ValueError, match="give the name of a notebook in notebooks/"):
            launch.colab_url(bad, url)
    with pytest.raises(TypeError, match="notebook must be a name"):
        launch.colab_url(None, url)
    with pytest.raises(TypeError, match="repository URL must be a string"):
        launch.colab_url("02_mnist", 42)
    with pytest.raises(TypeError, match="text must be a string"):
        sync_badges.with_repository(None, url)
