"""Every assignment, graded in-process: reference full marks, blank zero, every banked mistake loses points."""

from __future__ import annotations

import pytest

from autograder.course import published_assignments
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.notebook import grade_in_process, release_stubs, points_by_test_cell, with_solutions

# Errors that mean a banked answer is broken (or left a stub), not that the check caught its misconception.
NOT_THE_MISTAKE = ("SyntaxError", "IndentationError", "TabError", "NameError", "NotImplementedError")

MISTAKES = [(a, m) for a in published_assignments() for m in mistakes_for(a)]
ALTERNATIVES = [(a, alt) for a in published_assignments() for alt in alternatives_for(a)]


@pytest.mark.parametrize("assignment", published_assignments())
def test_reference_scores_full_marks(assignment, source_notebooks):
    """Does the instructor's reference solution earn every point?"""
    grade = grade_in_process(source_notebooks[assignment])
    assert grade.max_score > 0
    assert grade.failed() == [], {g: c.error for g, c in grade.cells.items() if c.error}
    assert grade.score == grade.max_score


@pytest.mark.parametrize("assignment", published_assignments())
def test_blank_release_scores_zero(assignment, source_notebooks, release_notebooks):
    """Does the untouched student notebook earn nothing, on every test cell?"""
    blank = with_solutions(source_notebooks[assignment], release_stubs(release_notebooks[assignment]))
    grade = grade_in_process(blank)
    assert grade.score == 0
    assert all("NotImplementedError" in c.error or "NameError" in c.error for c in grade.cells.values())


@pytest.mark.parametrize("assignment, mistake", MISTAKES, ids=[f"{a}-{m.name}" for a, m in MISTAKES])
def test_mistake_loses_points_where_aimed(assignment, mistake, source_notebooks):
    """Does this realistic wrong answer lose points on the test cell(s) it is aimed at?"""
    grade = grade_in_process(with_solutions(source_notebooks[assignment], mistake.replaces))
    for grade_id in mistake.loses_on:
        assert grade.cells[grade_id].points < grade.cells[grade_id].max_points, (
            f"{mistake.name} ({mistake.why}) kept all points of {grade_id}"
        )
        assert not grade.cells[grade_id].error.startswith(NOT_THE_MISTAKE), (
            f"{mistake.name} loses {grade_id} because it is broken, not for what it is banked for: "
            f"{grade.cells[grade_id].error}"
        )


@pytest.mark.parametrize("assignment, entry", MISTAKES + ALTERNATIVES,
                         ids=[f"{a}-{e.name}" for a, e in MISTAKES + ALTERNATIVES])
def test_banked_answer_is_valid_python(assignment, entry):
    """Does every cell a banked mistake or alternative replaces compile (so it fails, or passes, for its reason)?"""
    for grade_id, source in entry.replaces.items():
        compile(source, f"<{entry.name}: {grade_id}>", "exec")


@pytest.mark.parametrize("assignment, alternative", ALTERNATIVES, ids=[f"{a}-{alt.name}" for a, alt in ALTERNATIVES])
def test_correct_alternative_scores_full_marks(assignment, alternative, source_notebooks):
    """Does a correct answer written differently from the reference still earn every point?"""
    grade = grade_in_process(with_solutions(source_notebooks[assignment], alternative.replaces))
    assert grade.failed() == [], {g: c.error for g, c in grade.cells.items() if c.error}


@pytest.mark.parametrize("assignment", published_assignments())
def test_every_test_cell_has_three_mistakes(assignment, source_notebooks):
    """Is every graded test cell proven by at least three banked mistakes?"""
    aimed = [grade_id for mistake in mistakes_for(assignment) for grade_id in mistake.loses_on]
    for grade_id in points_by_test_cell(source_notebooks[assignment]):
        assert aimed.count(grade_id) >= 3, f"{grade_id} has only {aimed.count(grade_id)} mistakes"


@pytest.mark.parametrize("assignment", published_assignments())
def test_hidden_tests_earn_their_place(assignment, source_notebooks):
    """Does every test cell with hidden tests catch at least one banked mistake that its visible tests let through?"""
    visible_only = with_solutions(source_notebooks[assignment], {})
    for cell in visible_only.cells:
        if "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0]
    caught_only_by_hidden = set()
    for mistake in mistakes_for(assignment):
        visible = grade_in_process(with_solutions(visible_only, mistake.replaces))
        if all(visible.cells[g].points == visible.cells[g].max_points for g in mistake.loses_on):
            caught_only_by_hidden.update(mistake.loses_on)
    hidden_cells = {
        grade_id for grade_id in points_by_test_cell(source_notebooks[assignment])
        if any("### BEGIN HIDDEN TESTS" in c.source and c.metadata["nbgrader"]["grade_id"] == grade_id
               for c in source_notebooks[assignment].cells)
    }
    assert hidden_cells <= caught_only_by_hidden, f"no banked mistake needs the hidden tests of {hidden_cells - caught_only_by_hidden}"
