"""The gradebook lock: no two grading threads are ever inside the gradebook at once (sqlite allows one writer).

Each serialized entry point is called from two threads released together; the gradebook work it wraps is replaced
by a probe that stays inside for a while and records how many threads were inside at the same time.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from nbgrader.converters import Autograde
from nbgrader.preprocessors import AssignLatePenalties, OverwriteCells, SaveAutoGrades
from traitlets.config import Config

from autograder.engine import grade
from autograder.engine.nbgrader.preprocessors import (
    SerializedAssignLatePenalties,
    SerializedOverwriteCells,
    SerializedSaveAutoGrades,
)

STAY_INSIDE_S = 0.4


class Occupancy:
    """Counts the threads inside the wrapped gradebook work; remembers the most at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0

    @contextmanager
    def visit(self):
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(STAY_INSIDE_S)
            yield
        finally:
            with self._lock:
                self.inside -= 1


def _most_at_once(call) -> int:
    """Run ``call(occupancy)`` in two threads released together; return the most threads inside at once."""
    occupancy = Occupancy()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            call(occupancy)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors, errors
    return occupancy.most


@pytest.mark.parametrize("serialized, parent", [
    (SerializedSaveAutoGrades, SaveAutoGrades),
    (SerializedOverwriteCells, OverwriteCells),
    (SerializedAssignLatePenalties, AssignLatePenalties),
], ids=lambda cls: cls.__name__)
def test_preprocessors_never_enter_the_gradebook_together(monkeypatch, serialized, parent):
    """Do two threads running this gradebook preprocessor at once take turns?"""
    occupancy_of: dict[str, Occupancy] = {}

    def inside(self, nb, resources):
        with occupancy_of["now"].visit():
            return nb, resources

    monkeypatch.setattr(parent, "preprocess", inside)

    def call(occupancy: Occupancy) -> None:
        occupancy_of["now"] = occupancy
        serialized().preprocess({}, {})

    assert _most_at_once(call) == 1


def test_assignment_set_up_and_score_reading_take_turns(monkeypatch, tmp_path):
    """Do the grading command's own gradebook accesses (assignment set-up, reading a score) take turns?"""
    current: dict[str, Occupancy] = {}

    def init_assignment(self, assignment_id, student_id):
        with current["now"].visit():
            pass

    class FakeGradebook:
        def __init__(self, url):
            self._visit = current["now"].visit()

        def __enter__(self):
            self._visit.__enter__()
            return self

        def __exit__(self, *exc):
            self._visit.__exit__(*exc)

        def find_submission(self, assignment, student):
            raise grade.MissingEntry()

    monkeypatch.setattr(Autograde, "init_assignment", init_assignment)
    monkeypatch.setattr(grade, "Gradebook", FakeGradebook)
    run = grade.GradingRun(Path(tmp_path), "sqlite://", 2, Config())
    converter = grade._SerializedAutograde.__new__(grade._SerializedAutograde)

    def set_up(occupancy: Occupancy) -> None:
        current["now"] = occupancy
        converter.init_assignment("a", "s")

    def read_score(occupancy: Occupancy) -> None:
        current["now"] = occupancy
        run._read_score(grade.Result("s", "a", "graded"))

    assert _most_at_once(set_up) == 1
    assert _most_at_once(read_score) == 1
