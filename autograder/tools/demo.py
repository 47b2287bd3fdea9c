"""``make demo``: build a synthetic cohort, grade it into a sqlite gradebook, print the scores and write reports.

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

from autograder.course import REPO_ROOT, published_assignments
from autograder.engine.gradebook import score_table
from autograder.engine.layout import course_layout
from autograder.engine.reports import label_of, misconception_labels, top_misconceptions, write_reports
from autograder.engine.terminal import printable
from autograder.tools.cohort import demo_cohort, write_cohort
from autograder.tools.release import generate, nbgrader_env


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
    assignment: str, workdir: Path, *extra: str, db: str | None = None, root: Path | None = None
) -> subprocess.CompletedProcess:
    """Grade every submission of ``assignment`` with plain ``nbgrader autograde`` run in ``root`` (default: the root of
    the course being graded, :func:`course_layout`)."""
    return subprocess.run(
        nbgrader_command("autograde", assignment, workdir, *extra, db=db), cwd=root or course_layout().root,
        env=nbgrader_env(),
        capture_output=True, text=True,
    )


def grade_fast(assignment: str, workdir: Path, *extra: str, progress: bool = True) -> subprocess.CompletedProcess:
    """Grade every submission of ``assignment`` with ``python -m autograder grade`` (parallel, contained), in the
    course being graded (:func:`course_layout`)."""
    root = course_layout().root
    command = [
        sys.executable, "-m", "autograder.engine.grade", assignment, "--root", str(root),
        "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
        "--db", db_url(workdir), *extra, *([] if progress else ["--no-progress"]),
    ]
    return subprocess.run(command, cwd=root, env=nbgrader_env(), text=True,
                          capture_output=not progress)


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
        print(f"[{assignment}] grading {len(cohort)} synthetic students with `python -m autograder grade` ...",
              flush=True)
        start = time.perf_counter()
        grade_fast(assignment, workdir)
        elapsed = time.perf_counter() - start
        descriptions = {student.student_id: student.description for student in cohort}
        graded = {p.parent.name for p in (workdir / "autograded").glob(f"*/{assignment}")}
        print(f"\n{'student':<18} {'score':>9}  what the notebook holds")
        for student, score, max_score in score_table(db_url(workdir), assignment, [s.student_id for s in cohort]):
            shown = "error" if student not in graded or score is None else f"{score:g}/{max_score:g}"
            print(f"{student:<18} {shown:>9}  {descriptions[student]}")
        reports = workdir / "reports" / assignment
        cells = write_reports(assignment, db_url(workdir), workdir / "autograded", reports)
        print(f"\ngraded in {elapsed:.1f} s; gradebook: {workdir / 'gradebook.db'}")
        print(f"reports: {reports}/scores.csv, pass_rates.csv, misconceptions.csv, report.png")
        print("lowest pass rates:")
        for cell in sorted(cells, key=lambda c: c.pass_rate)[:3]:
            top = cell.top_failures(1)
            reason = f" ({printable(top[0][0][:80])})" if top else ""
            print(f"  {cell.grade_id}: {cell.passed}/{cell.graded} passed{reason}")
        labels = misconception_labels(assignment)
        print("misconceptions diagnosed (students):")
        for names, count in top_misconceptions(cells):
            print(f"  {count}  {' / '.join(names)}  ({label_of(names, labels)})")
        unrecognised = sum(cell.unrecognised for cell in cells)
        print(f"  failures no banked mistake matched: {unrecognised} (see misconceptions.csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
