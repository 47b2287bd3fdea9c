"""``make time-notebook``: how long Run All takes for each reference notebook in a real kernel (goal: under 10 s).

Prints two numbers per assignment: the instructor notebook (reference plus hidden tests, as the grader runs it)
and the student notebook filled with the reference answers, run without the grader installed (what a student
waits for). Kernel start-up is excluded from both and reported separately.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from autograder.course import published_assignments, source_notebook
from autograder.tools.cohort import reference_solutions, submission
from autograder.tools.in_process import read_notebook
from autograder.tools.student_view import GRADER_PACKAGES, errors, run_notebook

GOAL_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (no options)."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    worst = 0.0
    for assignment in published_assignments():
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            instructor, instructor_s = run_notebook(read_notebook(source_notebook(assignment)), Path(workdir))
            total_s = time.perf_counter() - start
            student, student_s = run_notebook(
                submission(assignment, reference_solutions(assignment)), Path(workdir), without=GRADER_PACKAGES
            )
        problems = errors(instructor) + errors(student)
        worst = max(worst, instructor_s, student_s)
        print(f"{assignment}: Run All {instructor_s:.2f} s (instructor notebook with hidden tests), "
              f"{student_s:.2f} s (student notebook with reference answers, no grader); "
              f"kernel start {total_s - instructor_s:.2f} s; errors: {problems or 'none'}")
    print(f"slowest Run All {worst:.2f} s, goal under {GOAL_SECONDS:.0f} s: {'met' if worst < GOAL_SECONDS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
