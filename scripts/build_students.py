"""The student notebooks and autograders, built from the Otter-Grader masters in notebooks/ by Otter Assign.

``python scripts/build_students.py notebooks students --autograder build/autograder`` (``make students``):
``students/`` gets each student notebook (one answer cell per question, ``...`` in place of the answer, a
``grader.check`` cell after it) and ``students/tests/<notebook>`` their public tests; each autograder zip
(public and hidden tests, for ``otter grade`` or Gradescope) goes to ``build/autograder``. A repository
tool: students never import it.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _otter_assign(master: Path, out: Path) -> None:
    """``otter assign`` on one master notebook; its own error, in full, when it refuses."""
    command = [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(master), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"otter assign failed on {master}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _grader_cell(name: str, questions: list[str]):
    import nbformat

    listed = ", ".join(f'"{q}"' for q in questions)
    return nbformat.v4.new_code_cell(
        "# Otter-Grader runs this notebook's checks: grader.check(...) after each exercise.\n"
        "import otter\n\n"
        "from camlib.lab.launch import student_tests\n\n"
        f'grader = otter.Notebook("{name}.ipynb", tests_dir=student_tests("{name}", [{listed}]))'
    )


def student_notebook(notebook, name: str):
    """Otter's student notebook made launchable: its grader cell moved after the setup cell (on Colab
    camlib and Otter are installed there first) and given the tests' folder, the badges pointed at
    ``students/``. Returns a new notebook."""
    student = copy.deepcopy(notebook)
    cells = [c for c in student.cells if not c.source.startswith("# Initialize Otter")]
    questions = re.findall(r'grader\.check\("([\w-]+)"\)', "\n".join(c.source for c in cells))
    if not questions:
        raise ValueError(f"{name}: Otter wrote no grader.check cell; does the master have BEGIN QUESTION cells?")
    setup = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    cells.insert(setup + 1, _grader_cell(name, questions))
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"(blob/[\w.-]+/|labpath=)notebooks(/|%2F)", r"\1students\2", cell.source)
    student.cells = cells
    return student


def write_student_notebooks(source: str | Path, target: str | Path, autograder: str | Path | None = None) -> list[Path]:
    """Run Otter Assign on every ``NN_*.ipynb`` master in ``source``: the student notebooks go to
    ``target``, their public tests to ``target/tests/<notebook>`` and, when ``autograder`` is given, each
    notebook's autograder zip (hidden tests included) to ``autograder/NN_name-autograder.zip``."""
    import nbformat

    source, target = Path(source), Path(target)
    masters = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not masters:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {source}; pass the notebooks/ folder")
    if target.resolve() == source.resolve():
        raise ValueError(f"target {target} is the source folder: the student versions would overwrite the "
                         "solutions; give another folder, e.g. students")
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"target {target} is a file: give a folder for the student notebooks")
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        built = Path(scratch)
        for master in masters:
            try:
                nbformat.read(master, as_version=4)
            except Exception as error:  # not JSON, not a notebook, an unknown nbformat version
                raise ValueError(f"{master} is not a readable notebook ({type(error).__name__}: {error}); "
                                 "restore it from git") from error
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # each run is its own process
            list(pool.map(lambda master: _otter_assign(master, built / master.stem), masters))
        target.mkdir(parents=True, exist_ok=True)
        for master in masters:  # only once every notebook was assigned: a failure writes nothing
            out = built / master.stem
            student = student_notebook(nbformat.read(out / "student" / master.name, as_version=4), master.stem)
            nbformat.write(student, target / master.name)
            written.append(target / master.name)
            tests = target / "tests" / master.stem  # one folder per notebook: check_all() runs only its own
            shutil.rmtree(tests, ignore_errors=True)
            shutil.copytree(out / "student" / "tests", tests)
            if autograder is not None:
                Path(autograder).mkdir(parents=True, exist_ok=True)
                (zipped,) = (out / "autograder").glob("*.zip")
                shutil.copyfile(zipped, Path(autograder) / f"{master.stem}-autograder.zip")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/build_students.py",
        description="Student notebooks and autograders from the master notebooks, with Otter Assign.",
    )
    parser.add_argument("source", nargs="?", default="notebooks", help="folder of master (solution) notebooks")
    parser.add_argument("target", nargs="?", default="students", help="folder for the student notebooks")
    parser.add_argument("--autograder", default=None, help="folder for the autograder zips (hidden tests)")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.source, args.target, args.autograder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
