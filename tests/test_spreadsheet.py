"""spreadsheet_text() and the CSV files that use it: text never starts a formula, numbers stay numbers."""

from __future__ import annotations

import csv

import pytest

from autograder.engine import reports
from autograder.engine.nbgrader.export import SafeCsvExport
from autograder.engine.spreadsheet import FORMULA_TRIGGERS, spreadsheet_text


@pytest.mark.parametrize("text", ["=SUM(1+1)", "+1-1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
                                  '=HYPERLINK("http://x","y")'])
def test_text_that_starts_a_formula_gets_an_apostrophe(text):
    """Is text starting with any of OWASP's formula characters prefixed with an apostrophe (and otherwise kept)?"""
    assert spreadsheet_text(text) == "'" + text


@pytest.mark.parametrize("text", ["s01", "김민수", "a=b", "", "'=already text", " =1"])
def test_ordinary_text_is_unchanged(text):
    """Is text that a spreadsheet already shows as text left exactly as it is?"""
    assert spreadsheet_text(text) == text


def test_every_trigger_is_covered():
    """Does the list hold OWASP's characters: = + - @ tab, carriage return and line feed?"""
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r", "\n"}


def test_scores_csv_keeps_negative_scores_as_numbers(tmp_path):
    """Does scores.csv neutralise a formula student id but write a negative score as the number it is?"""
    table = reports.ScoreTable(["00_tensors"], {"=SUM(1+1)": {"00_tensors": -2.5}, "s02": {"00_tensors": 7.0}})
    reports.write_scores_csv(table, tmp_path / "scores.csv")
    with open(tmp_path / "scores.csv", newline="", encoding="utf-8-sig") as file:
        rows = list(csv.reader(file))
    assert rows == [["student_id", "00_tensors", "total", "flagged"], ["'=SUM(1+1)", "-2.5", "-2.5", ""],
                    ["s02", "7", "7", ""]]


def test_pass_rates_csv_neutralises_failure_messages_and_keeps_counts(tmp_path):
    """Does pass_rates.csv write a failure message starting with '=' as text and the counts as numbers?"""
    cell = reports.CellPassRate("clip_negatives_out_of_place", 1.0, graded=3, passed=1)
    cell.failures.update({'=HYPERLINK("http://x","y"): 음수': 2})
    reports.write_pass_rates_csv([cell], tmp_path / "pass_rates.csv")
    with open(tmp_path / "pass_rates.csv", newline="", encoding="utf-8-sig") as file:
        row = list(csv.DictReader(file))[0]
    assert row["failure_1"] == '\'=HYPERLINK("http://x","y"): 음수' and row["failure_1_count"] == "2"
    assert (row["graded"], row["passed"], row["pass_rate"]) == ("3", "1", "0.3333")


@pytest.mark.parametrize(("column", "value", "written"), [
    ("score", -1.5, "-1.5"), ("raw_score", 10.0, "10.0"), ("student_id", "-1", "'-1"),
    ("first_name", "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("timestamp", None, ""), ("email", "a@b.c", "a@b.c"),
])
def test_export_cells_neutralise_text_and_keep_numbers(column, value, written):
    """Does the export plugin write numbers as nbgrader does and neutralise every text field, ids included?"""
    assert SafeCsvExport._cell(column, value) == written
