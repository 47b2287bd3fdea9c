"""Shared fixtures of the course's test suite."""

from __future__ import annotations

import pytest

from autograder.course import published_assignments, release_notebook, source_notebook
from autograder.tools.in_process import read_notebook


@pytest.fixture(scope="session")
def source_notebooks():
    """Instructor notebooks by assignment."""
    return {name: read_notebook(source_notebook(name)) for name in published_assignments()}


@pytest.fixture(scope="session")
def release_notebooks():
    """Committed student notebooks by assignment."""
    return {name: read_notebook(release_notebook(name)) for name in published_assignments()}


@pytest.fixture(scope="module")
def fixture_course_selected():
    """The engine's fixture course (tests/fixture_course) selected for a whole test module: ``$AUTOGRADER_COURSE``
    and ``PYTHONPATH`` set for the module's tests and every process they start, restored after the module."""
    import fixture_course

    with fixture_course.selected() as layout:
        yield layout


# A throwaway PostgreSQL server on loopback for the gradebook tests (tests/pg.py).
from pg import postgres_url  # noqa: E402,F401
