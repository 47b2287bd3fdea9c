"""Release notebooks as students run them: a real kernel, no grader installed."""

from __future__ import annotations

import nbformat
import pytest

from autograder.cohort import reference_solutions, submission
from autograder.course import published_assignments
from autograder.student_view import GRADER_PACKAGES, errors, run_notebook, stderr_text


@pytest.mark.xdist_group("kernels")
def test_grader_packages_really_are_absent(tmp_path):
    """Does the kernel used for these tests refuse to import the grader (so the tests below can fail)?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import autograder"),
                                         nbformat.v4.new_code_cell("import nbgrader")])
    executed, _ = run_notebook(nb, tmp_path, without=GRADER_PACKAGES)
    assert [e.split(":")[0] for e in errors(executed)] == ["ModuleNotFoundError", "ModuleNotFoundError"]


@pytest.mark.xdist_group("kernels")
@pytest.mark.parametrize("assignment", published_assignments())
def test_answered_release_runs_top_to_bottom_without_the_grader(assignment, tmp_path):
    """Does the student notebook, filled with correct answers, run top to bottom without errors or warnings?"""
    executed, seconds = run_notebook(
        submission(assignment, reference_solutions(assignment)), tmp_path, without=GRADER_PACKAGES
    )
    assert errors(executed) == []
    assert stderr_text(executed) == ""
    assert seconds < 60, f"Run All took {seconds:.1f} s"


@pytest.mark.xdist_group("kernels")
@pytest.mark.parametrize("assignment", published_assignments())
def test_blank_release_fails_only_where_students_write(assignment, tmp_path):
    """Does the untouched notebook fail only at the stubs and their tests (every example cell runs)?"""
    executed, _ = run_notebook(submission(assignment, {}), tmp_path, without=GRADER_PACKAGES)
    names = {e.split(":")[0] for e in errors(executed)}
    assert names <= {"NotImplementedError", "NameError"} and "NotImplementedError" in names
