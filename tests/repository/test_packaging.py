"""The project's files agree with each other: dependencies, notebooks, the two commands."""

import json
import re
import tomllib
from pathlib import Path

import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge names that differ from PyPI's


def requirement(text: str) -> tuple[str, str]:
    """('name', 'specifier') with the name normalized the way PyPI does; a pip extra (conda has none) dropped."""
    name, specifier = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^]]*\])?\s*(.*)", text).groups()
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PIP.get(name, name), specifier.replace(" ", "")


def pyproject_requirements() -> set[tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]}


def conda_requirements(path: Path) -> tuple[set[tuple[str, str]], list[str]]:
    environment = yaml.safe_load(path.read_text())
    conda, pip = set(), []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip += entry["pip"]
        elif not re.match(r"(python|pip)\b", entry):
            conda.add(requirement(entry))
    return conda, pip


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_environments_name_the_same_dependencies_as_pyproject(path):
    conda, _ = conda_requirements(ROOT / path)
    assert conda == pyproject_requirements(), (
        f"{path} and pyproject.toml (dependencies + notebooks extra) disagree: "
        f"only in {path}: {sorted(conda - pyproject_requirements())}, "
        f"only in pyproject: {sorted(pyproject_requirements() - conda)}"
    )


def test_environment_yml_installs_camlib_with_pip():
    _, pip = conda_requirements(ROOT / "environment.yml")
    assert pip == ["-e ."]


def test_binder_installs_camlib_and_limits_threads():
    post_build = ROOT / "binder" / "postBuild"
    start = ROOT / "binder" / "start"
    assert post_build.stat().st_mode & 0o111 and start.stat().st_mode & 0o111, "binder scripts must be executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
    assert "OMP_NUM_THREADS" in start.read_text() and 'exec "$@"' in start.read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    dirty = [i for i, cell in enumerate(notebook["cells"])
             if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_parameters_papermill_can_set(path):
    parameters = papermill.inspect_notebook(str(path))
    assert {"PROFILE", "SEED"} <= set(parameters), f"{path.name} parameters: {sorted(parameters)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_conventions(path):
    notebook = json.loads(path.read_text())
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "".join(notebook["cells"][0]["source"]).startswith("# ASSIGNMENT CONFIG"), "an Otter-Grader master"
    first = next("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert first.startswith("# ") and "Learning goals" in first
    time_to_read = r"\*\*Time to read:\*\* (about \d+ minutes|[\d.]+ to [\d.]+ (minutes|hours))"
    assert re.search(time_to_read, first), f"{path.name}: say the time to read"
    assert "colab.research.google.com" in first and "mybinder.org" in first
    for heading in ("## Summary", "## Further reading", "Exercise"):
        assert heading in text, f"{path.name} lacks {heading!r}"
    assert not re.search(r"\.cuda\(\)", text), "device-agnostic code only: use .to(device)"
    assert path.stem in (ROOT / "README.md").read_text(), f"README's notebook map lacks {path.stem}"


def test_make_test_lints_the_library_tests_benchmarks_scripts_and_notebooks():
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    ruff = next(line for line in lint.splitlines() if "ruff check" in line).split()
    assert {"camlib", "tests", "notebooks", "benchmarks", "scripts"} <= set(ruff), ruff
    assert "ipynb" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["extend-include"][0]


def test_the_instructor_guide_covers_every_notebook_and_open_exercise():
    guide = (ROOT / "docs" / "instructor.md").read_text()
    assert "docs/instructor.md" in (ROOT / "README.md").read_text()
    for heading in ("## A 90-minute lab", "## A homework path", "## Equation sheet", "## Rubrics", "## Slides"):
        assert heading in guide
    for path in NOTEBOOKS:
        assert f"| {path.name[:2]} · " in guide, f"the time table lacks {path.name}"
        for number in re.findall(r"\*\*Exercise (\d+) \(open", path.read_text()):
            assert f"**{path.name[:2]} · Exercise {number} " in guide, f"no rubric for {path.name} Exercise {number}"


DRAWS = re.compile(r"plt\.subplots\(|plt\.figure\(|cam_grid\(|plot_history\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_shown_with_a_description(path):
    """A figure reaches the reader through camlib.lab.viz.show_figure("what it shows"): its alt text and
    caption. plt.show() (or a figure left for the inline backend) would show it without either."""
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        assert "plt.show()" not in source, f"{path.name}, cell {index}: show_figure('what it shows'), not plt.show()"
        drawn, shown = len(DRAWS.findall(source)), source.count("show_figure(")
        assert shown >= drawn, f"{path.name}, cell {index}: draws {drawn} figures and describes {shown}"
