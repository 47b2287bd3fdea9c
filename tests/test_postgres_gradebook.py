"""Stock `nbgrader autograde` into a real PostgreSQL gradebook: the same per-cell points as into sqlite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pg import create_database

from autograder.engine.gradebook import cell_scores, score_table
from autograder.mistakes import mistakes_for
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment

ASSIGNMENT = "00_tensors"
# A banked mistake that only the hidden tests catch (the torch.empty lesson): it loses points only at autograde.
MISTAKE = "clip_empty_where_hides_nan"


def _cohort() -> list[SyntheticStudent]:
    """Three students: the reference, the untouched release notebook, and the reference with one banked mistake."""
    reference = reference_solutions(ASSIGNMENT)
    mistake = {m.name: m for m in mistakes_for(ASSIGNMENT)}[MISTAKE]
    return [
        SyntheticStudent("reference", "reference solution", dict(reference)),
        SyntheticStudent("blank", "untouched release notebook", {}),
        SyntheticStudent("mistake", MISTAKE, {**reference, **mistake.replaces}),
    ]


def _grade(workdir: Path, students: list[SyntheticStudent], db: str | None) -> subprocess.CompletedProcess:
    """Write the cohort under ``workdir``, register the assignment and autograde it into ``db`` (sqlite if None)."""
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir, db=db)
    return autograde_stock(ASSIGNMENT, workdir, db=db)


@pytest.fixture(scope="module")
def graded(postgres_url, tmp_path_factory):
    """The same cohort autograded once into a fresh PostgreSQL database and once into a sqlite gradebook."""
    students = _cohort()
    postgres = create_database(postgres_url)
    postgres_run = _grade(tmp_path_factory.mktemp("postgres"), students, postgres)
    sqlite_dir = tmp_path_factory.mktemp("sqlite")
    _grade(sqlite_dir, students, None)
    return students, postgres, postgres_run, db_url(sqlite_dir)


@pytest.mark.xdist_group("nbgrader")
def test_autograde_into_postgres_succeeds(graded):
    """Does stock nbgrader autograde exit cleanly when its gradebook is PostgreSQL?"""
    _, _, postgres_run, _ = graded
    assert postgres_run.returncode == 0, postgres_run.stdout + postgres_run.stderr


@pytest.mark.xdist_group("nbgrader")
def test_postgres_cell_scores_match_sqlite(graded):
    """Does every student get the same points on every test cell in PostgreSQL as in sqlite?"""
    students, postgres, _, sqlite = graded
    for student in students:
        expected = cell_scores(sqlite, ASSIGNMENT, student.student_id)
        assert expected, f"{student.student_id} was not graded into sqlite"
        assert cell_scores(postgres, ASSIGNMENT, student.student_id) == expected, student.student_id


@pytest.mark.xdist_group("nbgrader")
def test_postgres_totals_tell_students_apart(graded):
    """Does the PostgreSQL gradebook give the reference full marks, the blank zero and the mistake something between?"""
    _, postgres, _, _ = graded
    totals = {student: (score, max_score)
              for student, score, max_score in score_table(postgres, ASSIGNMENT, ["reference", "blank", "mistake"])}
    max_score = totals["reference"][1]
    assert max_score > 0
    assert totals["reference"][0] == max_score
    assert totals["blank"][0] == 0
    assert 0 < totals["mistake"][0] < max_score


def test_missing_postgres_fails_where_it_was_expected(monkeypatch):
    """Does a PostgreSQL that `make test` expected (present or installable) fail the run instead of skipping?"""
    import pg

    monkeypatch.setenv("AUTOGRADER_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="was expected"):
        pg._unavailable("no server binaries")
    monkeypatch.setenv("AUTOGRADER_REQUIRE_POSTGRES", "0")
    with pytest.raises(pytest.skip.Exception, match="no server binaries"):
        pg._unavailable("no server binaries")
