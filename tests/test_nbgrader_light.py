"""nbgrader commands that never execute a notebook stay light: loading the course's configuration imports no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from nbconvert.exporters import NotebookExporter
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from autograder.course import REPO_ROOT
from autograder.tools.release import nbgrader_env


def _imported_modules(*arguments: str) -> set[str]:
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "nbgrader", *arguments], cwd=REPO_ROOT,
                               env=nbgrader_env(), capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in completed.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("arguments", [("db", "student", "list"), ("db", "assignment", "list")])
def test_nbgrader_command_without_execution_imports_no_torch(arguments):
    """Does `nbgrader db student list` (or `nbgrader db assignment list`) run without importing torch or the grading engine?"""
    modules = _imported_modules(*arguments)
    assert "autograder.course" in modules, "the course's nbgrader_config.py was not loaded"
    assert not {"torch", "autograder.engine.nbgrader.execute", "autograder.engine.judge"} & modules


def test_every_named_preprocessor_and_exporter_resolves():
    """Does every dotted name in nbgrader_config.py import, as nbgrader will when it converts a notebook?"""
    namespace = {"get_config": Config, "__file__": str(REPO_ROOT / "nbgrader_config.py")}
    exec(compile((REPO_ROOT / "nbgrader_config.py").read_text(encoding="utf-8"), "nbgrader_config.py", "exec"),
         namespace)
    c = namespace["c"]
    names = [pp for key in ("sanitize_preprocessors", "autograde_preprocessors") for pp in c.Autograde[key]
             if isinstance(pp, str)]
    assert len(names) >= 8
    for name in names:
        assert hasattr(import_item(name), "preprocess"), name
    assert issubclass(import_item(c.Autograde["exporter_class"]), NotebookExporter)

