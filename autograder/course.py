"""The course's single source of truth: its id, its assignments and where their notebooks live."""

from __future__ import annotations

from pathlib import Path

from autograder.engine.layout import CourseLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "pytorch-core-msai"

ASSIGNMENTS = (
    "00_tensors",
    "01_autograd",
    "02_nn",
    "03_optim",
    "04_data",
    "05_multiprocessing",
    "06_onnx",
    "07_capstone",
)
"""Every assignment of the course in teaching order; only those with a source notebook are published."""


LAYOUT = CourseLayout(
    root=REPO_ROOT,
    course_id=COURSE_ID,
    assignments=ASSIGNMENTS,
    checks_package="autograder.hidden",
    private_packages=("autograder.hidden", "autograder.mistakes"),
    grader_dir=REPO_ROOT / "autograder",
    diagnosis_module="autograder.diagnosis",
)
"""What the grading engine knows of this course (autograder/engine/layout.py)."""


def published_assignments(root: Path = REPO_ROOT) -> list[str]:
    """The assignments that have an instructor notebook in ``source/``."""
    return LAYOUT.published(root)


def source_notebook(assignment: str, root: Path = REPO_ROOT) -> Path:
    """Path of the instructor notebook (solutions and hidden tests) of ``assignment``."""
    return LAYOUT.source_notebook(assignment, root)


def release_notebook(assignment: str, root: Path = REPO_ROOT) -> Path:
    """Path of the generated student notebook of ``assignment``."""
    return LAYOUT.release_notebook(assignment, root)


def topic(assignment: str) -> str:
    """The Python-friendly topic name of an assignment: ``00_tensors`` -> ``tensors``."""
    return assignment.split("_", 1)[1]
