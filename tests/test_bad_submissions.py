"""Bad submissions never stop a grading run: each is repaired and graded, or reported by name with a clear reason."""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import fixture_course
import nbformat
import pytest
from fixture_course.answers import COLUMNS, DOUBLE, MISTAKES, PREFIX, TEST_OF
from nbgrader.api import Gradebook

from autograder.engine.gradebook import cell_scores
from autograder.tools.cohort import BROKEN_NOTEBOOK_TEXT, reference_solutions, submission
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.in_process import nbgrader_meta
from autograder.tools.release import nbgrader_env

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ROOT = fixture_course.ROOT
ASSIGNMENT = fixture_course.ASSIGNMENT
FULL_MARKS = 5.0
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# The test cell that students delete or edit, the solution cell they copy, and the cell whose points they change
# (in the engine's fixture course, tests/fixture_course).
DELETED_TEST = TEST_OF[PREFIX]  # 2 points
EDITED_TEST = TEST_OF[DOUBLE]  # 1 point
COPIED_SOLUTION = DOUBLE
REPOINTED_TEST = TEST_OF[COLUMNS]  # 2 points
# Mistakes that the visible tests of those cells already catch: a test cell left as the student wrote it would hide
# them.
WRONG_PREFIX_SUMS = "prefix_skips_first"
WRONG_DOUBLE = "double_adds_one"
SHADOW_MODULES = ("torch", "numpy")

Writer = Callable[[Path], None]


def _reference() -> nbformat.NotebookNode:
    """The release notebook filled in with the reference solution."""
    return submission(ASSIGNMENT, reference_solutions(ASSIGNMENT))


def _with_mistake(name: str) -> nbformat.NotebookNode:
    """The reference submission with one of the fixture's mistakes."""
    return submission(ASSIGNMENT, {**reference_solutions(ASSIGNMENT), **MISTAKES[name].replaces})


def _index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    """Position of the cell with ``grade_id``."""
    return next(i for i, cell in enumerate(nb.cells) if nbgrader_meta(cell).get("grade_id") == grade_id)


def _json(nb: nbformat.NotebookNode) -> str:
    """``nb`` as JSON text, as it is (nbformat.writes would repair it), Korean text unescaped as Jupyter writes it."""
    return json.dumps(nb, ensure_ascii=False, indent=1)


def _notebook(nb: nbformat.NotebookNode) -> Writer:
    """Write ``nb`` as the notebook file, in UTF-8."""
    return lambda folder: (folder / NOTEBOOK).write_text(_json(nb), encoding="utf-8")


def _raw(data: bytes) -> Writer:
    """Write ``data`` as the notebook file."""
    return lambda folder: (folder / NOTEBOOK).write_bytes(data)


def _cp949_reference() -> bytes:
    """The reference notebook saved by a Windows editor in cp949 (the Korean text makes it invalid UTF-8)."""
    data = _json(_reference()).encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    return data


def _nbformat_v3_reference() -> bytes:
    """The reference notebook written in the old nbformat 3 (convert mutates its argument, hence the copy)."""
    return nbformat.writes(nbformat.convert(copy.deepcopy(_reference()), 3), version=3).encode("utf-8")


def _copied_solution() -> nbformat.NotebookNode:
    """The reference with a solution cell pasted twice: same grade_id, same cell id."""
    nb = _reference()
    index = _index(nb, COPIED_SOLUTION)
    nb.cells.insert(index + 1, copy.deepcopy(nb.cells[index]))
    return nb


def _lost_grade_id(grade_id: str) -> nbformat.NotebookNode:
    """The reference with the grade_id gone from one cell's nbgrader metadata (the rest of it kept)."""
    nb = _reference()
    del nb.cells[_index(nb, grade_id)].metadata.nbgrader["grade_id"]
    return nb


def _emptied_metadata() -> nbformat.NotebookNode:
    """The reference with a solution cell's nbgrader metadata emptied (what nbgrader's DeduplicateIds leaves)."""
    nb = _reference()
    nb.cells[_index(nb, COPIED_SOLUTION)].metadata.nbgrader = {}
    return nb


def _deleted_test(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without the test cell DELETED_TEST."""
    del nb.cells[_index(nb, DELETED_TEST)]
    return nb


def _edited_test() -> nbformat.NotebookNode:
    """A wrong double whose test cell the student replaced with ``pass``."""
    nb = _with_mistake(WRONG_DOUBLE)
    nb.cells[_index(nb, EDITED_TEST)].source = "pass"
    return nb


def _repointed() -> nbformat.NotebookNode:
    """The reference with the points of a test cell raised in its metadata."""
    nb = _reference()
    nb.cells[_index(nb, REPOINTED_TEST)].metadata.nbgrader["points"] = 100
    return nb


def _flipped_flags() -> nbformat.NotebookNode:
    """The reference with a test cell's nbgrader flags edited: no longer graded, schema version gone."""
    nb = _reference()
    meta = nb.cells[_index(nb, REPOINTED_TEST)].metadata.nbgrader
    meta["grade"] = False
    del meta["schema_version"]
    return nb


def _with_shadow_modules(folder: Path) -> None:
    """The reference, next to a ``torch.py`` and a ``numpy.py`` that break any import of them."""
    _notebook(_reference())(folder)
    for module in SHADOW_MODULES:
        (folder / f"{module}.py").write_text(f"raise ImportError('the submitted {module}.py was imported')\n")


def _bad_cohort() -> dict[str, Writer]:
    """Every kind of bad submission, with a good student among them."""
    return {
        "bad_good_reference": _notebook(_reference()),
        "bad_invalid_json": _raw(BROKEN_NOTEBOOK_TEXT.encode()),
        "bad_random_bytes": _raw(random.Random(7).randbytes(4096)),
        "bad_cp949": _raw(_cp949_reference()),
        "bad_nbformat_v3": _raw(_nbformat_v3_reference()),
        "bad_copied_solution": _notebook(_copied_solution()),
        "bad_solution_lost_id": _notebook(_lost_grade_id(COPIED_SOLUTION)),
        "bad_test_lost_id": _notebook(_lost_grade_id(DELETED_TEST)),
        "bad_empty_metadata": _notebook(_emptied_metadata()),
        "bad_deleted_test": _notebook(_deleted_test(_reference())),
        "bad_deleted_test_wrong": _notebook(_deleted_test(_with_mistake(WRONG_PREFIX_SUMS))),
        "bad_edited_test_wrong": _notebook(_edited_test()),
        "bad_changed_points": _notebook(_repointed()),
        "bad_flipped_flags": _notebook(_flipped_flags()),
        "bad_shadow_modules": _with_shadow_modules,
    }


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Path:
    """A sqlite gradebook that knows the assignment, to copy into each working directory (registering is slow)."""
    workdir = tmp_path_factory.mktemp("bad_registered")
    register_assignment(ASSIGNMENT, workdir)
    return workdir / "gradebook.db"


def _prepare(workdir: Path, cohort: dict[str, Writer], registered: Path) -> None:
    """Write every student's submission folder and a gradebook that knows the assignment into ``workdir``."""
    for student, write in cohort.items():
        folder = workdir / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        write(folder)
    shutil.copy(registered, workdir / "gradebook.db")


def _grade(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the grading command on ``workdir`` (results in ``workdir/results.json``)."""
    return subprocess.run(
        [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
         "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
         "--db", db_url(workdir), "--json", str(workdir / "results.json"), *extra],
        cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory, registered) -> tuple[Path, dict[str, dict], subprocess.CompletedProcess]:
    """The bad cohort, graded once by the grading command."""
    workdir = tmp_path_factory.mktemp("bad")
    _prepare(workdir, _bad_cohort(), registered)
    completed = _grade(workdir, "--workers", "2")
    assert (workdir / "results.json").exists(), completed.stdout + completed.stderr
    results = {r["student"]: r for r in json.loads((workdir / "results.json").read_text(encoding="utf-8"))}
    return workdir, results, completed


def _grade_stock(workdir: Path, cohort: dict[str, Writer], registered: Path) -> subprocess.CompletedProcess:
    """Write ``cohort`` under ``workdir`` and grade it with plain ``nbgrader autograde``."""
    _prepare(workdir, cohort, registered)
    return autograde_stock(ASSIGNMENT, workdir)


@pytest.fixture(scope="module")
def stock_deleted_test(tmp_path_factory, registered) -> tuple[Path, subprocess.CompletedProcess]:
    """A deleted test cell, graded by plain ``nbgrader autograde``."""
    workdir = tmp_path_factory.mktemp("bad_stock_deleted")
    return workdir, _grade_stock(workdir, {"stock_deleted_test": _notebook(_deleted_test(_reference()))}, registered)


@pytest.fixture(scope="module")
def stock_copied_solution(tmp_path_factory, registered) -> tuple[Path, subprocess.CompletedProcess]:
    """A copied solution cell, graded by plain ``nbgrader autograde``."""
    workdir = tmp_path_factory.mktemp("bad_stock_copied")
    return workdir, _grade_stock(workdir, {"stock_copied_solution": _notebook(_copied_solution())}, registered)


def _total(workdir: Path, student: str) -> float:
    return sum(cell_scores(db_url(workdir), ASSIGNMENT, student).values())


def _summary(completed: subprocess.CompletedProcess, tag: str, student: str) -> list[str]:
    """The summary lines of one kind (ERROR, FIXED, NOTE) about one student."""
    return [line for line in completed.stdout.splitlines()
            if line.split()[:1] == [tag] and f" {ASSIGNMENT}/{student}: " in line]


@pytest.mark.xdist_group("grading")
def test_every_submission_has_a_result(graded):
    """Does the run finish and give every submission, broken or not, a result of its own?"""
    _, results, completed = graded
    assert set(results) == set(_bad_cohort()), completed.stdout + completed.stderr
    assert {r["status"] for r in results.values()} <= {"graded", "error"}


@pytest.mark.xdist_group("grading")
def test_run_exits_nonzero_when_a_submission_failed(graded):
    """Does the command exit 1 (not crash, not 0) when some submissions could not be graded?"""
    _, _, completed = graded
    assert completed.returncode == 1, completed.stderr[-2000:]


@pytest.mark.xdist_group("grading")
def test_good_student_keeps_full_marks(graded):
    """Does a correct submission graded alongside broken ones get full marks?"""
    workdir, results, _ = graded
    assert results["bad_good_reference"]["status"] == "graded"
    assert results["bad_good_reference"]["score"] == FULL_MARKS
    assert _total(workdir, "bad_good_reference") == FULL_MARKS


@pytest.mark.xdist_group("grading")
@pytest.mark.parametrize("student, reason", [
    ("bad_invalid_json", f"{NOTEBOOK} is not valid notebook JSON"),
    ("bad_random_bytes", f"{NOTEBOOK} is not UTF-8 text"),
])
def test_unreadable_notebook_is_a_named_error(graded, student, reason):
    """Is a notebook that cannot be read listed as an ERROR with its reason, and kept out of the gradebook?"""
    workdir, results, completed = graded
    assert results[student]["status"] == "error"
    assert reason in results[student]["error"]
    assert any(reason in line for line in _summary(completed, "ERROR", student)), completed.stdout
    assert cell_scores(db_url(workdir), ASSIGNMENT, student) == {}


@pytest.mark.xdist_group("grading")
@pytest.mark.parametrize("student, repair", [
    ("bad_cp949", "was not UTF-8; read it as cp949"),
    ("bad_nbformat_v3", "used nbformat 3; upgraded to 4"),
    ("bad_solution_lost_id", "nbgrader metadata has no grade_id; graded as an ordinary cell"),
    ("bad_test_lost_id", "nbgrader metadata has no grade_id; graded as an ordinary cell"),
    ("bad_flipped_flags", "was edited; restored as released"),
])
def test_repairable_notebook_gets_full_marks_and_a_fixed_line(graded, student, repair):
    """Is a cp949, nbformat-3, grade_id-less or flag-edited reference notebook repaired, said so, and fully graded?"""
    workdir, results, completed = graded
    assert results[student]["status"] == "graded", results[student]["error"]
    assert any(repair in line for line in _summary(completed, "FIXED", student)), completed.stdout
    assert _total(workdir, student) == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_nbformat_v3_keeps_the_nbgrader_metadata(graded):
    """Does the nbformat 3 notebook keep every test cell's identity, so each is scored by its own grade_id?"""
    workdir, _, _ = graded
    expected = cell_scores(db_url(workdir), ASSIGNMENT, "bad_good_reference")
    assert cell_scores(db_url(workdir), ASSIGNMENT, "bad_nbformat_v3") == expected


@pytest.mark.xdist_group("grading")
def test_copied_solution_cell_is_graded(graded):
    """Is a notebook with a solution cell pasted twice (same grade_id, same cell id) graded with full marks?"""
    workdir, results, completed = graded
    assert results["bad_copied_solution"]["status"] == "graded", results["bad_copied_solution"]["error"]
    assert _total(workdir, "bad_copied_solution") == FULL_MARKS
    fixed = _summary(completed, "FIXED", "bad_copied_solution")
    assert any(f"grade_id {COPIED_SOLUTION!r} appears more than once" in line for line in fixed), completed.stdout


@pytest.mark.xdist_group("grading")
def test_emptied_nbgrader_metadata_is_graded(graded):
    """Is a cell whose nbgrader metadata is an empty dict (what DeduplicateIds leaves) graded, not an error?"""
    workdir, results, _ = graded
    assert results["bad_empty_metadata"]["status"] == "graded", results["bad_empty_metadata"]["error"]
    assert _total(workdir, "bad_empty_metadata") == FULL_MARKS


@pytest.mark.xdist_group("grading")
@pytest.mark.parametrize("student, expected", [("bad_deleted_test", 2.0), ("bad_deleted_test_wrong", 0.0)])
def test_deleted_test_cell_is_restored_and_autograded(graded, student, expected):
    """Is a deleted test cell put back and scored by the autograder (not left for manual grading)?"""
    workdir, _, _ = graded
    with Gradebook(db_url(workdir)) as gradebook:
        found = gradebook.find_submission(ASSIGNMENT, student)
        grade = gradebook.find_grade(DELETED_TEST, ASSIGNMENT, ASSIGNMENT, student)
        assert not found.needs_manual_grade
        assert not grade.needs_manual_grade
        assert grade.auto_score == expected
        assert grade.score == expected


@pytest.mark.xdist_group("grading")
def test_deleted_test_cell_costs_nothing_else(graded):
    """Does the student who deleted a test cell keep full marks on every other cell?"""
    workdir, _, _ = graded
    assert _total(workdir, "bad_deleted_test") == FULL_MARKS
    assert _total(workdir, "bad_deleted_test_wrong") == FULL_MARKS - 2


@pytest.mark.xdist_group("grading")
def test_edited_test_cell_earns_nothing(graded):
    """Does a wrong solution whose test cell was replaced by ``pass`` still get 0 on that cell?"""
    workdir, _, _ = graded
    scores = cell_scores(db_url(workdir), ASSIGNMENT, "bad_edited_test_wrong")
    assert scores[EDITED_TEST] == 0
    assert sum(scores.values()) == FULL_MARKS - 1


@pytest.mark.xdist_group("grading")
def test_changed_points_do_not_count(graded):
    """Do the gradebook's points win over points a student raised in a test cell's metadata?"""
    workdir, results, _ = graded
    with Gradebook(db_url(workdir)) as gradebook:
        found = gradebook.find_submission(ASSIGNMENT, "bad_changed_points")
        grade = gradebook.find_grade(REPOINTED_TEST, ASSIGNMENT, ASSIGNMENT, "bad_changed_points")
        assert (grade.score, grade.max_score) == (2.0, 2.0)
        assert (found.score, found.max_score) == (FULL_MARKS, FULL_MARKS)
    assert results["bad_changed_points"]["max_score"] == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_shadowing_files_are_not_staged(graded):
    """Are a submitted torch.py and numpy.py left out (FIXED lines), so the real packages grade full marks?"""
    workdir, results, completed = graded
    fixed = _summary(completed, "FIXED", "bad_shadow_modules")
    for module in SHADOW_MODULES:
        assert any(f"{module}.py would shadow the installed module '{module}'" in line for line in fixed), fixed
        assert not (workdir / "autograded" / "bad_shadow_modules" / ASSIGNMENT / f"{module}.py").exists()
    assert results["bad_shadow_modules"]["status"] == "graded"
    assert _total(workdir, "bad_shadow_modules") == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_plain_nbgrader_restores_a_deleted_test_cell(stock_deleted_test):
    """Does plain `nbgrader autograde` (same config) also restore and autograde a deleted test cell?"""
    workdir, completed = stock_deleted_test
    assert completed.returncode == 0, completed.stderr[-2000:]
    with Gradebook(db_url(workdir)) as gradebook:
        found = gradebook.find_submission(ASSIGNMENT, "stock_deleted_test")
        assert not found.needs_manual_grade
        assert gradebook.find_grade(DELETED_TEST, ASSIGNMENT, ASSIGNMENT, "stock_deleted_test").score == 2.0
    assert _total(workdir, "stock_deleted_test") == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_plain_nbgrader_grades_a_copied_solution_cell(stock_copied_solution):
    """Does plain `nbgrader autograde` grade a notebook with a duplicated grade_id with full marks (nbgrader #1083)?"""
    workdir, completed = stock_copied_solution
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert _total(workdir, "stock_copied_solution") == FULL_MARKS
