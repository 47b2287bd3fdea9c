"""``nbgrader export`` that writes a CSV no spreadsheet runs as formulas, and that stays a CSV whatever the ids hold.

nbgrader's ``CsvExportPlugin`` joins fields with commas without quoting: a student id ``=SUM(1+1)`` becomes a
formula in Excel, and an id with a comma or a line break shifts columns or forges a row. :class:`SafeCsvExport`
writes the same columns and rows with Python's csv module (quoting where needed) and passes every text field through
:func:`autograder.engine.spreadsheet.spreadsheet_text`; scores stay numbers. Enabled in ``nbgrader_config.py``::

    c.ExportApp.plugin_class = "autograder.engine.nbgrader.export.SafeCsvExport"
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

from autograder.engine.spreadsheet import spreadsheet_text

COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "raw_score",
           "late_submission_penalty", "score", "max_score"]
"""nbgrader's own columns, in its order."""
NUMBER_COLUMNS = frozenset({"raw_score", "late_submission_penalty", "score", "max_score"})


class SafeCsvExport(CsvExportPlugin):
    """nbgrader's CSV export (same columns, rows and defaults), quoted, with formula-like text neutralised."""

    def export(self, gradebook: Gradebook) -> None:
        """Write one row per assignment and student to ``self.to`` (default ``grades.csv``), as nbgrader does."""
        dest = self.to or "grades.csv"
        students = {str(item) for item in self.student}
        assignments = {str(item) for item in self.assignment}
        self.log.info("Exporting grades to %s", dest)
        with open(dest, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    row = self._row(gradebook, assignment, student)
                    writer.writerow([self._cell(column, row[column]) for column in COLUMNS])

    @staticmethod
    def _row(gradebook: Gradebook, assignment, student) -> dict:
        """The values nbgrader's CsvExportPlugin computes for one student and assignment (0 without a submission)."""
        row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
               "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
               "max_score": assignment.max_score}
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
        else:
            penalty = submission.late_submission_penalty
            row.update(timestamp=submission.timestamp, raw_score=submission.score, late_submission_penalty=penalty,
                       score=max(0.0, submission.score - penalty))
        return row

    @staticmethod
    def _cell(column: str, value: object) -> str:
        """A number as nbgrader writes it (``str``); any text neutralised for spreadsheets."""
        if value is None:
            return ""
        if column in NUMBER_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return spreadsheet_text(value)
