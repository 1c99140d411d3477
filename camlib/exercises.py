"""Exercise checks with instant feedback, and the student versions of the notebooks.

In a notebook, an exercise is three cells: a cell that sets the answer to ``None``, a cell
tagged ``solution`` that holds the instructor's answer, and a check cell::

    check("Exercise 1 · M_c", M_ex, expected, hint="multiply each f_k by w_k and add")

``check`` prints one line, ``✓`` or ``✗`` with what is wrong and the hint. For a student it never
raises, so "Run all" goes on to the end. With ``CAMLIB_EXERCISES=strict`` (set by the test suite)
a failed check raises :class:`ExerciseFailed`, so executing a notebook proves its solutions.

``python -m camlib.exercises notebooks build/students`` writes the student versions: every
``solution`` cell becomes a stub that sets the same names to ``None`` (or a function that
returns ``None``), so each check reports "not answered yet".
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

STRICT_ENV = "CAMLIB_EXERCISES"
SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"
STUB_HEADER = "# Exercise: write your answer here, then run the check cell below."


class ExerciseFailed(AssertionError):
    """A check failed while ``CAMLIB_EXERCISES=strict``."""


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() == "strict"


def _as_array(value) -> np.ndarray | None:
    """A float array for numbers, tensors, arrays and nested sequences of numbers; else None."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    if isinstance(value, bool | str) or value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def compare(answer, expected, *, atol: float = 1e-4, rtol: float = 1e-4) -> str | None:
    """What is wrong with ``answer`` (a sentence), or None when it matches ``expected``.

    Numbers, tensors, arrays and sequences of numbers are compared by value with tolerances
    (shapes must agree, a one-element tensor counts as a number); anything else with ``==``.
    """
    if answer is None:
        return "not answered yet: replace None with your answer"
    got, want = _as_array(answer), _as_array(expected)
    if want is None:
        return None if answer == expected else f"got {answer!r}, expected something else"
    if got is None:
        return f"expected a number or a tensor, got {type(answer).__name__} {answer!r}"
    if got.size == 1 and want.size == 1:
        got, want = got.reshape(()), want.reshape(())
    if got.shape != want.shape:
        return f"shape {list(got.shape)} where {list(want.shape)} is expected"
    if np.isnan(got).any():
        return "the answer contains NaN"
    wrong = ~np.isclose(got, want, atol=atol, rtol=rtol)
    if not wrong.any():
        return None
    if got.ndim == 0:
        return f"got {float(got):.6g}, which is not the expected value"
    where = tuple(int(i) for i in np.argwhere(wrong)[0])
    return f"{int(wrong.sum())} of {wrong.size} values differ, first at index {where}: got {got[where]:.6g}"


def _report(name: str, problem: str | None, hint: str) -> bool:
    if problem is None:
        print(f"✓ {name}: correct")
        return True
    message = f"✗ {name}: {problem}." + (f" Hint: {hint}" if hint else "")
    if _strict():
        raise ExerciseFailed(message)
    print(message)
    return False


def check(name: str, answer, expected, *, hint: str = "", atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Say whether ``answer`` equals ``expected`` (see :func:`compare`), with ``hint`` when not."""
    _report(name, compare(answer, expected, atol=atol, rtol=rtol), hint)


def check_that(name: str, answer, test: Callable[[object], str | None], *, hint: str = "") -> None:
    """Check an answer that has no single expected value: ``test(answer)`` returns what is
    wrong (a sentence) or None. A missing answer (None) is reported before ``test`` runs."""
    problem = "not answered yet: replace None with your answer" if answer is None else None
    if problem is None:
        try:
            problem = test(answer)
        except Exception as error:  # a student's answer of the wrong kind: say so, don't trace
            problem = f"checking it raised {type(error).__name__}: {error}"
    _report(name, problem, hint)


# Student notebooks -------------------------------------------------------------------------

def stub_for(solution: str) -> str:
    """The stub that replaces a solution cell: each name the cell assigns at top level set to
    None, each function it defines kept with its signature and a body that returns None."""
    lines = [STUB_HEADER]
    try:
        tree = ast.parse(solution)
    except SyntaxError:  # IPython magics; the notebook's stub stays generic
        return "\n".join(lines)
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            lines += [f"def {node.name}({ast.unparse(node.args)}):", "    # your code here", "    return None"]
            seen.add(node.name)
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            for name in ast.walk(target) if target is not None else []:
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store) and name.id not in seen:
                    lines.append(f"{name.id} = None  # your answer")
                    seen.add(name.id)
    return "\n".join(lines)


def student_version(notebook):
    """A copy of ``notebook`` (nbformat) with every ``solution`` cell replaced by its stub."""
    student = copy.deepcopy(notebook)
    for cell in student.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and SOLUTION_TAG in tags:
            cell.source = stub_for(cell.source)
            cell.metadata["tags"] = [STUB_TAG if tag == SOLUTION_TAG else tag for tag in tags]
            cell.outputs, cell.execution_count = [], None
    return student


def write_student_notebooks(source: str | Path, target: str | Path) -> list[Path]:
    """Write the student version of every ``NN_*.ipynb`` in ``source`` into ``target``."""
    import nbformat

    source, target = Path(source), Path(target)
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {source}; pass the notebooks/ folder")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        out = target / path.name
        nbformat.write(student_version(notebook), out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m camlib.exercises",
        description="Write student notebooks: every cell tagged 'solution' becomes a stub.",
    )
    parser.add_argument("source", nargs="?", default="notebooks", help="folder of solution notebooks")
    parser.add_argument("target", nargs="?", default="build/students", help="folder for the student notebooks")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.source, args.target):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
