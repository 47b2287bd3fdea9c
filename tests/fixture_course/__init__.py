"""The grading engine's own fixture course: one tiny assignment written for the engine's tests.

The engine tests (containment, red team, resume, bad submissions, judge) grade this course instead of the real one,
the way nbgrader's and Otter's tests grade their fixture assignments: ``source/fixture/fixture.ipynb`` has three
graded cells (1 + 2 + 2 points), each with a solution, a visible test and a hidden block
``judge("fixture_course.hidden.sums.check_<function>", <function>)``; the checks live in ``hidden/sums.py`` and reach
their verdicts in the grader (the judge pattern); ``answers.py`` holds the wrong and the differently written answers
the tests hand in. The engine sees this course only through :data:`LAYOUT`, chosen by ``$AUTOGRADER_COURSE``
(:func:`environment`, :func:`selected`).

This folder is the course root: grading hides everything in it from the kernels, so an attack on "the hidden checks"
or "the source notebook" aims at the files here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from autograder.engine.layout import COURSE_MODULE_VARIABLE, CourseLayout

ROOT = Path(__file__).resolve().parent
TESTS_DIR = ROOT.parent
"""The folder that holds this package: on ``PYTHONPATH`` so that every process of a grading run imports it."""
MODULE = __name__
ASSIGNMENT = "fixture"

LAYOUT = CourseLayout(
    root=ROOT,
    course_id="engine-fixture",
    assignments=(ASSIGNMENT,),
    checks_package=f"{MODULE}.hidden",
    private_packages=(MODULE,),
    grader_dir=ROOT,
)
"""What the grading engine knows of the fixture course (autograder/engine/layout.py)."""


def source_notebook() -> Path:
    return LAYOUT.source_notebook(ASSIGNMENT)


def release_notebook() -> Path:
    return LAYOUT.release_notebook(ASSIGNMENT)


def environment(base: dict[str, str] | None = None, tests_dir: Path = TESTS_DIR) -> dict[str, str]:
    """``base`` (default: this process's environment) with the fixture course selected for every process it starts:
    ``$AUTOGRADER_COURSE`` names this package and ``PYTHONPATH`` reaches it (``tests_dir`` first)."""
    env = dict(os.environ if base is None else base)
    paths = [str(tests_dir), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(tests_dir)]]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[COURSE_MODULE_VARIABLE] = MODULE
    return env


@contextlib.contextmanager
def selected() -> Iterator[CourseLayout]:
    """Select the fixture course in this process and in every process it starts; restore the environment after."""
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", COURSE_MODULE_VARIABLE)}
    os.environ.update({key: environment()[key] for key in saved})
    try:
        yield LAYOUT
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
