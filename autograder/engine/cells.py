"""What a notebook cell is, in one place: nbgrader's metadata, test cells, and the hidden-test regions in them.

Light on purpose (nbformat only, no torch): the nbgrader steps, the grading command, the reports and the in-process
grader all read cells through these functions.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook file as nbformat v4."""
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """The nbgrader metadata of a cell (empty when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    """Whether a cell is an autograded test cell: a code cell that is graded and is not a solution."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def hidden_region(source: str, begin: str = HIDDEN_BEGIN, end: str = HIDDEN_END) -> str:
    """The lines inside a cell's hidden-test regions (marker lines excluded)."""
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def strip_hidden_tests(source: str, begin: str = HIDDEN_BEGIN, end: str = HIDDEN_END) -> str:
    """``source`` without its hidden-test regions, marker lines included; an unclosed region hides the rest."""
    kept: list[str] = []
    hiding = removed = False
    for line in source.split("\n"):
        if begin in line:
            hiding = removed = True
        elif end in line:
            hiding, removed = False, True
        elif not hiding:
            kept.append(line)
    if not removed:
        return source
    return "\n".join(kept).rstrip()
