"""``make demo``: build a synthetic cohort, autograde it with nbgrader into a sqlite gradebook, print the scores.

Everything is written under ``demo/`` (ignored by git): ``demo/submitted``, ``demo/autograded`` and
``demo/gradebook.db``. The committed course (source/, release/) is only read.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.cohort import demo_cohort, write_cohort
from autograder.course import REPO_ROOT, published_assignments
from autograder.grades import score_table
from autograder.release import generate, nbgrader_env


def nbgrader_command(verb: str, assignment: str, workdir: Path, *extra: str, db: str | None = None) -> list[str]:
    """An nbgrader command line that keeps all grading state inside ``workdir`` (gradebook: ``db`` if given)."""
    return [
        sys.executable, "-m", "nbgrader", verb, assignment,
        f"--CourseDirectory.submitted_directory={workdir / 'submitted'}",
        f"--CourseDirectory.autograded_directory={workdir / 'autograded'}",
        f"--CourseDirectory.feedback_directory={workdir / 'feedback'}",
        f"--db={db or db_url(workdir)}",
        *extra,
    ]


def db_url(workdir: Path) -> str:
    """The sqlite gradebook of a working directory."""
    return f"sqlite:///{workdir / 'gradebook.db'}"


def register_assignment(assignment: str, workdir: Path, db: str | None = None) -> None:
    """Put the assignment and its test cells into the gradebook (what ``generate_assignment`` does)."""
    with tempfile.TemporaryDirectory(prefix="demo-release-") as scratch:
        generate(assignment, Path(scratch), db_url=db or db_url(workdir))


def autograde_stock(
    assignment: str, workdir: Path, *extra: str, db: str | None = None, root: Path = REPO_ROOT
) -> subprocess.CompletedProcess:
    """Grade every submission of ``assignment`` with plain ``nbgrader autograde`` run in ``root``."""
    return subprocess.run(
        nbgrader_command("autograde", assignment, workdir, *extra, db=db), cwd=root, env=nbgrader_env(),
        capture_output=True, text=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "demo", help="where the cohort is built")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for assignment in published_assignments():
        cohort = demo_cohort(assignment)
        write_cohort(assignment, cohort, workdir / "submitted")
        register_assignment(assignment, workdir)
        print(f"[{assignment}] grading {len(cohort)} synthetic students with nbgrader autograde ...", flush=True)
        start = time.perf_counter()
        completed = autograde_stock(assignment, workdir)
        elapsed = time.perf_counter() - start
        (workdir / f"autograde-{assignment}.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
        descriptions = {student.student_id: student.description for student in cohort}
        ungraded = [s.student_id for s in cohort if not (workdir / "autograded" / s.student_id / assignment).exists()]
        print(f"\n{'student':<18} {'score':>9}  what the notebook holds")
        for student, score, max_score in score_table(db_url(workdir), assignment, [s.student_id for s in cohort]):
            shown = "error" if student in ungraded or score is None else f"{score:g}/{max_score:g}"
            print(f"{student:<18} {shown:>9}  {descriptions[student]}")
        print(f"\ngraded in {elapsed:.1f} s; gradebook: {workdir / 'gradebook.db'}")
        if ungraded:
            print(f"could not be graded (see {workdir / f'autograde-{assignment}.log'}): {', '.join(ungraded)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
