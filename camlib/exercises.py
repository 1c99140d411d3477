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
import inspect
import math
import os
import sys
from collections.abc import Callable, Mapping
from numbers import Real
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


_NOT_ANSWERED = "not answered yet: replace None with your answer"
_MAX_DEPTH = 20  # nesting deeper than this (or a list that holds itself) is not an answer
_TOO_DEEP = "the answer is nested too deeply to compare (does a list hold itself?)"


def _as_array(value) -> np.ndarray | None:
    """A numeric array (float64, or complex128) for numbers, tensors, arrays and nested
    sequences of numbers of one shape; None for anything else. Never raises."""
    if value is None or isinstance(value, bool | str | bytes | Mapping):
        return None
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().resolve_conj().resolve_neg()
            value = value if value.layout == torch.strided else value.to_dense()
            value = value.to(torch.complex128 if value.is_complex() else torch.float64).numpy()
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":  # object arrays: ragged lists, lists of tensors, ...
            return None
        return array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)
    except Exception:  # any object numpy or torch cannot read as numbers
        return None


def _short(value) -> str:
    """``repr(value)`` cut to one readable line, even for objects whose repr fails."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        where = "" if value.device.type in ("cpu", "cuda", "mps") else f" on {value.device} (no values to compare)"
        return f"a tensor of shape {list(value.shape)}{where}"
    if inspect.isroutine(value):
        return f"the function {getattr(value, '__name__', _short(value))} (did you forget to call it?)"
    return f"{type(value).__name__} {_short(value)}"


def _compare_arrays(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> str | None:
    if got.size == 1 and want.size == 1:
        got, want = got.reshape(()), want.reshape(())  # a one-element tensor counts as a number
    if got.shape != want.shape:
        return f"shape {list(got.shape)} where {list(want.shape)} is expected"
    if np.isnan(got[~np.isnan(want)]).any():
        return "the answer contains NaN"
    with np.errstate(all="ignore"):  # inf - inf inside isclose is not the student's problem
        wrong = ~np.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True)
    if not wrong.any():
        return None
    if got.ndim == 0:
        return f"got {got.item():.6g}, which is not the expected value"
    where = tuple(int(i) for i in np.argwhere(wrong)[0])
    return f"{int(wrong.sum())} of {wrong.size} values differ, first at index {where}: got {got[where]:.6g}"


def _equal(answer, expected) -> bool:
    """``answer == expected`` as one bool; False when the comparison itself fails or is ambiguous."""
    try:
        return bool(answer == expected)
    except Exception:
        return False


def _compare(answer, expected, atol: float, rtol: float, depth: int) -> str | None:
    if answer is None:
        return _NOT_ANSWERED
    if answer is expected:  # the very object (also ends a list that holds itself)
        return None
    if depth > _MAX_DEPTH:
        return _TOO_DEEP
    want = _as_array(expected)
    if want is not None:
        got = _as_array(answer)
        if got is None and isinstance(answer, list | tuple) and isinstance(expected, list | tuple):
            return _compare_sequence(answer, expected, atol, rtol, depth)  # e.g. tensors of other shapes
        if got is None:
            return f"expected a number or a tensor, got {_kind(answer)}"
        return _compare_arrays(got, want, atol, rtol)
    if isinstance(expected, Mapping):
        return _compare_mapping(answer, expected, atol, rtol, depth)
    if isinstance(expected, list | tuple):
        return _compare_sequence(answer, expected, atol, rtol, depth)
    return None if _equal(answer, expected) else f"got {_short(answer)}, expected something else"


def _compare_mapping(answer, expected: Mapping, atol: float, rtol: float, depth: int) -> str | None:
    if not isinstance(answer, Mapping):
        return f"expected a dict with keys {_short(list(expected))}, got {_kind(answer)}"
    missing = [k for k in expected if k not in answer]
    extra = [k for k in answer if k not in expected]
    if missing or extra:
        parts = [f"missing keys {_short(missing)}"] if missing else []
        parts += [f"unexpected keys {_short(extra)}"] if extra else []
        return " and ".join(parts)
    for key, value in expected.items():
        problem = _compare(answer[key], value, atol, rtol, depth + 1)
        if problem is not None:
            return problem if problem == _TOO_DEEP else f"at key {key!r}: {problem}"
    return None


def _compare_sequence(answer, expected: list | tuple, atol: float, rtol: float, depth: int) -> str | None:
    if not isinstance(answer, list | tuple):
        return f"expected a {type(expected).__name__} of {len(expected)} items, got {_kind(answer)}"
    if len(answer) != len(expected):
        return f"{len(answer)} items where {len(expected)} are expected"
    for index, (got, want) in enumerate(zip(answer, expected)):
        problem = _compare(got, want, atol, rtol, depth + 1)
        if problem is not None:
            return problem if problem == _TOO_DEEP else f"at item {index}: {problem}"
    return None


def compare(answer, expected, *, atol: float = 1e-4, rtol: float = 1e-4) -> str | None:
    """What is wrong with ``answer`` (a sentence), or None when it matches ``expected``.

    Numbers, tensors, arrays and sequences of numbers are compared by value with tolerances
    (shapes must agree, a one-element tensor counts as a number; NaN matches only an expected
    NaN). Dicts, lists and tuples of anything else (e.g. a dict of tensors) are compared item
    by item, recursively; all other values with ``==``. Never raises, whatever the answer.
    """
    for name, tolerance in (("atol", atol), ("rtol", rtol)):
        if isinstance(tolerance, bool) or not isinstance(tolerance, Real) or not 0 <= tolerance < math.inf:
            raise ValueError(f"{name}={tolerance!r}: a tolerance is a finite number >= 0, e.g. 1e-4")
    try:
        return _compare(answer, expected, atol, rtol, 0)
    except Exception as error:  # e.g. a student's object whose __eq__ or __len__ raises
        return f"the answer could not be compared ({type(error).__name__}: {error})"


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
    """Say whether ``answer`` equals ``expected`` (see :func:`compare`), with ``hint`` when not.

    Never raises for a student's answer; with ``CAMLIB_EXERCISES=strict`` a failure raises
    :class:`ExerciseFailed`."""
    _report(name, compare(answer, expected, atol=atol, rtol=rtol), hint)


def _as_bool(result) -> bool | None:
    """A bool for True / False, numpy's bools and one-element bool tensors or arrays; else None."""
    if isinstance(result, bool | np.bool_):
        return bool(result)
    if isinstance(result, torch.Tensor) and result.dtype == torch.bool and result.numel() == 1:
        return bool(result)
    if isinstance(result, np.ndarray) and result.dtype == np.bool_ and result.size == 1:
        return bool(result)
    return None


def _verdict(result) -> str | None:
    """What a test's return value says: None or True pass, False fails, a sentence is the problem."""
    if result is None:
        return None
    if isinstance(result, str):
        return result.strip() or None  # an empty sentence says nothing is wrong
    passed = _as_bool(result)
    if passed is not None:
        return None if passed else "the answer does not pass the test"
    return f"the test returned {_short(result)}; a test returns None or True (pass), False or a sentence (fail)"


def check_that(name: str, answer, test: Callable[[object], str | bool | None], *, hint: str = "") -> None:
    """Check an answer that has no single expected value by ``test(answer)``, which returns
    None or True (pass), False (fail), or a sentence saying what is wrong; a failed ``assert``
    inside it fails with the assertion's message. A missing answer (None) is reported before
    ``test`` runs; an exception from ``test`` is reported, never raised (except in strict mode,
    as every failure)."""
    if not callable(test):
        raise TypeError(f"test must be a function of the answer (e.g. lambda answer: answer > 0), got {test!r:.60}")
    problem = _NOT_ANSWERED if answer is None else None
    if problem is None:
        try:
            problem = _verdict(test(answer))
        except AssertionError as error:  # an assert-style test
            problem = (str(error).splitlines() or ["the answer does not pass the test"])[0]
        except Exception as error:  # a student's answer of the wrong kind: say so, don't trace
            problem = f"checking it raised {type(error).__name__}: {error}"
    _report(name, problem, hint)


# Student notebooks -------------------------------------------------------------------------

def stub_for(solution: str) -> str:
    """The stub that replaces a solution cell: each name the cell assigns at top level set to
    None, each function it defines kept with its signature and a body that returns None."""
    if not isinstance(solution, str):
        raise TypeError(f"solution must be the source of a solution cell (a str), got {type(solution).__name__}")
    lines = [STUB_HEADER]
    try:
        tree = ast.parse(solution)
    except SyntaxError:  # IPython magics; the notebook's stub stays generic
        return "\n".join(lines)
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            define = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            lines += [f"{define} {node.name}({ast.unparse(node.args)}):", "    # your code here", "    return None"]
            seen.add(node.name)
        elif isinstance(node, ast.ClassDef):
            lines += [f"class {node.name}:", "    pass  # your code here"]
            seen.add(node.name)
        else:
            for name in _assigned_names(node):
                if name not in seen:
                    lines.append(f"{name} = None  # your answer")
                    seen.add(name)
    return "\n".join(lines)


def _assigned_names(node: ast.AST):
    """The names a statement binds, in order, also inside for / with / if blocks; not inside functions, classes,
    lambdas or comprehensions, whose names are their own."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        yield node.id
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
              ast.DictComp, ast.GeneratorExp)
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, scopes):
            yield from _assigned_names(child)


def student_version(notebook):
    """A copy of ``notebook`` (nbformat) with every ``solution`` cell replaced by its stub."""
    if not hasattr(notebook, "cells"):
        raise TypeError(f"notebook must be an nbformat notebook (nbformat.read(path, as_version=4)), "
                        f"got {type(notebook).__name__}")
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
    if target.resolve() == source.resolve():
        raise ValueError(f"target {target} is the source folder: the student versions would overwrite the "
                         "solutions; give another folder, e.g. build/students")
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"target {target} is a file: give a folder for the student notebooks")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:  # not JSON, not a notebook, an unknown nbformat version
            raise ValueError(f"{path} is not a readable notebook ({type(error).__name__}: {error}); "
                             "restore it from git") from error
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
