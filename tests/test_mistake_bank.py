"""Every assignment, graded in-process: reference full marks, blank zero, every banked mistake loses points."""

from __future__ import annotations

import pytest

from autograder.course import published_assignments
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.tools.in_process import (
    grade_in_process,
    points_by_test_cell,
    release_stubs,
    solution_ids,
    with_solutions,
)
from autograder.tools.mistake_report import format_table, visible_catches, visible_only

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
    """Does the untouched student notebook earn nothing, on every test cell, each failing as "not solved yet"?"""
    blank = with_solutions(source_notebooks[assignment], release_stubs(release_notebooks[assignment]))
    grade = grade_in_process(blank)
    assert grade.score == 0
    assert all(c.error.startswith("NotSolvedYet: ") and "아직 풀지 않았어요" in c.error for c in grade.cells.values()), (
        {g: c.error for g, c in grade.cells.items()})


@pytest.mark.parametrize("assignment", published_assignments())
def test_function_never_defined_is_one_line_not_a_traceback(assignment, source_notebooks):
    """When a solution cell defines nothing (deleted, or it failed), does its test cell say so in one line and score 0?"""
    nothing = {grade_id: "pass" for grade_id in solution_ids(source_notebooks[assignment])}
    grade = grade_in_process(with_solutions(source_notebooks[assignment], nothing))
    assert grade.score == 0
    assert all(c.error.startswith("NotSolvedYet: ") and "아직 함수가 없어요" in c.error for c in grade.cells.values()), (
        {g: c.error for g, c in grade.cells.items()})


@pytest.mark.parametrize("assignment", published_assignments())
def test_blank_exercise_fails_without_its_hidden_tests(assignment, source_notebooks, release_notebooks):
    """Does a blank exercise score 0 on its visible part alone, so no unsolved cell can ever pass?"""
    blank = with_solutions(visible_only(source_notebooks[assignment]), release_stubs(release_notebooks[assignment]))
    grade = grade_in_process(blank)
    assert grade.max_score > 0 and grade.score == 0, {g: c.error for g, c in grade.cells.items() if not c.error}


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


@pytest.fixture(scope="module")
def visible_catches_by_assignment():
    """For every assignment: per test cell, the banked mistakes its visible part catches and those it lets pass."""
    return {assignment: visible_catches(assignment) for assignment in published_assignments()}


@pytest.mark.parametrize("assignment", published_assignments())
def test_hidden_tests_earn_their_place(assignment, source_notebooks, visible_catches_by_assignment):
    """Does every test cell with hidden tests catch at least one banked mistake that its visible tests let through?"""
    table = visible_catches_by_assignment[assignment]
    caught_only_by_hidden = {grade_id for grade_id, cell in table.items() if cell.hidden_only}
    hidden_cells = {
        grade_id for grade_id in points_by_test_cell(source_notebooks[assignment])
        if any("### BEGIN HIDDEN TESTS" in c.source and c.metadata["nbgrader"]["grade_id"] == grade_id
               for c in source_notebooks[assignment].cells)
    }
    assert hidden_cells <= caught_only_by_hidden, f"no banked mistake needs the hidden tests of {hidden_cells - caught_only_by_hidden}"


@pytest.mark.parametrize("assignment", published_assignments())
def test_visible_tests_catch_what_the_text_warns_about(assignment, visible_catches_by_assignment):
    """Does the visible part of a test cell catch every banked mistake that the exercise's text warns against?"""
    caught = {name for cell in visible_catches_by_assignment[assignment].values() for name in cell.caught_by_visible}
    warned = [m.name for m in mistakes_for(assignment) if m.warned_in_text]
    assert warned, "no banked mistake is marked as warned about in the text"
    assert [name for name in warned if name not in caught] == []


@pytest.mark.parametrize("assignment", published_assignments())
def test_visible_tests_catch_most_banked_mistakes(assignment, visible_catches_by_assignment):
    """Do the visible tests alone catch most banked mistakes (students see them fail before grading)?"""
    table = visible_catches_by_assignment[assignment]
    print("\n" + format_table(assignment, table))
    caught = sum(len(cell.caught_by_visible) for cell in table.values())
    assert caught > sum(cell.aimed for cell in table.values()) / 2


WARNED = [(a, m) for a, m in MISTAKES if m.warned_in_text]


@pytest.mark.parametrize("assignment, mistake", WARNED, ids=[f"{a}-{m.name}" for a, m in WARNED])
def test_visible_catch_survives_running_the_cell_again(assignment, mistake, source_notebooks):
    """Does a warned-about mistake fail the visible test again when run after itself (state left by the first run)?"""
    visible = with_solutions(visible_only(source_notebooks[assignment]), mistake.replaces)
    for _ in range(2):
        grade = grade_in_process(visible)
        assert all(grade.cells[g].points < grade.cells[g].max_points for g in mistake.loses_on), mistake.name
