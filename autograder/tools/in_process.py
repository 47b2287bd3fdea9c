"""Read assignment notebooks, swap solution cells, and grade a notebook in-process (fast, for the test suite).

The in-process grader mirrors what grading decides for a test cell: full points when the cell runs without an
error and its hidden tests (the judge directives) pass, zero otherwise. It runs cells with ``exec`` in a fresh namespace, so
hundreds of variants grade in seconds; a sample of them also goes through real ``nbgrader autograde`` in the tests.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import nbformat
import torch

from autograder.engine.cells import is_test_cell, nbgrader_meta, read_notebook, strip_hidden_tests  # noqa: F401 - re-exported
from autograder.engine.judge import LocalStudent, verdict
from autograder.engine.layout import course_layout


def solution_ids(nb: nbformat.NotebookNode) -> list[str]:
    """grade_ids of the cells students write into, in notebook order."""
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("solution")]


def points_by_test_cell(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Points of every autograded test cell, by grade_id."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in nb.cells
        if is_test_cell(c)
    }


def with_solutions(nb: nbformat.NotebookNode, replacements: Mapping[str, str]) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cells named in ``replacements`` hold the given source instead."""
    unknown = set(replacements) - set(solution_ids(nb))
    if unknown:
        raise KeyError(f"no solution cell with grade_id {sorted(unknown)} in this notebook")
    result = copy.deepcopy(nb)
    for cell in result.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements[grade_id]
    return result


def release_stubs(release_nb: nbformat.NotebookNode) -> dict[str, str]:
    """The untouched student version of every solution cell, by grade_id."""
    return {nbgrader_meta(c)["grade_id"]: c.source for c in release_nb.cells if nbgrader_meta(c).get("solution")}


@dataclass
class CellGrade:
    """Outcome of one autograded test cell."""

    points: float
    max_points: float
    error: str = ""
    diagnosed: list[str] = field(default_factory=list)
    """The banked mistakes the failing hidden check recognised (autograder/diagnosis.py)."""


@dataclass
class NotebookGrade:
    """Outcome of grading one notebook: its test cells by grade_id."""

    cells: dict[str, CellGrade] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(cell.points for cell in self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(cell.max_points for cell in self.cells.values())

    def failed(self) -> list[str]:
        """grade_ids of the test cells that lost points."""
        return [grade_id for grade_id, cell in self.cells.items() if cell.points < cell.max_points]


@contextlib.contextmanager
def _isolated_torch_state():
    """Undo global torch settings a notebook may change, so one graded variant cannot affect the next."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    default_dtype = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.set_default_dtype(default_dtype)


def _last_error_line(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def grade_in_process(nb: nbformat.NotebookNode, workdir: Path | None = None) -> NotebookGrade:
    """Run every code cell of ``nb`` in one fresh namespace and score its autograded test cells."""
    namespace: dict = {"__name__": "__main__"}
    grade = NotebookGrade()
    previous_dir = os.getcwd()
    if workdir is not None:
        os.chdir(workdir)
    try:
        with _isolated_torch_state():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                meta = nbgrader_meta(cell)
                # As in grading: the hidden block is not run in the notebook; its judge calls run outside it.
                error = _run_cell(strip_hidden_tests(cell.source), namespace, f"<cell {meta.get('grade_id', index)}>")
                diagnosed: list[str] = []
                if meta.get("grade") and not meta.get("solution"):
                    # As in grading, the hidden checks run even after the visible part failed: they diagnose it.
                    judged, diagnosed = _judge(cell.source, namespace, meta["grade_id"])
                    error = f"{error}\n\n{course_layout().diagnosis().explain_names(cell.source, diagnosed)}" if (
                        error and diagnosed) else (
                        error or judged)
                if meta.get("grade") and not meta.get("solution"):
                    max_points = float(meta.get("points", 0))
                    points = 0.0 if error else max_points
                    grade.cells[meta["grade_id"]] = CellGrade(points, max_points, error, diagnosed)
    finally:
        os.chdir(previous_dir)
    return grade


def _judge(source: str, namespace: dict, grade_id: str) -> tuple[str, list[str]]:
    """The hidden tests' verdict on a test cell ('' when they pass) and the banked mistakes it recognised, as
    ContainedExecute reaches them in grading (with the course's diagnosis, when the course has one)."""
    course_diagnosis = course_layout().diagnosis()
    send = LocalStudent(namespace).send
    recorder = course_diagnosis.Recorder(send) if course_diagnosis else None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        failure = verdict(source, recorder.send if recorder else send)
    if not failure:
        return "", []
    if recorder is None:
        return f"AssertionError: {failure}", []
    diagnosis = course_diagnosis.diagnose(source, grade_id, recorder.observations)
    return f"AssertionError: {course_diagnosis.with_hint(failure, diagnosis)}", diagnosis.names


def _run_cell(source: str, namespace: dict, filename: str) -> str:
    """Execute one cell; return '' on success, else the error line (stderr alone is no error: StderrDoesNotFail)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), warnings.catch_warnings():
            warnings.simplefilter("default")
            exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - grading runs the notebook's code
    except Exception as error:  # noqa: BLE001 - a failing cell is a grading outcome, not a crash
        return _last_error_line(error)
    return ""
