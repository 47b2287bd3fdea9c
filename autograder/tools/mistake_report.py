"""Which banked mistakes each test cell's visible part catches on its own, and which only the hidden tests catch.

Students see only the visible part of a test cell; a mistake it lets through earns a "passed" message in class and
loses the points only at grading. This report grades every banked mistake of an assignment twice in-process: once
with the visible parts alone (hidden blocks stripped) and once as grading does.

Usage: ``python -m autograder mistakes-report [assignment ...]`` (``make mistakes-report``) prints, per test cell,
how many of the mistakes aimed at it the visible part catches and names the ones it misses.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, field

import nbformat

from autograder.course import published_assignments, source_notebook
from autograder.engine.cells import strip_hidden_tests
from autograder.mistakes import Mistake, mistakes_for
from autograder.tools.in_process import grade_in_process, points_by_test_cell, read_notebook, with_solutions


@dataclass
class CellCatches:
    """The banked mistakes aimed at one test cell, split by whether its visible part alone takes the points."""

    grade_id: str
    caught_by_visible: list[str] = field(default_factory=list)
    hidden_only: list[str] = field(default_factory=list)

    @property
    def aimed(self) -> int:
        """How many banked mistakes aim at this cell."""
        return len(self.caught_by_visible) + len(self.hidden_only)


def visible_only(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose cells hold no hidden-test blocks: what a student's own Run All checks."""
    stripped = copy.deepcopy(nb)
    for cell in stripped.cells:
        if cell.cell_type == "code":
            cell.source = strip_hidden_tests(cell.source)
    return stripped


def visible_catches(assignment: str, mistakes: list[Mistake] | None = None) -> dict[str, CellCatches]:
    """For every test cell of ``assignment``: the banked mistakes its visible part catches and those it lets pass."""
    source = read_notebook(source_notebook(assignment))
    visible = visible_only(source)
    table = {grade_id: CellCatches(grade_id) for grade_id in points_by_test_cell(source)}
    for mistake in mistakes if mistakes is not None else mistakes_for(assignment):
        grade = grade_in_process(with_solutions(visible, mistake.replaces))
        for grade_id in mistake.loses_on:
            cell = grade.cells[grade_id]
            bucket = table[grade_id].caught_by_visible if cell.points < cell.max_points else table[grade_id].hidden_only
            bucket.append(mistake.name)
    return table


def format_table(assignment: str, table: dict[str, CellCatches]) -> str:
    """The report as plain text: one row per test cell, then the total."""
    width = max(len(grade_id) for grade_id in table)
    lines = [f"{assignment}: banked mistakes caught by the visible part of each test cell",
             f"{'test cell':<{width}}  visible/banked  only the hidden tests catch"]
    for cell in table.values():
        lines.append(f"{cell.grade_id:<{width}}  {len(cell.caught_by_visible):>7}/{cell.aimed:<6}  "
                     f"{', '.join(cell.hidden_only) or '-'}")
    caught = sum(len(cell.caught_by_visible) for cell in table.values())
    aimed = sum(cell.aimed for cell in table.values())
    lines.append(f"{'total':<{width}}  {caught:>7}/{aimed:<6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignments to report (default: every published one)")
    args = parser.parse_args(argv)
    for assignment in args.assignments or published_assignments():
        print(format_table(assignment, visible_catches(assignment)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
