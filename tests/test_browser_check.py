"""A student's view in a real browser (JupyterLab in headless Chromium): `make browser-check`.

The end-to-end test needs Chromium and Playwright and skips, saying so, where they are missing; the rules the
check applies are tested here without a browser.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autograder.course import REPO_ROOT
from autograder.tools.browser_check import NotebookRun, missing_requirements

ONE_LINE = "[풀기 전] 연습 문제 1 seeded_rand: 아직 풀지 않았어요. raise NotImplementedError() 줄을 지우고 코드를 채워 주세요."


def test_a_run_that_stopped_early_is_a_problem():
    """Does the check complain when Run All did not reach every code cell?"""
    run = NotebookRun("nb", code_cells=23, ran=4, errors=[(3, ONE_LINE)], expected_error_cells=[3])
    assert any("only 4 of 23" in problem for problem in run.problems(None))


def test_a_traceback_or_an_unexpected_error_is_a_problem():
    """Does the check complain about a multi-line traceback and about an error where none was expected?"""
    traceback = "NotImplementedError Traceback (most recent call last)\nCell In[5], line 1\nNotImplementedError:"
    run = NotebookRun("nb", code_cells=23, ran=23, errors=[(3, traceback), (5, ONE_LINE)], expected_error_cells=[3])
    problems = run.problems(None)
    assert any("more than one short line" in problem for problem in problems)
    assert any("errors in code cells [3, 5]" in problem for problem in problems)


def test_validate_results_are_checked_both_ways():
    """Does the check require Validate to fail an unsolved notebook and to pass the reference?"""
    assert NotebookRun("blank", validate="Success! Your notebook passes all the tests.").problems(False)
    assert NotebookRun("reference", validate="The following cell failed: ...").problems(True)
    assert NotebookRun("reference", validate="Success! Your notebook passes all the tests.").problems(True) == []


@pytest.mark.xdist_group("browser")
def test_students_view_in_a_real_browser():
    """Set up as a student, does JupyterLab run every cell of a blank and a half-solved notebook, one line per
    unsolved exercise, with no instructor tools and a Validate button that works?"""
    missing = missing_requirements()
    if missing:
        pytest.skip(f"needs {'; '.join(missing)}; run `make browser-check` where they are installed")
    completed = subprocess.run([sys.executable, "-m", "autograder.tools.browser_check"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-3000:]
    assert "browser check passed" in completed.stdout
    assert "formgrader route: HTTP 404" in completed.stdout
    runs = re.findall(r"Run All ran (\d+) of (\d+) code cells", completed.stdout)
    assert runs and all(ran == total for ran, total in runs)
