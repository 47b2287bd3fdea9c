"""Instructor reports from a real graded course: score table, pass rates with common failures, the Korean chart."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import warnings
from pathlib import Path

import nbformat
import pytest

from autograder.course import source_notebook
from autograder.engine import reports
from autograder.engine.gradebook import cell_scores, score_table
from autograder.mistakes import mistakes_for
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.in_process import grade_in_process, points_by_test_cell, read_notebook, with_solutions

ASSIGNMENT = "00_tensors"
SHARED_MISTAKE = "seeded_rand_global_seed"
# Two students share SHARED_MISTAKE (a widespread misconception); each has one more mistake of their own.
COHORT_MISTAKES = {"shared_a": (SHARED_MISTAKE, "pick_device_always_cpu"),
                   "shared_b": (SHARED_MISTAKE, "numpy_from_numpy_float")}
ROWS_CELL = ("row_proportions_solution", "row_proportions_divides_by_row_sums")
# A student whose answer raises a banked hint's own text: it must count as a failure no mistake matched.
FORGER_HINT = next(m for m in mistakes_for(ASSIGNMENT) if m.name == "rows_column_sums").hint
HANGUL = re.compile(r"[가-힣]")


def _with_mistakes(names: tuple[str, ...]) -> dict[str, str]:
    mistakes = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    replacements = reference_solutions(ASSIGNMENT)
    for name in names:
        replacements.update(mistakes[name].replaces)
    return replacements


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Four students autograded by stock nbgrader, then the reports CLI run on them once."""
    workdir = tmp_path_factory.mktemp("reports-course")
    students = [
        SyntheticStudent("reference", "reference", reference_solutions(ASSIGNMENT)),
        SyntheticStudent("blank", "blank", {}),
        *(SyntheticStudent(student, ",".join(names), _with_mistakes(names))
          for student, names in COHORT_MISTAKES.items()),
        SyntheticStudent("forger", "raises a hint's text", {
            **reference_solutions(ASSIGNMENT),
            ROWS_CELL[0]: f"def row_proportions(x):\n    raise AssertionError({FORGER_HINT!r})"}),
    ]
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    completed = autograde_stock(ASSIGNMENT, workdir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exit_code = reports.main([ASSIGNMENT, "--db", db_url(workdir), "--autograded-dir", str(workdir / "autograded"),
                                  "--out", str(workdir / "out")])
    assert exit_code == 0
    return workdir, [s.student_id for s in students], stdout.getvalue()


@pytest.mark.xdist_group("nbgrader-reports")
def test_scores_csv_matches_gradebook(course):
    """Does scores.csv hold every student's gradebook score for the assignment and the same total?"""
    workdir, students, _ = course
    rows = {row["student_id"]: row for row in _read_csv(workdir / "out" / "scores.csv")}
    assert set(rows) == set(students)
    for student, score, _ in score_table(db_url(workdir), ASSIGNMENT, students):
        assert float(rows[student][ASSIGNMENT]) == score, student
        assert float(rows[student]["total"]) == score, student


@pytest.mark.xdist_group("nbgrader-reports")
def test_pass_rates_csv_matches_gradebook(course):
    """Does pass_rates.csv count, per test cell, the students the gradebook gave full points?"""
    workdir, students, _ = course
    points = points_by_test_cell(read_notebook(source_notebook(ASSIGNMENT)))
    scores = {student: cell_scores(db_url(workdir), ASSIGNMENT, student) for student in students}
    rows = _read_csv(workdir / "out" / "pass_rates.csv")
    assert [row["grade_id"] for row in rows] == list(points)
    for row in rows:
        passed = sum(scores[student][row["grade_id"]] == points[row["grade_id"]] for student in students)
        assert (int(row["graded"]), int(row["passed"])) == (len(students), passed), row["grade_id"]
        assert float(row["pass_rate"]) == pytest.approx(passed / len(students), abs=1e-3)


@pytest.mark.xdist_group("nbgrader-reports")
def test_top_failure_is_the_shared_mistakes_message(course):
    """Is the most common failure of the cell a shared mistake aims at that mistake's Korean message, counted twice?"""
    workdir, _, _ = course
    (grade_id,) = next(m for m in mistakes_for(ASSIGNMENT) if m.name == SHARED_MISTAKE).loses_on
    source = read_notebook(source_notebook(ASSIGNMENT))
    expected = grade_in_process(with_solutions(source, _with_mistakes((SHARED_MISTAKE,)))).cells[grade_id].error
    expected = expected.splitlines()[0]
    row = next(row for row in _read_csv(workdir / "out" / "pass_rates.csv") if row["grade_id"] == grade_id)
    shown = row["failure_1"].removesuffix("…")
    assert HANGUL.search(shown), row["failure_1"]
    assert expected.startswith(shown) and len(shown) >= min(len(expected), 100), (row["failure_1"], expected)
    assert row["failure_1_count"] == "2"


@pytest.mark.xdist_group("nbgrader-reports")
def test_cli_summary_gives_each_cells_rate_and_top_failure(course):
    """Does the printed summary give each test cell its pass count and most common failure on one line?"""
    workdir, _, stdout = course
    lines = stdout.splitlines()
    for row in _read_csv(workdir / "out" / "pass_rates.csv"):
        line = next(line for line in lines if f" {row['grade_id']}" in line)
        assert f"({row['passed']}/{row['graded']})" in line
        assert row["failure_1"] in line


@pytest.mark.xdist_group("nbgrader-reports")
def test_report_png_has_no_missing_glyphs(course, tmp_path):
    """Is the chart saved as a PNG without matplotlib warning about missing Hangul glyphs?"""
    workdir, _, _ = course
    cells = reports.read_pass_rates(db_url(workdir), ASSIGNMENT, workdir / "autograded")
    scores, max_score = reports.assignment_scores(db_url(workdir), ASSIGNMENT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports.plot_report(ASSIGNMENT, scores, max_score, cells, tmp_path / "report.png")
    glyph_warnings = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert glyph_warnings == []
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (workdir / "out" / "report.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.xdist_group("nbgrader-reports")
def test_cli_fails_cleanly_for_unknown_assignment(course, tmp_path, capsys):
    """Does the CLI exit 1 with a message, not a traceback, for an assignment the gradebook does not know?"""
    workdir, _, _ = course
    exit_code = reports.main(["99_unknown", "--db", db_url(workdir), "--autograded-dir", str(workdir / "autograded"),
                              "--out", str(tmp_path)])
    assert exit_code == 1
    assert "99_unknown" in capsys.readouterr().err


def _cell(*outputs: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.from_dict(output) for output in outputs])


def test_failure_message_keeps_first_line_of_error():
    """Is an error output reduced to ``ename: <first line of evalue>``, cut to MESSAGE_CHARS characters?"""
    short = _cell({"output_type": "error", "ename": "AssertionError", "evalue": "기대한 값:\ntensor([1.])",
                   "traceback": []})
    long = _cell({"output_type": "error", "ename": "ValueError", "evalue": "가" * 500, "traceback": []})
    assert reports.failure_messages(short) == ["AssertionError: 기대한 값:"]
    (message,) = reports.failure_messages(long)
    assert len(message) == reports.MESSAGE_CHARS and message.startswith("ValueError: 가가")


def test_failure_message_of_stderr_drops_kernel_file_location():
    """Do warnings written to stderr by two different kernels give the same failure message?"""
    first = _cell({"output_type": "stream", "name": "stderr",
                   "text": "/tmp/ipykernel_11/123.py:4: UserWarning: 값이 없어요\n  warnings.warn('값이 없어요')\n"})
    second = _cell({"output_type": "stream", "name": "stderr",
                    "text": "/tmp/ipykernel_98/456.py:9: UserWarning: 값이 없어요\n"})
    assert reports.failure_messages(first) == reports.failure_messages(second) == ["stderr: UserWarning: 값이 없어요"]


def test_stdout_is_not_a_failure_message():
    """Is ordinary printed output ignored when collecting failure messages?"""
    assert reports.failure_messages(_cell({"output_type": "stream", "name": "stdout", "text": "통과했어요!\n"})) == []


@pytest.mark.xdist_group("nbgrader-reports")
def test_misconceptions_csv_counts_each_diagnosis_and_the_unrecognised(course):
    """Under plain nbgrader autograde, does misconceptions.csv count the shared misconception in both students, name
    twins together, count the blank notebook as not attempted and the forger as a failure no mistake matched?"""
    workdir, _, stdout = course
    bank = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    rows = _read_csv(workdir / "out" / "misconceptions.csv")
    found = {(row["grade_id"], row["misconception"]): row for row in rows}
    shared = bank[SHARED_MISTAKE]
    assert found[(shared.loses_on[0], SHARED_MISTAKE)]["students"] == "2"
    assert found[(shared.loses_on[0], SHARED_MISTAKE)]["label"] == shared.label
    for name in ("pick_device_always_cpu", "numpy_from_numpy_float"):
        mistake = bank[name]
        group = " / ".join(m for m in bank if m == name or m in mistake.twins)
        assert found[(mistake.loses_on[0], group)]["students"] == "1", rows
    assert found[(shared.loses_on[0], "(not attempted)")]["students"] == "1"  # the blank notebook
    assert (shared.loses_on[0], "(not recognised)") not in found
    assert found[(ROWS_CELL[1], "(not recognised)")]["students"] == "1"  # the forger
    messages = [row["label"] for row in rows if row["grade_id"] == ROWS_CELL[1]
                and row["misconception"] == "(not recognised) message"]
    assert messages and not any(row["misconception"] == "rows_column_sums" for row in rows)
    assert f"diagnosed: {SHARED_MISTAKE} (2)" in stdout


@pytest.mark.xdist_group("nbgrader-reports")
def test_hint_is_in_the_autograded_cell_under_plain_nbgrader(course):
    """Does plain nbgrader autograde with the course's configuration put the hint into the failing cell's output?"""
    workdir, _, _ = course
    shared = next(m for m in mistakes_for(ASSIGNMENT) if m.name == SHARED_MISTAKE)
    nb = nbformat.read(str(workdir / "autograded" / "shared_a" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == shared.loses_on[0]]
    errors = [output.evalue for output in cell.outputs if output.output_type == "error"]
    assert any("진단:" in error and shared.label in error and shared.hint in error for error in errors), errors
