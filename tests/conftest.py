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


# A throwaway PostgreSQL server on loopback for the gradebook tests (tests/pg.py).
from pg import postgres_url  # noqa: E402,F401
