"""Synthetic cohorts made from the reference, the mistake bank and the release: for the demo, tests and benchmarks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.engine.layout import course_layout
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.tools.in_process import nbgrader_meta, read_notebook, with_solutions

_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")

BROKEN_NOTEBOOK_TEXT = '{"cells": [ this is not a notebook: the file was cut off while uploading'


@dataclass
class SyntheticStudent:
    """One student of a synthetic cohort: what their solution cells hold, or the raw text of a broken file."""

    student_id: str
    description: str
    replacements: dict[str, str] = field(default_factory=dict)
    broken_text: str | None = None


def reference_solutions(assignment: str) -> dict[str, str]:
    """The reference solution of every solution cell, as a student would type it (without nbgrader markers).

    Read from the course being graded (:func:`course_layout`: this course, or the one ``$AUTOGRADER_COURSE`` names).
    """
    source = read_notebook(course_layout().source_notebook(assignment))
    return {
        nbgrader_meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if not _SOLUTION_MARKER.match(line)
        )
        for cell in source.cells
        if nbgrader_meta(cell).get("solution")
    }


def submission(assignment: str, replacements: dict[str, str]) -> nbformat.NotebookNode:
    """The release notebook with its solution cells replaced: what a student hands in."""
    return with_solutions(read_notebook(course_layout().release_notebook(assignment)), replacements)


def demo_cohort(assignment: str) -> list[SyntheticStudent]:
    """A small, varied cohort: reference, a correct-but-different answer, a blank, mistakes, and a broken file."""
    reference = reference_solutions(assignment)
    mistakes = mistakes_for(assignment)
    alternatives = alternatives_for(assignment)
    students = [
        SyntheticStudent("s01_reference", "reference solution", dict(reference)),
        SyntheticStudent(
            "s02_alternative", "correct answers written differently",
            {**reference, **{k: v for alternative in alternatives for k, v in alternative.replaces.items()}},
        ),
        SyntheticStudent("s03_blank", "untouched release notebook", {}),
    ]
    # Six students with two mistakes each, in different cells: student i errs in cells 2i and 2i+1.
    by_cell: dict[tuple[str, ...], list] = {}
    for mistake in mistakes:
        by_cell.setdefault(mistake.loses_on, []).append(mistake)
    cells = list(by_cell.values())
    for index in range(6):
        picked = [cells[(2 * index + offset) % len(cells)] for offset in (0, 1)]
        round_number = index // max(1, len(cells) // 2)
        chosen = [bank[round_number % len(bank)] for bank in picked]
        replacements = dict(reference)
        for mistake in chosen:
            replacements.update(mistake.replaces)
        description = ", ".join(mistake.name for mistake in chosen)
        students.append(SyntheticStudent(f"s{index + 4:02d}_mistakes", description, replacements))
    students.append(SyntheticStudent("s10_broken", "notebook file is not valid JSON", broken_text=BROKEN_NOTEBOOK_TEXT))
    return students


def write_cohort(assignment: str, students: list[SyntheticStudent], submitted_dir: Path) -> None:
    """Write each student's notebook to ``submitted_dir/<student>/<assignment>/<assignment>.ipynb``."""
    for student in students:
        folder = submitted_dir / student.student_id / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        if student.broken_text is not None:
            path.write_text(student.broken_text, encoding="utf-8")
        else:
            nbformat.write(submission(assignment, student.replacements), str(path))
