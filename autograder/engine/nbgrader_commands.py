"""Running nbgrader's own commands from the engine and the tools: the environment they need, generate_assignment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.engine.layout import course_layout


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs: this interpreter's bin directory on PATH (nbgrader calls ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def generate(assignment: str, release_dir: Path, root: Path | None = None, db_url: str | None = None) -> Path:
    """Run ``nbgrader generate_assignment`` for one assignment into ``release_dir``; return the notebook path.

    The assignment is recorded in the gradebook at ``db_url``, or in a throwaway one when none is given. ``root`` is
    the course folder holding ``nbgrader_config.py`` (default: the course layout's root).
    """
    root = root or course_layout().root
    with tempfile.TemporaryDirectory(prefix="gradebook-") as scratch:
        url = db_url or f"sqlite:///{Path(scratch) / 'gradebook.db'}"
        command = [
            sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
            f"--CourseDirectory.release_directory={release_dir}",
            f"--db={url}",
        ]
        completed = subprocess.run(command, cwd=root, env=nbgrader_env(), capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{completed.stdout}{completed.stderr}")
    return release_dir / assignment / f"{assignment}.ipynb"
