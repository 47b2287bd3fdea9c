"""The engine's fixture course (tests/fixture_course) is what the engine tests take it for.

Graded in-process (fast): the reference earns every point, the blank release none, the alternatives every point,
and each mistake loses exactly the test cells it names, its visible test catching it or not as it says; every test
cell is judged by a check of the fixture's own checks package; the committed release notebook is what the source
generates.
"""

from __future__ import annotations

import fixture_course
import pytest
from fixture_course.answers import ALTERNATIVES, MISTAKES, TEST_OF

from autograder.engine.judge import directives, resolve
from autograder.engine.layout import course_layout
from autograder.tools.cohort import reference_solutions
from autograder.tools.in_process import (
    grade_in_process,
    nbgrader_meta,
    points_by_test_cell,
    read_notebook,
    release_stubs,
    strip_hidden_tests,
    with_solutions,
)
from autograder.tools.release import stale_notebooks

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ASSIGNMENT = fixture_course.ASSIGNMENT


@pytest.fixture(scope="module")
def source():
    return read_notebook(fixture_course.source_notebook())


def _grade(source, replacements):
    return grade_in_process(with_solutions(source, replacements))


def test_the_fixture_course_is_selected():
    """Does selecting the fixture make the engine see it, with three test cells worth 1 + 2 + 2 points?"""
    assert course_layout() is fixture_course.LAYOUT and course_layout().published() == [ASSIGNMENT]
    assert points_by_test_cell(read_notebook(fixture_course.release_notebook())) == {
        TEST_OF["double_solution"]: 1.0, TEST_OF["column_sums_solution"]: 2.0, TEST_OF["prefix_sums_solution"]: 2.0}


def test_its_nbgrader_configuration_is_the_course_pipeline_with_its_own_id():
    """Does the fixture's nbgrader_config.py give its own course id and the course's grading pipeline?"""
    from autograder.engine.grade import load_config

    fixture, course = load_config(fixture_course.ROOT), load_config(fixture_course.ROOT.parents[1])
    assert fixture.CourseDirectory.course_id == fixture_course.LAYOUT.course_id != course.CourseDirectory.course_id
    assert fixture.Autograde.autograde_preprocessors == course.Autograde.autograde_preprocessors
    assert fixture.GenerateFeedback.preprocessors == course.GenerateFeedback.preprocessors


def test_every_test_cell_names_a_check_of_the_fixture(source):
    """Is every graded test cell judged by a check that resolves inside the fixture's own checks package?"""
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            (dotted, _), = directives(cell.source)
            assert dotted.startswith(fixture_course.LAYOUT.checks_package + ".") and callable(resolve(dotted))


def test_reference_alternatives_and_blank(source):
    """Does the reference earn every point, the correct alternatives too, and the untouched release none?"""
    reference = reference_solutions(ASSIGNMENT)
    assert _grade(source, reference).failed() == []
    assert _grade(source, {**reference, **ALTERNATIVES}).failed() == []
    blank = _grade(source, release_stubs(read_notebook(fixture_course.release_notebook())))
    assert blank.score == 0 and blank.max_score == 5


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_loses_exactly_its_cells(source, name):
    """Does each mistake lose the test cells it names and no other, caught by the visible test only when it says?"""
    mistake = MISTAKES[name]
    replacements = {**reference_solutions(ASSIGNMENT), **mistake.replaces}
    assert _grade(source, replacements).failed() == list(mistake.loses_on)
    visible_only = source.copy()
    visible_only.cells = [cell.copy() for cell in source.cells]
    for cell in visible_only.cells:
        cell.source = strip_hidden_tests(cell.source)
    visible_failures = _grade(visible_only, replacements).failed()
    if mistake.caught_by == "visible":
        assert visible_failures == list(mistake.loses_on)
    elif name != "columns_start_from_empty":  # reads garbage: its visible test passes or fails by luck
        assert visible_failures == []


def test_release_notebook_is_what_the_source_generates():
    """Is the committed release notebook of the fixture what nbgrader generates from its source?"""
    assert stale_notebooks() == [], "regenerate it: with fixture_course.selected(): autograder.tools.release.regenerate()"
