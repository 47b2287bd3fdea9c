"""The grading engine sees the course only through its layout (autograder/engine/layout.py)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

from autograder import engine
from autograder.course import LAYOUT, REPO_ROOT
from autograder.engine import layout as layout_module
from autograder.engine.layout import COURSE_MODULE_VARIABLE, CourseLayout, course_layout

ENGINE_MODULES = tuple(sorted(
    info.name for info in pkgutil.walk_packages(engine.__path__, "autograder.engine.")))
COURSE_MODULES = ("autograder.course", "autograder.hidden", "autograder.mistakes", "autograder.checks",
                  "autograder.diagnosis", "autograder.tools")
ENGINE_TESTS = ("test_containment.py", "test_red_team.py", "redteam.py", "test_red_team_files.py",
                "test_red_team_outputs.py", "test_resume.py", "test_bad_submissions.py", "test_judge.py")
"""The engine's tests: they grade the fixture course (tests/fixture_course), never this course."""


def _imported_names(module: str) -> set[str]:
    path = importlib.util.find_spec(module).origin
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_imports_nothing_of_the_course(module):
    """Does this engine module stay clear of the course's modules (it may only ask for the course's layout)?"""
    reached = {name for name in _imported_names(module)
               if any(name == course or name.startswith(course + ".") for course in COURSE_MODULES)}
    assert not reached, f"{module} imports {sorted(reached)}: go through autograder.engine.layout.course_layout()"


def test_the_course_layout_is_this_course_by_default(monkeypatch):
    """Without $AUTOGRADER_COURSE, is the layout the one autograder/course.py defines?"""
    monkeypatch.delenv(COURSE_MODULE_VARIABLE, raising=False)
    assert course_layout() is LAYOUT and LAYOUT.root == REPO_ROOT and "00_tensors" in LAYOUT.published()


def test_another_course_is_chosen_by_its_module(tmp_path, monkeypatch):
    """Does $AUTOGRADER_COURSE make the engine see another course (the way a fixture course is graded)?"""
    (tmp_path / "tiny_course.py").write_text(
        "from pathlib import Path\nfrom autograder.engine.layout import CourseLayout\n"
        f"LAYOUT = CourseLayout(root=Path({str(tmp_path)!r}), course_id='tiny', assignments=('01_one',),"
        " checks_package='tiny_checks', private_packages=('tiny_checks',), grader_dir=Path('.'))\n",
        encoding="utf-8")
    (tmp_path / "source" / "01_one").mkdir(parents=True)
    (tmp_path / "source" / "01_one" / "01_one.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(COURSE_MODULE_VARIABLE, "tiny_course")
    layout = course_layout()
    assert isinstance(layout, CourseLayout) and layout.course_id == "tiny" and layout.published() == ["01_one"]
    from autograder.engine.judge import resolve
    with pytest.raises(ValueError, match="tiny_checks"):
        resolve("autograder.hidden.tensors.check_prefix_sums")
    sys.modules.pop("tiny_course", None)


def test_a_module_without_a_layout_is_refused_clearly(monkeypatch):
    """Does naming a module that defines no LAYOUT fail with a message that says what to do?"""
    monkeypatch.setenv(COURSE_MODULE_VARIABLE, "json")
    with pytest.raises(RuntimeError, match="defines no LAYOUT"):
        layout_module.course_layout()


@pytest.mark.parametrize("name", ENGINE_TESTS)
def test_engine_tests_grade_the_fixture_course_only(name):
    """Does this engine test name nothing of this course (an assignment, its checks, mistake banks, diagnosis or
    course module) and select the fixture course instead, so that the engine is tested apart from the course?"""
    text = (Path(__file__).parent / name).read_text(encoding="utf-8")
    course_modules = [module for module in COURSE_MODULES if module != "autograder.tools"]  # tools serve any course
    named = [name for name in (*LAYOUT.assignments, *course_modules) if name in text]
    assert named == [], f"{name} names {named}: engine tests grade tests/fixture_course"
    assert "fixture_course" in text, f"{name} does not select the fixture course"
