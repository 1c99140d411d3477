"""Exercises: the answer checks the notebooks' Otter-Grader tests call.

The notebooks in ``notebooks/`` are Otter-Grader *master* notebooks (Otter Assign's format): each
exercise is a question between ``# BEGIN QUESTION`` and ``# END QUESTION`` raw cells, its answer
lines marked ``# SOLUTION`` (or a ``# BEGIN SOLUTION`` block), its tests exception-based functions
that call :func:`expect`, whose sentence says what is wrong (``compare``). Executing a master runs
every test on the instructor's answer, so the test suite proves the solutions; a hidden test runs
there too, and in the autograder, never in the student's notebook.

The student notebooks and autograders are built by ``scripts/build_students.py`` (``make students``).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import re
import textwrap
from collections.abc import Mapping
from numbers import Real

import numpy as np
import torch

_NOT_ANSWERED = "not answered yet: replace ... with your answer"
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


def _as_bool(value) -> bool | None:
    """True or False for a bool, a NumPy bool or a one-element bool tensor or array; None otherwise."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.numel() == 1:
        return bool(value.item())
    if isinstance(value, np.ndarray) and value.dtype == np.bool_ and value.size == 1:
        return bool(value.item())
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
    if answer is None or answer is Ellipsis:  # Ellipsis: Otter's placeholder, `answer = ...`
        return _NOT_ANSWERED
    if answer is expected:  # the very object (also ends a list that holds itself)
        return None
    if depth > _MAX_DEPTH:
        return _TOO_DEEP
    if _as_bool(expected) is not None and _as_bool(answer) is not None:  # True, np.True_, torch.tensor(True) alike
        return None if _as_bool(answer) == _as_bool(expected) else f"got {_as_bool(answer)}, which is not the answer"
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


def expect(answer, expected, *, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Raise ``AssertionError`` saying what is wrong with ``answer`` (see :func:`compare`); used by
    the notebooks' Otter-Grader tests, which show the student that sentence and the hint."""
    problem = compare(answer, expected, atol=atol, rtol=rtol)
    if problem is not None:
        raise AssertionError(problem)


def fingerprint(value, *, decimals: int = 3) -> str:
    """A short SHA-256 of ``value`` (numbers, tensors, arrays, sequences of numbers) rounded to
    ``decimals``: a public test holds the digest of the right answer, not the answer, nor the code that
    computes it. A one-element value counts as a number; -0.0 as 0.0."""
    array = _as_array(value)
    if array is None or array.dtype.kind == "c":
        raise TypeError(f"fingerprint takes real numbers, tensors or arrays, got {_kind(value)}")
    array = array.reshape(()) if array.size == 1 else array
    rounded = np.round(array, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return hashlib.sha256(repr(rounded.shape).encode() + rounded.tobytes()).hexdigest()[:16]


def expect_fingerprint(answer, digest: str, *, shape: tuple[int, ...] | None = None, decimals: int = 3) -> None:
    """Raise ``AssertionError`` unless ``answer`` rounds to the values whose :func:`fingerprint` is
    ``digest``; says "not answered yet" for ``...`` and names a wrong kind or shape first."""
    if answer is ...:
        raise AssertionError(_NOT_ANSWERED)
    array = _as_array(answer)
    if array is None or array.dtype.kind == "c":
        raise AssertionError(f"expected a number or a tensor, got {_kind(answer)}")
    if shape is not None and tuple(array.shape) != tuple(shape) and not (array.size == 1 and tuple(shape) == ()):
        raise AssertionError(f"expected shape {list(shape)}, got {list(array.shape)}")
    if fingerprint(array, decimals=decimals) != digest:
        raise AssertionError("the shape is right but the values are not")


_LIBRARIES = ("camlib", "torch", "torchvision", "numpy", "scipy", "skimage", "sklearn", "pytorch_grad_cam", "torchcam")


def answer_code(answer, history=None) -> str | None:
    """The code that produced an answer: a function's own source (IPython keeps every cell's text),
    or, for a value, the last cell in ``history`` (IPython's ``In``) that assigns the answer's name
    (``answer`` is then that name, a string), from its ``# your ...`` comment on: the lines above it
    are the exercise's own. None when it cannot be found."""
    if callable(answer):
        try:
            return inspect.getsource(answer)
        except (OSError, TypeError):
            return None
    if not isinstance(answer, str) or not answer.isidentifier():
        raise TypeError(f"answer_code takes a function, or the name of an answer, got {_kind(answer)}")
    assigns = re.compile(rf"^\s*{re.escape(answer)}\s*(?::[^=]+)?=(?!=)", re.M)
    cells = [cell for cell in (history or []) if isinstance(cell, str) and assigns.search(cell)]
    if not cells:
        return None
    mine = re.search(r"^[ \t]*# your .*$", cells[-1], flags=re.M)
    return _slice(cells[-1][mine.start():] if mine else cells[-1], answer)


def _slice(code: str, name: str) -> str:
    """The statements of ``code`` that the last assignment to ``name`` depends on (itself included),
    followed backwards through the names they use; ``code`` itself when it does not parse."""
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        return code
    wanted, kept = {name}, []
    for statement in reversed(statements):
        targets = {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)
                   and isinstance(node.ctx, ast.Store)}
        if targets & wanted:
            kept.append(statement)
            wanted = (wanted - targets) | {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)
                                           and isinstance(node.ctx, ast.Load)}
    return "\n".join(ast.get_source_segment(code, statement) or "" for statement in reversed(kept)) or code


def _is_placeholder(statements: list) -> bool:
    """Only a docstring, ``...`` or ``pass``: Otter's blank answer."""
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
               for s in statements)


def _unanswered(tree: ast.Module, answer) -> bool:
    """The answer is still ``name = ...``, or a function whose body is still ``...``."""
    if callable(answer):
        functions = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        return bool(functions) and _is_placeholder(functions[0].body)
    assigned = [node.value for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                and any(isinstance(t, ast.Name) and t.id == answer for t in ast.walk(node) if t is not node.value)]
    return bool(assigned) and isinstance(assigned[-1], ast.Constant) and assigned[-1].value is Ellipsis


def expect_written(answer, history=None, *, avoid: tuple[str, ...] = (), use: tuple[str, ...] = (),
                   what: str = "your answer") -> None:
    """Raise ``AssertionError`` when the code of ``answer`` (see :func:`answer_code`) names one of
    ``avoid`` (a value shown elsewhere in the notebook, or the library function the exercise asks
    you to write) or none of ``use`` (what the exercise says to compute from). Hidden tests grade the
    way an answer is computed, not only its value; code that cannot be found passes."""
    module = (getattr(answer, "__module__", None) or "") if callable(answer) else ""
    if module.split(".")[0] in _LIBRARIES:  # e.g. my_reshape = token_reshape(grid, 1): the library's code
        raise AssertionError(f"{what} is {module}'s function: write your own, in the notebook")
    code = answer_code(answer, history)
    if code is None:
        return
    try:
        tree = ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return
    if _unanswered(tree, answer):  # a copied value is not the only way to earn nothing
        raise AssertionError(_NOT_ANSWERED)
    named = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    named |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    copied = [name for name in avoid if name in named]
    if copied:
        raise AssertionError(f"{what} uses {', '.join(copied)}: compute it yourself, as the exercise asks, "
                             "rather than copying a value shown in the notebook or calling the library")
    if use and not named & set(use):
        raise AssertionError(f"{what} must be computed from {' or '.join(use)}, as the exercise asks")
