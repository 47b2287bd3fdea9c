"""01_autograd through real grading: the grading command and plain `nbgrader autograde` agree with the suite.

A sample (the reference, the blank release, every cell's last correct alternative at once, and the banked mistakes
that pass every visible test, one per cell to a notebook) is graded by the grading command
(``python -m autograder.engine.grade``, which judges outside the kernel) and by plain ``nbgrader autograde`` with the
course's configuration, in the runs shared with the red team (``tests/autograd_cohort.py``). Both must give every
cell exactly the points the in-process grader gives; every hidden-only mistake must lose its cell's points. Stock
nbgrader, where the hidden block runs the same check inside the kernel, gives the reference every point too.

Every mistake and alternative is proven in-process (``tests/test_mistake_bank.py``); this file is the sample that
shows the real graders reach the same verdicts.
"""

from __future__ import annotations

import pytest
from autograd_cohort import (
    ASSIGNMENT,
    XDIST_GROUP,
    Run,
    control_run,
    defended_run,
    expected_points,
    hidden_only_mistakes,
    sample,
)

from autograder.course import source_notebook
from autograder.mistakes import mistakes_for
from autograder.tools.in_process import points_by_test_cell, read_notebook

pytestmark = pytest.mark.xdist_group(XDIST_GROUP)


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def graded(request, tmp_path_factory) -> Run:
    """The sample graded one of two ways (in the run shared with the red team)."""
    return defended_run(request.param, tmp_path_factory)


def _full() -> dict[str, float]:
    return points_by_test_cell(read_notebook(source_notebook(ASSIGNMENT)))


def test_sample_holds_every_hidden_only_mistake():
    """(Guard) Does the sample carry every banked mistake that passes the visible tests, and one for every cell?"""
    names = [name for student in sample() if student.student_id.startswith("hidden_only_")
             for name in student.description.split(",")]
    assert sorted(names) == sorted(hidden_only_mistakes())
    cells = {cell for m in mistakes_for(ASSIGNMENT) if m.name in names for cell in m.loses_on}
    assert cells == set(_full())


def test_reference_full_marks_and_blank_zero(graded):
    """Does the reference earn every point, a correct alternative every point, and the blank release none?"""
    outcomes = graded.outcomes
    assert outcomes["reference"].scores == _full(), (graded.mode, outcomes["reference"], graded.log[-3000:])
    assert outcomes["alternative"].scores == _full(), (graded.mode, graded.incidents["alternative"])
    assert outcomes["blank"].scores == dict.fromkeys(_full(), 0.0), graded.mode
    assert not outcomes["reference"].flags and not outcomes["alternative"].flags, graded.mode


@pytest.mark.parametrize("grade_id", points_by_test_cell(read_notebook(source_notebook(ASSIGNMENT))))
def test_hidden_only_mistakes_lose_their_cell(graded, grade_id):
    """Does every mistake aimed at this cell that passes its visible test lose the cell's points here?"""
    aimed = [m.name for m in mistakes_for(ASSIGNMENT) if grade_id in m.loses_on and m.name in hidden_only_mistakes()]
    assert aimed, f"no banked mistake on {grade_id} passes its visible test: its hidden tests prove nothing here"
    for name in aimed:
        student = next(s for s in sample() if name in s.description.split(","))
        points = graded.outcomes[student.student_id].scores[grade_id]
        assert points == 0, f"{name} kept {points} points on {grade_id} ({graded.mode})"


def test_every_cell_scores_as_the_in_process_grader(graded):
    """Does this grader give every cell of every sample student the points the in-process grader gives?"""
    for student in sample():
        assert graded.outcomes[student.student_id].scores == expected_points(student.student_id), (
            graded.mode, student.student_id, graded.incidents[student.student_id])


def test_stock_nbgrader_gives_the_reference_every_point(tmp_path_factory):
    """Under stock nbgrader (the check runs inside the kernel), does the reference still earn every point?"""
    run = control_run("stock", tmp_path_factory)
    assert run.outcomes["reference"].scores == _full(), (run.outcomes["reference"], run.log[-3000:])
