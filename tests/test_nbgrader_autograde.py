"""A representative sample through real `nbgrader autograde`: same verdicts as the in-process grader."""

from __future__ import annotations

import pytest

from autograder.course import release_notebook, source_notebook
from autograder.engine.gradebook import cell_scores
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.tools.cohort import BROKEN_NOTEBOOK_TEXT, SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.in_process import grade_in_process, read_notebook, release_stubs, with_solutions
from autograder.tools.mistake_report import visible_catches

ASSIGNMENT = "00_tensors"


def _hidden_only() -> list[str]:
    """Banked mistakes that pass the visible tests: only the hidden tests, put back at autograde, can catch them."""
    return [name for cell in visible_catches(ASSIGNMENT).values() for name in cell.hidden_only]


def _sample() -> list[SyntheticStudent]:
    hidden_only = _hidden_only()
    assert len(hidden_only) >= 6, hidden_only
    reference = reference_solutions(ASSIGNMENT)
    mistakes = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    students = [
        SyntheticStudent("reference", "reference", dict(reference)),
        SyntheticStudent("blank", "blank", {}),
        SyntheticStudent("alternative", "alternative",
                         {**reference, **{k: v for a in alternatives_for(ASSIGNMENT) for k, v in a.replaces.items()}}),
        SyntheticStudent("broken", "broken", broken_text=BROKEN_NOTEBOOK_TEXT),
    ]
    for index in range(0, len(hidden_only), 3):
        names = hidden_only[index:index + 3]
        replacements = dict(reference)
        for name in names:
            replacements.update(mistakes[name].replaces)
        students.append(SyntheticStudent(f"mistakes_{index // 3}", ",".join(names), replacements))
    return students


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The sample cohort, autograded once by stock nbgrader."""
    workdir = tmp_path_factory.mktemp("course")
    students = _sample()
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    completed = autograde_stock(ASSIGNMENT, workdir)
    return workdir, students, completed


@pytest.mark.xdist_group("nbgrader")
def test_reference_full_and_blank_zero(graded):
    """Does nbgrader give the reference and a correct alternative full marks and the blank notebook zero?"""
    workdir, _, _ = graded
    reference = cell_scores(db_url(workdir), ASSIGNMENT, "reference")
    source = read_notebook(source_notebook(ASSIGNMENT))
    full = grade_in_process(source)
    assert sum(reference.values()) == full.max_score
    assert sum(cell_scores(db_url(workdir), ASSIGNMENT, "alternative").values()) == full.max_score
    assert sum(cell_scores(db_url(workdir), ASSIGNMENT, "blank").values()) == 0


@pytest.mark.xdist_group("nbgrader")
def test_hidden_tests_catch_what_visible_tests_miss(graded):
    """Do the mistakes that pass every visible test lose points through nbgrader's hidden tests?"""
    workdir, students, _ = graded
    mistakes = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    for student in students:
        if not student.student_id.startswith("mistakes_"):
            continue
        scores = cell_scores(db_url(workdir), ASSIGNMENT, student.student_id)
        for name in student.description.split(","):
            for grade_id in mistakes[name].loses_on:
                assert scores[grade_id] == 0, f"{name} kept points on {grade_id} in nbgrader"


@pytest.mark.xdist_group("nbgrader")
def test_in_process_grader_agrees_with_nbgrader(graded):
    """Does the fast in-process grader give every cell the same points as nbgrader autograde?"""
    workdir, students, _ = graded
    source = read_notebook(source_notebook(ASSIGNMENT))
    for student in students:
        if student.broken_text is not None:
            continue
        replacements = student.replacements or release_stubs(read_notebook(release_notebook(ASSIGNMENT)))
        in_process = grade_in_process(with_solutions(source, replacements))
        expected = {grade_id: cell.points for grade_id, cell in in_process.cells.items()}
        assert cell_scores(db_url(workdir), ASSIGNMENT, student.student_id) == expected, student.student_id


@pytest.mark.xdist_group("nbgrader")
def test_broken_notebook_does_not_stop_the_batch(graded):
    """Is everyone else graded although one submission is not even valid JSON?"""
    workdir, students, completed = graded
    graded_students = {p.name for p in (workdir / "autograded").iterdir()}
    assert graded_students == {s.student_id for s in students} - {"broken"}
    assert "broken" in completed.stdout + completed.stderr
