"""``--changed-only`` regrades whenever anything that can change a score changed (the grading key)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from traitlets.config import Config

from autograder.course import LAYOUT, REPO_ROOT
from autograder.engine import grade

ASSIGNMENT = "00_tensors"


@pytest.fixture
def course(tmp_path):
    """A copy of the course's grader package, notebooks and configuration, seen by the grading command as the course."""
    root = tmp_path / "course"
    shutil.copytree(REPO_ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "source", root / "source")
    for name in ("nbgrader_config.py", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, root / name)
    return root


def _key(root) -> str:
    layout = dataclasses.replace(LAYOUT, root=root, grader_dir=root / "autograder")
    return grade.GradingRun(root, "", 1, Config(), layout=layout).grading_key(ASSIGNMENT)


def _append(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text(encoding="utf-8") if path.exists() else "") + text, encoding="utf-8")


@pytest.mark.parametrize("changed", [
    "autograder/hidden/new_topic.py",             # a new hidden-check module
    "autograder/mistakes/tensors.py",             # a changed mistake bank
    "autograder/checks/values.py",                # a changed check helper
    "autograder/engine/nbgrader/execute.py",      # the engine
    "nbgrader_config.py",                         # the configuration
    "pyproject.toml",                             # the pinned versions
    "source/00_tensors/00_tensors.ipynb",         # the assignment itself
])
def test_any_change_that_can_move_a_score_changes_the_key(course, changed):
    """Does a change to this file (or a new file there) give every submission of the assignment a new grading key?"""
    before = _key(course)
    assert _key(course) == before, "the key must be stable when nothing changed"
    path = course / changed
    if path.suffix == ".ipynb":
        path.write_bytes(path.read_bytes().replace(b'"cells": [', b'"cells": [ ', 1))
    else:
        _append(path, "\n# changed\n")
    assert _key(course) != before


def test_an_upgrade_of_torch_changes_the_key(course, monkeypatch):
    """Does a different installed torch (or nbgrader, ...) version give a new grading key?"""
    before = _key(course)
    versions = grade._installed_versions()
    monkeypatch.setattr(grade, "_installed_versions", lambda: {**versions, "torch": versions["torch"] + "+other"})
    assert _key(course) != before


def test_an_engine_change_regrades_a_course_whose_package_does_not_hold_the_engine(course, tmp_path, monkeypatch):
    """Does a change to the engine's code change the key even for a course whose grader package lies elsewhere (the
    fixture course of the engine's tests has its checks in tests/fixture_course)?"""
    engine = tmp_path / "engine"
    shutil.copytree(REPO_ROOT / "autograder" / "engine", engine, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(grade, "_ENGINE_DIR", engine)
    layout = dataclasses.replace(LAYOUT, root=course, grader_dir=course / "autograder" / "hidden")

    def key() -> str:
        return grade.GradingRun(course, "", 1, Config(), layout=layout).grading_key(ASSIGNMENT)

    before = key()
    _append(engine / "judge.py", "\n# changed\n")
    assert key() != before
