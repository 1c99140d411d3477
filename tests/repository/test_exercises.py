"""camlib.lab.exercises: the answer checks, and the student notebooks Otter-Grader builds from the masters."""

import copy
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import exercise_answers
import nbformat
import pytest
import torch
from nbclient import NotebookClient
from scripts_loader import load_script

from camlib.lab import launch
from camlib.lab.exercises import answer_code, compare, expect, expect_written

build_students = load_script("build_students")
student_notebook, write_student_notebooks = build_students.student_notebook, build_students.write_student_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENTS = ROOT / "students"
QUESTION = re.compile(r"# BEGIN QUESTION\s*\nname: (\w+)")


# compare: what is wrong, in words -----------------------------------------------------------

def test_compare_accepts_equal_values_of_different_types():
    assert compare(torch.tensor([[2.0, -3.0], [3.0, 2.0]]), [[2, -3], [3, 2]]) is None
    assert compare(torch.tensor(0.5), 0.5) is None  # a one-element tensor counts as a number
    assert compare(torch.tensor([1.0]), 1.0) is None
    assert compare((4, 4), (4, 4)) is None
    assert compare("stage 2", "stage 2") is None
    assert compare(1.0 + 1e-6, 1.0) is None  # within the tolerance


def test_compare_takes_true_and_false_in_any_form_either_way():
    import numpy as np
    trues = (True, np.True_, torch.tensor(True), np.array([True]), (np.arange(3) < 5).all())
    falses = (False, np.False_, torch.tensor(False), (np.arange(3) > 5).all())
    for answer in trues:
        for expected in trues:
            assert compare(answer, expected) is None, (answer, expected)
        for expected in falses:
            assert compare(answer, expected) == "got True, which is not the answer", (answer, expected)
    assert compare(False, (np.arange(3) > 5).all()) is None


def test_compare_names_the_problem():
    assert compare(None, 1.0) == "not answered yet: replace ... with your answer"
    assert compare(torch.zeros(2), torch.zeros(3)) == "shape [2] where [3] is expected"
    assert compare(2.5, 1.0) == "got 2.5, which is not the expected value"
    assert compare(torch.tensor([1.0, 2.0, 5.0]), [1.0, 2.0, 3.0]) == "1 of 3 values differ, first at index (2,): got 5"
    assert compare(float("nan"), 1.0) == "the answer contains NaN"
    assert compare("stage 1", "stage 2") == "got 'stage 1', expected something else"
    assert compare("seven", 7).startswith("expected a number or a tensor, got str")


def test_otters_placeholder_is_not_an_answer():
    assert compare(..., 1.0) == "not answered yet: replace ... with your answer"
    assert compare([1.0, ...], [1.0, 2.0]).startswith("at item 1: ")


def test_expect_raises_the_sentence_of_compare():
    expect(torch.tensor([2.0, 3.0]), [2.0, 3.0])
    with pytest.raises(AssertionError, match=r"^got 59, which is not the expected value$"):
        expect(59, 60)
    with pytest.raises(AssertionError, match="not answered yet"):
        expect(..., torch.ones(2))
    with pytest.raises(ValueError, match="a tolerance is a finite number"):
        expect(1.0, 1.0, atol=-1)


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


# the masters and the student notebooks Otter Assign builds from them -------------------------

def questions(notebook) -> dict[str, dict]:
    """Each question of a master: its answer cell's source and its test cells."""
    found, current, part = {}, None, None
    for cell in notebook.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            match = QUESTION.match(text)
            if match:
                current = found.setdefault(match.group(1), {"answers": [], "tests": []})
            elif text in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                part = "answers" if "SOLUTION" in text else "tests"
            elif text.startswith("# END"):
                part = None if text != "# END QUESTION" else part
                current = None if text == "# END QUESTION" else current
        elif current is not None and part is not None and cell.cell_type == "code":
            current[part].append(cell.source)
    return found


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Every student notebook, its public tests and its autograder, built once by Otter Assign."""
    out = tmp_path_factory.mktemp("assign")
    write_student_notebooks(ROOT / "notebooks", out / "students", out / "autograder")
    return out / "students", out / "autograder"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_master_has_two_to_five_graded_questions_with_hints(path):
    found = questions(nbformat.read(path, as_version=4))
    assert 2 <= len(found) <= 5, f"{path.name}: {len(found)} graded questions; the course wants 2 to 5"
    for name, question in found.items():
        assert name.startswith(f"ex{path.name[:2]}_"), f"{path.name}: question {name} is not named ex{path.name[:2]}_N"
        assert len(question["answers"]) == 1, f"{name}: one answer cell, so the student has one place to answer"
        assert "SOLUTION" in question["answers"][0], f"{name}: the answer cell marks its solution lines"
        public = [t for t in question["tests"] if "hidden: true" not in t]
        assert public and all("failure_message:" in t for t in public), f"{name}: every public test gives a hint"


def test_the_committed_student_notebooks_are_the_ones_otter_builds(built):
    students, _ = built
    for path in sorted(students.glob("*.ipynb")):
        fresh = nbformat.read(path, as_version=4)
        committed = nbformat.read(STUDENTS / path.name, as_version=4)
        assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in fresh.cells], (
            f"students/{path.name} is out of date with notebooks/{path.name}: run `make students`")
    fresh_tests = {str(p.relative_to(students)): p.read_text() for p in (students / "tests").rglob("*.py")}
    committed_tests = {str(p.relative_to(STUDENTS)): p.read_text() for p in (STUDENTS / "tests").rglob("*.py")}
    assert committed_tests == fresh_tests, "students/tests is out of date: run `make students`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_student_run_executes_every_cell_of_the_master(path):
    """CI runs the masters only through their student notebooks (pytest's testpaths hold tests/ alone):
    every code cell of a master is a cell of its student notebook, an answer (run there by _try) or a
    test (run there by grader.check), so the student-notebook test below executes all of it."""
    master, student = nbformat.read(path, as_version=4), nbformat.read(STUDENTS / path.name, as_version=4)
    in_student = {c.source.strip() for c in student.cells if c.cell_type == "code"}
    in_question = {source.strip() for q in questions(master).values() for source in q["answers"] + q["tests"]}
    missing = [c.source[:80] for c in master.cells
               if c.cell_type == "code" and c.source.strip() not in in_student | in_question]
    assert not missing, f"{path.name}: cells the student run never executes: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_student_notebook_shows_an_answer_or_a_test(path):
    """No line of a solution appears in the student notebook, unless the master shows that very line
    elsewhere too (``plt.show()``, ``try:``); no test, no expected value."""
    master, student = nbformat.read(path, as_version=4), nbformat.read(STUDENTS / path.name, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "SOLUTION" not in text and "def test_" not in text and "expect(" not in text
    found = questions(master)
    in_question = {source for q in found.values() for source in q["answers"] + q["tests"]}
    elsewhere = {line.strip() for c in master.cells if c.source not in in_question for line in c.source.splitlines()}
    for name, question in found.items():
        answer = question["answers"][0]
        solution = re.findall(r"^(.*?)\s*# SOLUTION$", answer, flags=re.M)
        solution += re.findall(r"# BEGIN SOLUTION[^\n]*\n(.*?)# END SOLUTION", answer, flags=re.S)
        for line in {line.strip() for block in solution for line in block.splitlines()} - elsewhere - {""}:
            assert line not in text, f"{name}: the student notebook shows the solution line {line!r}"
        assert f'grader.check("{name}")' in text
        for test in (t for t in question["tests"] if "hidden: true" in t):
            function = re.search(r"def (\w+)", test).group(1)
            public = (STUDENTS / "tests" / path.stem / f"{name}.py").read_text()
            assert function not in public, f"{name}: {function} is hidden"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_badges_open_the_student_notebook(path):
    title = nbformat.read(STUDENTS / path.name, as_version=4).cells[0].source
    assert f"/blob/main/students/{path.name}" in title and f"labpath=students%2F{path.name}" in title
    assert "notebooks/" not in title and "notebooks%2F" not in title


@pytest.fixture(scope="session")
def student_python() -> Path:
    """The Python of the smallest environment a student gets: camlib[grading] and nothing else, which
    the autograder installs and make lab's and Colab's environments contain (test_imports.py).
    ``make test`` builds it in build/envs/student and names it in $CAMLIB_STUDENT_PYTHON."""
    # absolute, not resolved: the venv's python is a link, and only through it is the venv the venv
    python = Path(os.path.abspath(os.environ.get("CAMLIB_STUDENT_PYTHON", ROOT / "build/envs/student/bin/python")))
    if not python.exists():
        message = f"no student environment at {python}: `make test` builds it (camlib[grading] alone)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(scope="session")
def student_kernel(student_python, tmp_path_factory) -> tuple[str, Path]:
    """A Jupyter kernel in the student environment: (its name, the JUPYTER_PATH folder that holds it)."""
    python = student_python
    folder = tmp_path_factory.mktemp("jupyter")
    spec = {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python",
            "display_name": "camlib[grading]", "env": {"PYTHONPATH": "", "VIRTUAL_ENV": str(python.parent.parent),
                                                      "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin"}}
    (folder / "kernels" / "camlib-student").mkdir(parents=True)
    (folder / "kernels" / "camlib-student" / "kernel.json").write_text(json.dumps(spec))
    return "camlib-student", folder


def hidden_tests(autograder: Path, stem: str, into: Path) -> Path:
    """The autograder zip's tests (public and hidden) unpacked into a folder; returns it."""
    with zipfile.ZipFile(autograder / f"{stem}-autograder.zip") as bundle:
        for member in bundle.namelist():
            if member.startswith("tests/"):
                (into / member).parent.mkdir(parents=True, exist_ok=True)
                (into / member).write_bytes(bundle.read(member))
    return into / "tests"


ENVIRONMENT_PROBE = """import importlib.util, sys
_environment = {"prefix": sys.prefix, "test_only": [m for m in ("pytorch_grad_cam", "torchcam", "quantus", "cv2",
                "pytest") if importlib.util.find_spec(m)]}"""
# Kernel-side helpers of the student notebook run below. _try runs an answer in a copy of the
# namespace (with every earlier master answer's names and the answer as the last cell of In, where
# hidden tests read how it was computed) and checks it there; the hooks of the notebook's networks,
# and with restore their weights, are put back afterwards, so a wrong answer never breaks the notebook.
HELPERS = """import copy as _copy
import linecache as _linecache

import torch as _torch


def _networks(namespace):
    return list({id(v): v for v in list(namespace.values()) if isinstance(v, _torch.nn.Module)}.values())


def _try(name, source, restore=False):
    networks = _networks(globals())
    hooks = [(m, dict(m._forward_hooks), dict(m._forward_pre_hooks)) for net in networks for m in net.modules()]
    weights = [(net, _copy.deepcopy(net.state_dict())) for net in networks] if restore else []
    env = {**globals(), **_answered, "In": [*globals().get("In", []), source]}
    filename = f"<an answer to {name}, {len(_linecache.cache)}>"  # kept, as IPython keeps cells: getsource works
    _linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), env)
        public, hidden = grader.check(name, env), _hidden.check(name, env)
        verdict = [public.passed_all, hidden.passed_all, repr(public), repr(hidden)]
    except Exception as error:
        verdict = [False, False, f"the answer raised {type(error).__name__}: {error}", ""]
    finally:
        for module, forward, pre in hooks:
            module._forward_hooks.clear()
            module._forward_hooks.update(forward)
            module._forward_pre_hooks.clear()
            module._forward_pre_hooks.update(pre)
        for net, state in weights:
            net.load_state_dict(state)
    return verdict, env"""
# At each grader.check cell of the unanswered notebook: the checks' verdicts as shipped, the master's
# answer's, and those of the other answers of tests/repository/exercise_answers.py. The notebook itself goes on
# unanswered, as for a student who skips the exercise.
VERDICT = """_shipped = [any(r.passed for r in grader.check({name!r}).test_case_results),
            any(r.passed for r in _hidden.check({name!r}).test_case_results)]
_verdicts[{name!r}] = {{"shipped": _shipped}}
_result, _env = _try({name!r}, {answer!r})
_answered.update({{k: v for k, v in _env.items() if k != "In" and (k not in globals() or v is not globals()[k])}})
_verdicts[{name!r}]["master"] = _result
_verdicts[{name!r}]["others"] = [[kind, *_try({name!r}, source, restore)[0]] for kind, source, restore in {others!r}]"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_student_notebook_runs_to_its_end_unanswered_and_each_right_answer_passes(
        path, built, student_kernel, tmp_path, monkeypatch):
    """The student notebook as shipped, run top to bottom in camlib[grading]'s environment: nothing
    crashes, every check (public and hidden) fails politely. At each check, the master's answer, run
    beside the notebook, passes every check; each right answer written another way passes too, and
    each common mistake fails: publicly where a check can tell, at the latest by a hidden test that
    says why (tests/repository/exercise_answers.py)."""
    monkeypatch.setenv("CAMLIB_PROFILE", "quick")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    kernel, jupyter_path = student_kernel
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    students, autograder = built
    hidden = hidden_tests(autograder, path.stem, tmp_path)
    answers = {name: q["answers"][0] for name, q in questions(nbformat.read(path, as_version=4)).items()}
    others = {name: exercise_answers.variants(name, answer) for name, answer in answers.items()}
    student = nbformat.read(students / path.name, as_version=4)
    code = nbformat.v4.new_code_cell
    cells = [code(ENVIRONMENT_PROBE), code(HELPERS)]
    for cell in student.cells:
        match = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip())
        name = match.group(1) if match else None
        cells.append(code(VERDICT.format(name=name, answer=answers[name], others=others[name])) if match else cell)
        if cell.source.startswith("# Otter-Grader runs"):
            cells.append(code(f'_hidden = otter.Notebook("{path.name}", tests_dir="{hidden}")\n'
                              "_verdicts, _answered = {}, {}"))
    cells.append(code('import json\nprint("VERDICTS" + json.dumps([_environment, _verdicts]))'))
    student.cells = cells
    NotebookClient(student, timeout=900, kernel_name=kernel, resources={"metadata": {"path": str(students)}}).execute()
    printed = "".join(o.get("text", "") for o in cells[-1].outputs)
    environment, verdicts = json.loads(printed.split("VERDICTS", 1)[1])
    assert Path(environment["prefix"]).resolve() != Path(sys.prefix).resolve(), "the kernel ran in the test env"
    assert not environment["test_only"], f"the student environment holds test-only packages {environment['test_only']}"
    assert set(verdicts) == set(answers)
    problems = []
    for name, verdict in verdicts.items():
        if any(verdict["shipped"]):  # one test passing would give a blank answer part of the points
            problems.append(f"{name}: a test passes before it is answered ({verdict['shipped']}: public, hidden)")
        if not all(verdict["master"][:2]):
            problems.append(f"{name} fails with the right answer typed in: {verdict['master'][2:]}")
        for (kind, public, hidden, public_says, hidden_says), (_, source, _) in zip(verdict["others"], others[name]):
            problems += exercise_answers.judge(name, kind, source, public, hidden, public_says, hidden_says)
    assert not problems, "\n\n".join(problems)


def with_answers(student: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with the master's answers typed into its answer cells (the cell before
    each grader.check), as a student who solved everything submits it."""
    filled = copy.deepcopy(student)
    for before, cell in zip(filled.cells, filled.cells[1:]):
        match = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip())
        if match:
            before.source = re.sub(r"\s*# SOLUTION$", "", answers[match.group(1)], flags=re.M)
    return filled


def otter_run(otter: Path, notebook: nbformat.NotebookNode, name: str, autograder: Path, folder: Path) -> dict:
    """``otter run`` of one submission against its autograder, with the student environment's Otter,
    as the autograder runs it; returns results.json."""
    folder.mkdir()
    nbformat.write(notebook, folder / name)
    run = subprocess.run([str(otter), "run", "-a", str(autograder), "-o", str(folder), "--no-logo", name],
                         cwd=folder, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PATH": f"{otter.parent}:{os.environ['PATH']}", "PYTHONPATH": ""})
    assert run.returncode == 0, f"otter run failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return json.loads((folder / "results.json").read_text())


# The autograder executes the whole submission: CI runs it on notebook 01, which takes seconds; the
# others' checks run in test_a_student_notebook_runs_to_its_end_unanswered_and_each_right_answer_passes.
# CAMLIB_AUTOGRADE_ALL=1 runs it on every notebook (make autograde-check: about 20 minutes on 2 cores).
AUTOGRADED = [path for path in NOTEBOOKS if os.environ.get("CAMLIB_AUTOGRADE_ALL") or path.name[:2] == "01"]


@pytest.mark.parametrize("path", AUTOGRADED, ids=lambda p: p.stem)
def test_the_autograder_gives_the_solution_full_marks_and_nothing_zero(path, built, student_python, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("CAMLIB_PROFILE", "quick")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    students, autograder = built
    zip_path = autograder / f"{path.stem}-autograder.zip"
    student = nbformat.read(students / path.name, as_version=4)
    answers = {name: q["answers"][0] for name, q in questions(nbformat.read(path, as_version=4)).items()}
    for label, submission, want in [("nothing", student, 0.0), ("solution", with_answers(student, answers), 1.0)]:
        results = otter_run(student_python.parent / "otter", submission, path.name, zip_path, tmp_path / label)
        graded = [t for t in results["tests"] if t["name"] in answers]
        assert {t["name"] for t in graded} == set(answers), f"{label}: the autograder graded {graded}"
        for test in graded:
            assert test["score"] == want * test["max_score"], f"{label}: {test['name']}: {test.get('output', '')}"


def test_expect_written_grades_how_an_answer_was_computed():
    history = ["logits = model(x)", "answer_1 = logits[1, labels[1]]  # copied"]
    with pytest.raises(AssertionError, match="uses logits: compute it yourself"):
        expect_written("answer_1", history, avoid=("logits",), use=("raw_cams",))
    with pytest.raises(AssertionError, match="must be computed from raw_cams"):
        expect_written("answer_1", [*history, "answer_1 = 3.2"], use=("raw_cams",))
    expect_written("answer_1", [*history, "answer_1 = raw_cams[1, 4].mean()"], avoid=("logits",), use=("raw_cams",))
    assert answer_code("answer_1", ["answer_1 == 2", "answer_1: float = 2", "y = 1"]) == "answer_1: float = 2"
    assert answer_code("answer_1", None) is None
    given = "logits = model(x)  # the exercise's own line\n# your code: answer_1\nanswer_1 = raw_cams[1].mean()"
    assert answer_code("answer_1", [given]) == "answer_1 = raw_cams[1].mean()"
    steps = "# your code\nm = maps.mean()\nplot(logits)\nanswer_1 = m + bias\nanswer_2 = logits"
    assert answer_code("answer_1", [steps]) == "m = maps.mean()\nanswer_1 = m + bias"  # what it depends on
    expect_written("answer_1", [given], avoid=("logits",), use=("raw_cams",))
    expect_written("answer_1", None, avoid=("logits",))  # no history (plain Python): nothing to grade
    with pytest.raises(AssertionError, match="not answered yet"):  # a blank answer earns no hidden points
        expect_written("answer_1", ["x = 1\n# your code\nanswer_1 = ..."], avoid=("logits",))
    with pytest.raises(AssertionError, match="not answered yet"):
        expect_written("answer_1", ["answer_1: float = ..."])


def test_expect_written_reads_a_functions_own_code():
    from camlib.methods.gradcam import grad_cam

    def lazy(model, layer, images, classes):
        return grad_cam(model, layer, images, classes)

    with pytest.raises(AssertionError, match="uses grad_cam"):
        expect_written(lazy, avoid=("grad_cam",), what="my_grad_cam")
    with pytest.raises(TypeError, match="a function, or the name of an answer"):
        answer_code(3)

    def blank(model, images):
        """A student's function, not written yet."""
        ...

    with pytest.raises(AssertionError, match="not answered yet"):
        expect_written(blank, avoid=("grad_cam",), what="my_grad_cam")


def test_student_notebook_needs_otters_check_cells():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys")])
    with pytest.raises(ValueError, match="no grader.check cell"):
        student_notebook(notebook, "01_x")


def test_the_student_build_refuses_what_would_overwrite_or_cannot_be_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        write_student_notebooks(tmp_path, tmp_path / "out")
    (tmp_path / "01_x.ipynb").write_text("{ not json")
    with pytest.raises(ValueError, match="would overwrite the solutions"):
        write_student_notebooks(tmp_path, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_student_notebooks(tmp_path, tmp_path / "file")
    with pytest.raises(ValueError, match="01_x.ipynb is not a readable notebook"):
        write_student_notebooks(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_student_tests_are_found_beside_the_notebook_and_missing_ones_say_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests" / "01_x").mkdir(parents=True)
    (tmp_path / "tests" / "01_x" / "ex01_1.py").write_text("")
    assert launch.student_tests("01_x", ["ex01_1"]) == str(Path("tests") / "01_x")
    with pytest.raises(FileNotFoundError, match=r"\['ex01_2'\].*open the student notebook inside the students/ folder"):
        launch.student_tests("01_x", ["ex01_1", "ex01_2"])


def test_each_student_notebook_checks_only_its_own_tests():
    for path in NOTEBOOKS:
        student = nbformat.read(STUDENTS / path.name, as_version=4)
        asked = re.findall(r'grader\.check\("(\w+)"\)', "\n".join(c.source for c in student.cells))
        own = sorted(p.stem for p in (STUDENTS / "tests" / path.stem).glob("*.py"))
        assert sorted(asked) == own, f"{path.name}: grader.check_all() would run {own}, the notebook asks {asked}"


def test_on_colab_missing_student_tests_are_fetched_from_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(launch, "on_colab", lambda: True)
    asked = []

    def fake_urlopen(url):
        asked.append(url)
        return io.BytesIO(b"OK_FORMAT = False\n")

    monkeypatch.setattr(launch.urllib.request, "urlopen", fake_urlopen)
    assert launch.student_tests("02_mnist", ["ex02_1"]) == str(Path("tests") / "02_mnist")
    repo = launch.repository_url().removeprefix("https://github.com/")
    assert asked == [f"https://raw.githubusercontent.com/{repo}/main/students/tests/02_mnist/ex02_1.py"]
    assert (tmp_path / "tests" / "02_mnist" / "ex02_1.py").read_text() == "OK_FORMAT = False\n"
    assert not list((tmp_path / "tests" / "02_mnist").glob(".*"))  # no partial download left behind


def test_a_fingerprint_checks_an_answer_without_holding_it():
    from camlib.lab.exercises import expect_fingerprint, fingerprint

    digest = fingerprint(torch.tensor([[2.0, -3.0], [3.0, 2.0]]))
    # the same values in any numeric form, within rounding, match; -0.0 is 0.0; one element is a number
    near = torch.tensor([[2.0, -3.0], [3.0, 2.0]], dtype=torch.float64) + 1e-6
    for same in ([[2, -3], [3, 2]], near.numpy(), torch.tensor([[2.0, -3], [3, 2]]).double()):
        expect_fingerprint(same, digest, shape=(2, 2))
    assert fingerprint(-0.0) == fingerprint(0.0) == fingerprint(torch.tensor([0.0]))
    expect_fingerprint(torch.tensor([1.0]), fingerprint(1.0), shape=())
    with pytest.raises(AssertionError, match="not answered yet"):
        expect_fingerprint(..., digest, shape=(2, 2))
    with pytest.raises(AssertionError, match=r"expected shape \[2, 2\], got \[4\]"):
        expect_fingerprint([2, -3, 3, 2], digest, shape=(2, 2))
    with pytest.raises(AssertionError, match="the values are not"):
        expect_fingerprint([[2, 3], [-3, 2]], digest, shape=(2, 2))  # transposed
    with pytest.raises(AssertionError, match="expected a number or a tensor"):
        expect_fingerprint("2, -3, 3, 2", digest)
    with pytest.raises(TypeError, match="fingerprint takes real numbers"):
        fingerprint({"a": 1})
