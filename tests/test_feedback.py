"""Feedback HTML from real `nbgrader generate_feedback`: failure messages shown, hidden tests and tracebacks not."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import GetGrades

from autograder.course import REPO_ROOT, source_notebook
from autograder.engine.cells import strip_hidden_tests
from autograder.engine.nbgrader.feedback import FEEDBACK_PREPROCESSORS, HideHiddenTests
from autograder.engine.nbgrader.inert import InertNotebook
from autograder.mistakes import mistakes_for
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, nbgrader_command, register_assignment
from autograder.tools.in_process import grade_in_process, nbgrader_meta, read_notebook, with_solutions
from autograder.tools.release import nbgrader_env

ASSIGNMENT = "00_tensors"
HIDDEN_ONLY = ("seeded_rand_assumes_2d", "pick_device_always_cpu")  # pass the visible tests, fail the hidden ones
STUDENTS = ("reference", "blank", "hidden_fails")
HIDDEN_SOURCE = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "autograder.hidden", "check_")
HANGUL = re.compile(r"[가-힣]")


def _hidden_fails_replacements() -> dict[str, str]:
    mistakes = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    replacements = reference_solutions(ASSIGNMENT)
    for name in HIDDEN_ONLY:
        replacements.update(mistakes[name].replaces)
    return replacements


def _generate_feedback(workdir: Path, *extra: str) -> None:
    completed = subprocess.run(nbgrader_command("generate_feedback", ASSIGNMENT, workdir, "--force", *extra),
                               cwd=REPO_ROOT, env=nbgrader_env(), capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _visible_text(workdir: Path, folder: str, student: str) -> str:
    """The text a student reads in the feedback page: body only, tags removed, entities decoded."""
    page = (workdir / folder / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", page[page.index("<body"):]))


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    """Three autograded students, with feedback generated twice: stock nbgrader and the course's shipped config."""
    workdir = tmp_path_factory.mktemp("feedback-course")
    students = [
        SyntheticStudent("reference", "reference", reference_solutions(ASSIGNMENT)),
        SyntheticStudent("blank", "blank", {}),
        SyntheticStudent("hidden_fails", ",".join(HIDDEN_ONLY), _hidden_fails_replacements()),
    ]
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    completed = autograde_stock(ASSIGNMENT, workdir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Stock: nbgrader's default preprocessors, given on the command line so that no config file can change them.
    defaults = GenerateFeedback.class_traits()["preprocessors"].default()
    _generate_feedback(workdir, *(f"--GenerateFeedback.preprocessors={cls.__module__}.{cls.__qualname__}"
                                  for cls in defaults))
    shutil.move(workdir / "feedback", workdir / "feedback_stock")
    # The course's own feedback: nbgrader_config.py exactly as shipped (generate_feedback runs in the course root).
    _generate_feedback(workdir)
    return workdir


@pytest.mark.xdist_group("nbgrader-feedback")
def test_feedback_shows_the_hidden_tests_failure_message(feedback):
    """Does the feedback of a student who failed a hidden test show that test's Korean message?"""
    source = read_notebook(source_notebook(ASSIGNMENT))
    graded = grade_in_process(with_solutions(source, _hidden_fails_replacements()))
    messages = [cell.error for cell in graded.cells.values() if cell.error]
    assert len(messages) == len(HIDDEN_ONLY)
    text = _visible_text(feedback, "feedback", "hidden_fails")
    for message in messages:
        assert HANGUL.search(message), message
        assert message in text


@pytest.mark.xdist_group("nbgrader-feedback")
@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_hides_hidden_test_source(feedback, student):
    """Is no line of the hidden tests (markers, import, check call) in anyone's feedback?"""
    text = _visible_text(feedback, "feedback", student)
    assert [marker for marker in HIDDEN_SOURCE if marker in text] == []


@pytest.mark.xdist_group("nbgrader-feedback")
@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_has_no_traceback_or_grader_paths(feedback, student):
    """Is there no traceback header and no file path of the grader in anyone's feedback?"""
    text = _visible_text(feedback, "feedback", student)
    leaks = ("Traceback (most recent call last)", str(REPO_ROOT), "autograder/hidden/", "site-packages")
    assert [leak for leak in leaks if leak in text] == []


@pytest.mark.xdist_group("nbgrader-feedback")
def test_feedback_keeps_the_visible_tests(feedback):
    """Does the feedback still show every visible test, so students see what was checked in the open?"""
    text = _visible_text(feedback, "feedback", "hidden_fails")
    source = read_notebook(source_notebook(ASSIGNMENT))
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            first_line = strip_hidden_tests(cell.source).splitlines()[0]
            assert first_line in text, meta["grade_id"]


@pytest.mark.xdist_group("nbgrader-feedback")
def test_stock_feedback_leaks_hidden_tests(feedback):
    """Does stock generate_feedback show the hidden test block, naming the hidden check (what HideHiddenTests prevents)?"""
    text = _visible_text(feedback, "feedback_stock", "hidden_fails")
    assert [marker for marker in HIDDEN_SOURCE if marker not in text] == []


def _error_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="통과했어요!\n"),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="전역 난수 상태가 바뀌었어요.",
                               traceback=["\x1b[31mTraceback\x1b[39m", "File /srv/autograder/hidden/x.py:3", "..."]),
    ]
    return cell


def test_strip_hidden_tests_removes_markers_and_region():
    """Does strip_hidden_tests drop the whole hidden region, markers included, and keep the lines around it?"""
    source = "assert a\n\n### BEGIN HIDDEN TESTS\nfrom x import check\ncheck(a)\n### END HIDDEN TESTS\nprint('끝')"
    assert strip_hidden_tests(source) == "assert a\n\nprint('끝')"


def test_strip_hidden_tests_hides_the_rest_of_an_unclosed_region():
    """Does a hidden region without its END marker hide everything after BEGIN rather than leak it?"""
    assert strip_hidden_tests("assert a\n### BEGIN HIDDEN TESTS\ncheck(a)\n") == "assert a"


def test_strip_hidden_tests_leaves_other_sources_alone():
    """Is a source without hidden-test markers returned unchanged, trailing newline included?"""
    assert strip_hidden_tests("x = 1\n\n") == "x = 1\n\n"


def test_preprocessor_replaces_traceback_with_message_line():
    """Does HideHiddenTests turn a traceback into the single line ``ename: evalue`` and leave other outputs alone?"""
    notebook = nbformat.v4.new_notebook(cells=[_error_cell("assert a\n### BEGIN HIDDEN TESTS\ncheck(a)\n"
                                                           "### END HIDDEN TESTS")])
    notebook, _ = HideHiddenTests().preprocess(notebook, {})
    (cell,) = notebook.cells
    assert cell.source == "assert a"
    assert cell.outputs[0].text == "통과했어요!\n"
    assert cell.outputs[1].traceback == ["AssertionError: 전역 난수 상태가 바뀌었어요."]
    assert cell.outputs[1].evalue == "전역 난수 상태가 바뀌었어요."


def test_feedback_preprocessors_are_nbgraders_plus_ours():
    """Is FEEDBACK_PREPROCESSORS nbgrader's default list with HideHiddenTests, then InertNotebook, right after GetGrades?"""
    defaults = list(GenerateFeedback.class_traits()["preprocessors"].default())
    ours = (HideHiddenTests, InertNotebook)
    assert [cls for cls in FEEDBACK_PREPROCESSORS if cls not in ours] == defaults
    position = FEEDBACK_PREPROCESSORS.index(GetGrades) + 1
    assert FEEDBACK_PREPROCESSORS[position:position + 2] == list(ours)
