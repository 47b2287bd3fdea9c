"""The grading command gives the demo cohort exactly the scores that stock `nbgrader autograde` gives."""

from __future__ import annotations

import pytest

from autograder.engine.gradebook import cell_scores
from autograder.tools.bench import stock_course
from autograder.tools.cohort import demo_cohort, write_cohort
from autograder.tools.demo import autograde_stock, db_url, grade_fast, register_assignment
from autograder.tools.release import generate

ASSIGNMENT = "00_tensors"


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The demo cohort graded by stock nbgrader (its own pipeline and kernels) and by the grading command."""
    base = tmp_path_factory.mktemp("same_scores")
    cohort = demo_cohort(ASSIGNMENT)
    stock, fast = base / "stock", base / "fast"
    root = stock_course(base / "stock_course")
    for folder in (stock, fast):
        write_cohort(ASSIGNMENT, cohort, folder / "submitted")
    generate(ASSIGNMENT, base / "stock_release", root, db_url=db_url(stock))
    stock_run = autograde_stock(ASSIGNMENT, stock, root=root)
    register_assignment(ASSIGNMENT, fast)
    fast_run = grade_fast(ASSIGNMENT, fast, progress=False)
    return cohort, stock, fast, stock_run, fast_run


@pytest.mark.xdist_group("same_scores")
def test_every_cell_scores_the_same_as_stock_nbgrader(both):
    """Does every submission that stock nbgrader can grade get the same points on every cell from the command?"""
    cohort, stock, fast, stock_run, _ = both
    compared = 0
    for student in cohort:
        stock_scores = cell_scores(db_url(stock), ASSIGNMENT, student.student_id)
        if not stock_scores or student.broken_text is not None:
            continue
        assert cell_scores(db_url(fast), ASSIGNMENT, student.student_id) == stock_scores, student.student_id
        compared += 1
    assert compared == len(cohort) - 1, stock_run.stdout[-2000:]


@pytest.mark.xdist_group("same_scores")
def test_what_stock_cannot_grade_is_a_named_error(both):
    """Is the notebook stock nbgrader fails on reported by the command as a per-student error, not a crash?"""
    _, _, _, stock_run, fast_run = both
    assert stock_run.returncode != 0
    assert "ERROR  00_tensors/s10_broken: 00_tensors.ipynb is not valid notebook JSON" in fast_run.stdout
