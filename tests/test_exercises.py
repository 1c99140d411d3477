"""camlib.exercises: the checks, the stubs, and the student notebooks generated from the solutions."""

import os
import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from camlib.exercises import (
    SOLUTION_TAG,
    STUB_TAG,
    ExerciseFailed,
    check,
    check_that,
    compare,
    stub_for,
    student_version,
    write_student_notebooks,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"^check(_that)?\(", re.MULTILINE)


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv("CAMLIB_EXERCISES", raising=False)


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv("CAMLIB_EXERCISES", "strict")


# compare: what is wrong, in words -----------------------------------------------------------

def test_compare_accepts_equal_values_of_different_types():
    assert compare(torch.tensor([[2.0, -3.0], [3.0, 2.0]]), [[2, -3], [3, 2]]) is None
    assert compare(torch.tensor(0.5), 0.5) is None  # a one-element tensor counts as a number
    assert compare(torch.tensor([1.0]), 1.0) is None
    assert compare((4, 4), (4, 4)) is None
    assert compare("stage 2", "stage 2") is None
    assert compare(1.0 + 1e-6, 1.0) is None  # within the tolerance


def test_compare_names_the_problem():
    assert compare(None, 1.0) == "not answered yet: replace None with your answer"
    assert compare(torch.zeros(2), torch.zeros(3)) == "shape [2] where [3] is expected"
    assert compare(2.5, 1.0) == "got 2.5, which is not the expected value"
    assert compare(torch.tensor([1.0, 2.0, 5.0]), [1.0, 2.0, 3.0]) == "1 of 3 values differ, first at index (2,): got 5"
    assert compare(float("nan"), 1.0) == "the answer contains NaN"
    assert compare("stage 1", "stage 2") == "got 'stage 1', expected something else"
    assert compare("seven", 7).startswith("expected a number or a tensor, got str")


def test_check_prints_pass_and_fail_with_the_hint(lenient, capsys):
    check("Exercise 1", torch.tensor([2.0, 3.0]), [2.0, 3.0], hint="never shown")
    check("Exercise 2", None, 60, hint="Z = h·w")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "✓ Exercise 1: correct",
        "✗ Exercise 2: not answered yet: replace None with your answer. Hint: Z = h·w",
    ]


def test_strict_mode_raises_with_the_same_message(strict):
    check("ok", 1.0, 1.0)  # a pass never raises
    with pytest.raises(ExerciseFailed, match=r"✗ Exercise 2: got 59, which is not the expected value\. Hint: h·w"):
        check("Exercise 2", 59, 60, hint="h·w")
    assert issubclass(ExerciseFailed, AssertionError)


def test_check_that_runs_the_test_and_reports_its_exceptions(lenient, capsys):
    positive = lambda answer: None if answer > 0 else "the value must be positive"  # noqa: E731
    check_that("a", 3, positive)
    check_that("b", -1, positive, hint="h")
    check_that("c", "x", positive)
    check_that("d", None, positive)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "✓ a: correct"
    assert out[1] == "✗ b: the value must be positive. Hint: h"
    assert out[2].startswith("✗ c: checking it raised TypeError")
    assert out[3] == "✗ d: not answered yet: replace None with your answer."


# stubs ---------------------------------------------------------------------------------------

def test_stub_sets_every_assigned_name_to_none_and_keeps_function_signatures():
    solution = (
        "M_ex = torch.tensor([1.0])  # a comment\n"
        "S_ex, (a, b) = 1.0, (2, 3)\n"
        "total: float = 0.0\n"
        "M_ex = M_ex * 2\n"
        "def box(cam, threshold=0.2, *, k=1):\n"
        "    return cam\n"
        "plt.show()\n"
    )
    assert stub_for(solution).splitlines()[1:] == [
        "M_ex = None  # your answer",
        "S_ex = None  # your answer",
        "a = None  # your answer",
        "b = None  # your answer",
        "total = None  # your answer",
        "def box(cam, threshold=0.2, *, k=1):",
        "    # your code here",
        "    return None",
    ]
    namespace = {}
    exec(stub_for(solution), namespace)  # the stub itself runs
    assert namespace["M_ex"] is None and namespace["box"](1) is None


def test_student_version_replaces_only_solution_cells():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("answer = None"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": [SOLUTION_TAG]}),
        nbformat.v4.new_code_cell("check('e', answer, 42)"),
    ])
    student = student_version(notebook)
    assert [c.source for c in student.cells][::2] == ["answer = None", "check('e', answer, 42)"]
    assert "answer = None  # your answer" in student.cells[1].source and "42" not in student.cells[1].source
    assert student.cells[1].metadata["tags"] == [STUB_TAG]
    assert notebook.cells[1].source == "answer = 42"  # the solution notebook is untouched


def test_write_student_notebooks_refuses_a_folder_without_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        write_student_notebooks(tmp_path, tmp_path / "out")


# the real notebooks --------------------------------------------------------------------------

def exercise_cells(notebook) -> tuple[list[int], list[int]]:
    solutions = [i for i, c in enumerate(notebook.cells) if SOLUTION_TAG in c.metadata.get("tags", [])]
    checks = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and CHECK_CALL.search(c.source)]
    return solutions, checks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_checked_exercises(path):
    solutions, checks = exercise_cells(nbformat.read(path, as_version=4))
    assert 2 <= len(solutions) <= 4, f"{path.name}: {len(solutions)} solution cells; the course wants 2 to 4"
    for solution in solutions:
        assert any(c > solution for c in checks), f"{path.name}: the solution in cell {solution} has no check after it"
    for cell in (nbformat.read(path, as_version=4).cells[i] for i in checks):
        assert "hint=" in cell.source, f"{path.name}: every check gives a hint:\n{cell.source}"


def test_the_suite_runs_notebooks_in_strict_mode():
    # conftest.py sets it for nbval's kernels: a solution that fails its check fails the run.
    assert os.environ.get("CAMLIB_EXERCISES") == "strict"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_fails_every_check(path, tmp_path, monkeypatch):
    """The generated student notebook, run up to its last check, reports every exercise as
    failed ("not answered yet"); the solution notebook passes them (nbval runs it strictly)."""
    monkeypatch.setenv("CAMLIB_EXERCISES", "strict")
    monkeypatch.setenv("CAMLIB_PROFILE", "quick")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (student_path,) = [p for p in write_student_notebooks(path.parent, tmp_path) if p.name == path.name]
    student = nbformat.read(student_path, as_version=4)
    solutions, checks = exercise_cells(student)
    assert not solutions and sum(STUB_TAG in c.metadata.get("tags", []) for c in student.cells) >= 2
    student.cells = student.cells[: max(checks) + 1]  # what follows the last check is prose
    NotebookClient(student, timeout=600, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    for i in checks:
        errors = [o for o in student.cells[i].outputs if o.output_type == "error"]
        assert errors and errors[0].ename == "ExerciseFailed", (
            f"{path.name} cell {i} should fail its check in the student version:\n{student.cells[i].source}\n"
            f"outputs: {[o.get('ename') or o.get('text', '')[:200] for o in student.cells[i].outputs]}"
        )
        assert "not answered yet" in errors[0].evalue


# hostile answers: check never raises for a student ----------------------------------------

class _Unfriendly:
    """An answer whose ==, repr and len all raise."""

    def __eq__(self, other):
        raise RuntimeError("no comparing me")

    def __repr__(self):
        raise RuntimeError("no printing me")

    __hash__ = None


def test_compare_recurses_into_dicts_lists_and_tuples_of_tensors():
    expected = {"cam": torch.ones(2, 2), "boxes": [torch.zeros(4), (1.0, torch.tensor(2.0))]}
    same = {"cam": torch.ones(2, 2).double(), "boxes": [torch.zeros(4), (1.0, 2.0)]}
    assert compare(same, expected) is None
    wrong = {"cam": torch.ones(2, 2), "boxes": [torch.ones(4), (1.0, 2.0)]}
    assert compare(wrong, expected) == "at key 'boxes': at item 0: 4 of 4 values differ, first at index (0,): got 1"
    assert compare({"cam": torch.ones(2, 2)}, expected) == "missing keys ['boxes']"
    assert compare(torch.ones(2), {"a": torch.ones(2)}) == "expected a dict with keys ['a'], got a tensor of shape [2]"
    assert compare([torch.ones(2), torch.ones(4)], [torch.ones(2), torch.ones(3)]) == (
        "at item 1: shape [4] where [3] is expected"
    )
    assert compare((torch.ones(2, requires_grad=True), 3), (torch.ones(2), 3)) is None


@pytest.mark.parametrize(
    "answer, expected, problem",
    [
        (print, 3.0, "expected a number or a tensor, got the function print (did you forget to call it?)"),
        (_Unfriendly(), 1.0, "expected a number or a tensor, got _Unfriendly <_Unfriendly>"),
        (_Unfriendly(), "x", "got <_Unfriendly>, expected something else"),
        (torch.ones(3), "abc", "got tensor([1., 1., 1.]), expected something else"),
        (torch.tensor([1 + 2j]), torch.tensor([1 + 3j]), "got 1+2j, which is not the expected value"),
        (10**400, 1.0, "expected a number or a tensor, got int 1000000"),
        (float("-inf"), float("inf"), "got -inf, which is not the expected value"),
        (torch.tensor([1.0, float("nan")]), [1.0, 2.0], "the answer contains NaN"),
        (torch.ones(2, device="meta"), torch.ones(2), "expected a number or a tensor, got a tensor of shape [2] on me"),
    ],
)
def test_compare_never_raises_and_says_what_is_wrong(answer, expected, problem):
    assert compare(answer, expected).startswith(problem)


def test_compare_edge_values_that_match():
    assert compare(float("nan"), float("nan")) is None  # NaN matches only an expected NaN
    assert compare(torch.full((2,), float("inf")), [float("inf")] * 2) is None
    assert compare(torch.ones(3).half(), [1, 1, 1]) is None
    assert compare(torch.ones(3).to_sparse(), torch.ones(3)) is None
    assert compare(torch.empty(0), []) is None
    loop = []
    loop.append(loop)
    assert compare(loop, loop) is None
    assert compare([loop], [[[[1]]]]).startswith("at item 0")


def test_check_of_any_answer_prints_and_never_raises(lenient, capsys):
    loop = []
    loop.append(loop)
    check("dict", {"a": torch.ones(2)}, {"a": torch.ones(2)})
    for answer in (_Unfriendly(), loop, print, {"a": torch.ones(3)}, [torch.ones(2)] * 3, float("nan")):
        check("hostile", answer, {"a": torch.ones(2)})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "✓ dict: correct"
    assert len(lines) == 7 and all(line.startswith("✗ hostile: ") for line in lines[1:])


def test_check_that_reads_true_false_asserts_and_sentences(lenient, capsys):
    def above_five(answer):
        assert answer > 5, "must be above 5"

    tests = [
        lambda answer: True,
        lambda answer: torch.tensor(answer) > 0,  # a one-element bool tensor
        lambda answer: "",  # an empty sentence says nothing is wrong
        lambda answer: False,
        above_five,
        lambda answer: 3,
        lambda answer: {}["key"],
    ]
    for test in tests:
        check_that("x", 3, test)
    assert capsys.readouterr().out.splitlines() == [
        "✓ x: correct",
        "✓ x: correct",
        "✓ x: correct",
        "✗ x: the answer does not pass the test.",
        "✗ x: must be above 5.",
        "✗ x: the test returned 3; a test returns None or True (pass), False or a sentence (fail).",
        "✗ x: checking it raised KeyError: 'key'.",
    ]


def test_strict_mode_raises_for_hostile_answers_with_the_reason(strict):
    check("dict", {"a": torch.ones(2)}, {"a": torch.ones(2)})  # passes: no raise
    check_that("true", 1, lambda answer: True)
    with pytest.raises(ExerciseFailed, match=r"✗ d: at key 'a': shape \[3\] where \[2\] is expected\."):
        check("d", {"a": torch.ones(3)}, {"a": torch.ones(2)})
    with pytest.raises(ExerciseFailed, match="does not pass the test"):
        check_that("false", 1, lambda answer: False)


# red-team findings ----------------------------------------------------------------------------

@pytest.mark.parametrize("tolerance", [-1, float("nan"), float("inf"), "big", None, True])
def test_a_tolerance_that_is_no_finite_number_is_the_instructors_error(tolerance):
    with pytest.raises(ValueError, match="a tolerance is a finite number >= 0"):
        compare(1.0, 1.5, atol=tolerance)
    with pytest.raises(ValueError, match="rtol="):
        check("e", 1.0, 1.0, rtol=tolerance)


def test_check_that_needs_a_test_function(strict):
    with pytest.raises(TypeError, match="test must be a function of the answer"):
        check_that("e", 1, "answer == 1")


def test_stubs_keep_classes_and_async_functions_and_names_bound_in_blocks():
    with pytest.raises(TypeError, match="solution must be the source of a solution cell"):
        stub_for(None)
    stub = stub_for("for i in range(3):\n    y = [j for j in range(i)]\nclass A:\n    x = 1\nasync def f(a):\n"
                    "    q = a\n    return q\n")
    assert stub.splitlines()[1:] == ["i = None  # your answer", "y = None  # your answer", "class A:",
                                     "    pass  # your code here", "async def f(a):", "    # your code here",
                                     "    return None"]


def test_student_versions_never_overwrite_the_solutions_and_damaged_notebooks_are_named(tmp_path):
    with pytest.raises(TypeError, match="nbformat notebook"):
        student_version({"cells": []})
    source = tmp_path / "notebooks"
    source.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": [SOLUTION_TAG]})])
    nbformat.write(notebook, source / "01_a.ipynb")
    solution = (source / "01_a.ipynb").read_text()
    with pytest.raises(ValueError, match="the student versions would overwrite the solutions"):
        write_student_notebooks(source, source)
    assert (source / "01_a.ipynb").read_text() == solution
    (tmp_path / "a_file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_student_notebooks(source, tmp_path / "a_file")
    (source / "02_b.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match=r"02_b.ipynb is not a readable notebook \(NotJSONError"):
        write_student_notebooks(source, tmp_path / "out")
