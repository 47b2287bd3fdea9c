"""Release hygiene: release/ is what source/ generates, leaks nothing, and is well formed for nbgrader."""

from __future__ import annotations

import json
import re

import pytest

from autograder.course import ASSIGNMENTS, published_assignments, release_notebook, source_notebook
from autograder.tools.in_process import nbgrader_meta, points_by_test_cell
from autograder.tools.release import stale_notebooks

MAX_CELLS = 32


def test_assignment_names_follow_the_syllabus():
    """Are the course's assignments the eight modules of the syllabus, in order?"""
    assert ASSIGNMENTS == ("00_tensors", "01_autograd", "02_nn", "03_optim", "04_data", "05_multiprocessing",
                           "06_onnx", "07_capstone")
    assert "00_tensors" in published_assignments()


@pytest.mark.xdist_group("nbgrader")
def test_release_is_what_source_generates():
    """Does the committed release/ equal a fresh `nbgrader generate_assignment` of source/?"""
    assert stale_notebooks() == [], "release/ is stale: run `make release` and commit the result"


@pytest.mark.parametrize("assignment", published_assignments())
def test_no_solution_or_hidden_test_leaks(assignment):
    """Does the student notebook hold no solution, no hidden test and no grader import?"""
    text = release_notebook(assignment).read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder", "nbgrader."):
        assert marker not in text, f"release/{assignment} contains {marker!r}"


@pytest.mark.parametrize("path_of", [source_notebook, release_notebook], ids=["source", "release"])
@pytest.mark.parametrize("assignment", published_assignments())
def test_outputs_are_cleared(assignment, path_of):
    """Are notebooks committed without outputs and execution counts?"""
    nb = json.loads(path_of(assignment).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("assignment", published_assignments())
def test_graded_cells_have_points_and_descriptive_unique_ids(assignment, source_notebooks):
    """Does every graded cell carry points and a unique, descriptive grade_id (never nbgrader's cell-abc123)?"""
    ids = [nbgrader_meta(c)["grade_id"] for c in source_notebooks[assignment].cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids))
    for grade_id in ids:
        assert not re.fullmatch(r"cell-[0-9a-f]+", grade_id) and re.fullmatch(r"[a-z0-9_]{8,}", grade_id), grade_id
    points = points_by_test_cell(source_notebooks[assignment])
    assert 6 <= len(points) <= 10 and all(p > 0 for p in points.values())


@pytest.mark.parametrize("path_of", [source_notebook, release_notebook], ids=["source", "release"])
@pytest.mark.parametrize("assignment", published_assignments())
def test_notebook_survives_a_korean_windows_editor(assignment, path_of):
    """Can the notebook be saved in cp949, as some Windows editors do (no emoji or other characters beyond it)?"""
    text = path_of(assignment).read_text(encoding="utf-8")
    assert text.encode("cp949").decode("cp949") == text


@pytest.mark.parametrize("assignment", published_assignments())
def test_notebook_is_short(assignment, source_notebooks):
    """Does the notebook stay short enough to work through in one sitting?"""
    assert len(source_notebooks[assignment].cells) <= MAX_CELLS


@pytest.mark.parametrize("assignment", published_assignments())
def test_every_test_cell_is_preceded_by_its_solution(assignment, source_notebooks):
    """Is every test cell preceded by a solution cell, so students know where to write?"""
    seen_solution = False
    for cell in source_notebooks[assignment].cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            seen_solution = True
        elif meta.get("grade"):
            assert seen_solution, f"{meta['grade_id']} comes before any solution cell"
