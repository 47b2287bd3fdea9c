"""Where a course keeps what the grading engine needs: the one object through which the engine sees a course.

The engine (judge, kernels, nbgrader steps, the grading run) never imports the course's modules; it asks
:func:`course_layout` for the :class:`CourseLayout` of the course it grades. The course defines ``LAYOUT`` in its own
module (``autograder/course.py`` for this course); ``$AUTOGRADER_COURSE`` names another module, for example the
fixture course of the engine's own tests.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

COURSE_MODULE_VARIABLE = "AUTOGRADER_COURSE"
DEFAULT_COURSE_MODULE = "autograder.course"


@dataclass(frozen=True)
class CourseLayout:
    """A course as the engine sees it: its folder, assignments, notebooks and the Python packages of its checks."""

    root: Path
    """The course folder: ``source/``, ``release/``, the grader package, ``nbgrader_config.py``. Kernels never see it."""
    course_id: str
    assignments: tuple[str, ...]
    """Every assignment in teaching order; those with a source notebook are published."""
    checks_package: str
    """The only package whose functions a hidden block may name in ``judge("<package>.<topic>.check_x", ...)``."""
    private_packages: tuple[str, ...]
    """Packages a kernel must never import (hidden checks, mistake banks): an attempt is recorded and flagged."""
    grader_dir: Path
    """The course's Python code (checks, mistake banks, the engine inside it): a change there regrades (--changed-only)."""
    source_dir: str = "source"
    release_dir: str = "release"
    diagnosis_module: str = ""
    """The course's misconception diagnosis (``Recorder``, ``diagnose``, ``with_hint``, ``misconception_labels``), by
    dotted name; empty for a course without one. A failing hidden check then names the banked mistake it matches."""

    def diagnosis(self) -> ModuleType | None:
        """The course's diagnosis module, imported on first use (None when the course has none)."""
        return importlib.import_module(self.diagnosis_module) if self.diagnosis_module else None

    def source_notebook(self, assignment: str, root: Path | None = None) -> Path:
        """The instructor notebook (solutions and hidden tests) of ``assignment``."""
        return (root or self.root) / self.source_dir / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str, root: Path | None = None) -> Path:
        """The generated student notebook of ``assignment``."""
        return (root or self.root) / self.release_dir / assignment / f"{assignment}.ipynb"

    def published(self, root: Path | None = None) -> list[str]:
        """The assignments that have a source notebook, in teaching order."""
        return [name for name in self.assignments if self.source_notebook(name, root).exists()]


def course_layout() -> CourseLayout:
    """The layout of the course being graded: ``LAYOUT`` of ``$AUTOGRADER_COURSE`` (default ``autograder.course``)."""
    name = os.environ.get(COURSE_MODULE_VARIABLE) or DEFAULT_COURSE_MODULE
    layout = getattr(importlib.import_module(name), "LAYOUT", None)
    if not isinstance(layout, CourseLayout):
        raise RuntimeError(f"{name} defines no LAYOUT = CourseLayout(...); set ${COURSE_MODULE_VARIABLE} to the "
                           "module of the course to grade")
    return layout
