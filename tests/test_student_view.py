"""Release notebooks as students run them: a real kernel, no grader installed."""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.course import published_assignments
from autograder.tools.cohort import reference_solutions, submission
from autograder.tools.in_process import nbgrader_meta
from autograder.tools.student_view import GRADER_PACKAGES, error_outputs, errors, run_notebook, stderr_text


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


def _half_solved(assignment: str) -> dict[str, str]:
    """The reference answers of the first half of the exercises; the rest stays blank."""
    reference = reference_solutions(assignment)
    return dict(list(reference.items())[: len(reference) // 2])


@pytest.mark.xdist_group("kernels")
@pytest.mark.parametrize("solved", ["blank", "half_solved"])
@pytest.mark.parametrize("assignment", published_assignments())
def test_run_all_reaches_the_end_with_one_line_per_unsolved_exercise(assignment, solved, tmp_path):
    """Does Run All on a blank or half-solved notebook run every cell, one Korean line per unsolved exercise?"""
    answers = {} if solved == "blank" else _half_solved(assignment)
    # like_run_all: an error outside a cell tagged raises-exception stops the run, as in JupyterLab.
    executed, _ = run_notebook(submission(assignment, answers), tmp_path, without=GRADER_PACKAGES, like_run_all=True)
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code_cells), "some code cells never ran"
    unsolved_tests = [index for index, cell in enumerate(executed.cells)
                      if nbgrader_meta(cell).get("points") and not _answered(executed, index, answers)]
    failures = error_outputs(executed)
    assert [index for index, _ in failures] == unsolved_tests
    for _, output in failures:
        assert output.ename == "NotSolvedYet" and len(output.traceback) == 1, output.traceback
        assert re.fullmatch(r"\[풀기 전\] 연습 문제 \d+ \w+: 아직 풀지 않았어요\. .+", output.traceback[0]), output.traceback[0]
    solved_messages = [output.text for cell in code_cells for output in cell.outputs
                       if output.get("name") == "stdout" and output.text.startswith("[통과]")]
    assert len(solved_messages) == len(answers)
    assert all("보이는 테스트를 통과했어요" in text and "숨겨진 테스트로 더 확인해요" in text for text in solved_messages)
    assert stderr_text(executed) == ""


def _answered(nb: nbformat.NotebookNode, test_index: int, answers: dict[str, str]) -> bool:
    """Whether the solution cell just before a test cell was answered."""
    solution = next(cell for cell in reversed(nb.cells[:test_index]) if nbgrader_meta(cell).get("solution"))
    return nbgrader_meta(solution)["grade_id"] in answers
