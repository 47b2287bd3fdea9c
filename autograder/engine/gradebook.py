"""Read scores back from an nbgrader gradebook (sqlite or any SQLAlchemy URL)."""

from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry


def cell_scores(db_url: str, assignment: str, student: str) -> dict[str, float]:
    """Points of every autograded test cell of one student's submission, by grade_id (empty when not graded)."""
    with Gradebook(db_url) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {
            grade.name: grade.score
            for notebook in submission.notebooks
            for grade in notebook.grades
            if grade.cell_type == "code" and grade.max_score > 0
        }


def score_table(db_url: str, assignment: str, students: list[str]) -> list[tuple[str, float | None, float]]:
    """(student, total score or None when there is no submission, max score) for each student."""
    rows = []
    with Gradebook(db_url) as gradebook:
        max_score = gradebook.find_assignment(assignment).max_score
        for student in students:
            try:
                rows.append((student, gradebook.find_submission(assignment, student).score, max_score))
            except MissingEntry:
                rows.append((student, None, max_score))
    return rows
