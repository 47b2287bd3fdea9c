"""``make bench``: grade the same cohort with stock ``nbgrader autograde`` and with ``python -m autograder.engine.grade``.

The cohort spans every published assignment: each student hands in every assignment (their notebook of each cycles
through that assignment's demo cohort). Stock means nbgrader's own pipeline and kernels (a course folder whose
nbgrader_config.py only sets the course id and the solution stub), one notebook at a time, one `nbgrader autograde`
per assignment; the command grades them all in one run (``all``). Prints notebooks per minute for both, the
per-notebook overhead (grading time minus cell execution time), what misconception diagnosis adds (the command run
again on the same cohort, alternating with ``--set ContainedExecute.diagnose=False`` and without), and as its last line
``speedup <ratio>x over stock nbgrader autograde, identical scores: yes|no``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from autograder.course import REPO_ROOT, published_assignments
from autograder.engine.gradebook import cell_scores
from autograder.engine.layout import course_layout
from autograder.engine.nbgrader.execute import INCIDENTS_SUFFIX
from autograder.tools.cohort import SyntheticStudent, demo_cohort, write_cohort
from autograder.tools.demo import autograde_stock, db_url, grade_fast, register_assignment
from autograder.tools.release import nbgrader_env

_STOCK_CONFIG = '''c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.ClearSolutions.code_stub = {{"python": "# 여기에 코드를 작성하세요\\nraise NotImplementedError()"}}
'''


def bench_cohort(assignment: str, size: int) -> list[SyntheticStudent]:
    """``size`` gradable students cycling through the demo cohort (the broken notebook left out)."""
    base = [s for s in demo_cohort(assignment) if s.broken_text is None]
    return [
        SyntheticStudent(f"b{index:03d}_{base[index % len(base)].student_id}", base[index % len(base)].description,
                         base[index % len(base)].replacements)
        for index in range(size)
    ]


def stock_course(folder: Path) -> Path:
    """A course root that runs nbgrader exactly as shipped: same source/, none of this course's configuration (the
    course being graded, :func:`course_layout`)."""
    layout = course_layout()
    folder.mkdir(parents=True)
    (folder / "source").symlink_to(layout.root / layout.source_dir)
    (folder / "nbgrader_config.py").write_text(_STOCK_CONFIG.format(course_id=layout.course_id), encoding="utf-8")
    return folder


def cell_seconds(workdir: Path, assignment: str) -> list[float]:
    """Cell execution seconds of every notebook the fast run graded (recorded by ContainedExecute)."""
    return [
        json.loads(path.read_text(encoding="utf-8")).get("cell_seconds", 0.0)
        for path in (workdir / "autograded").glob(f"*/{assignment}/{assignment}{INCIDENTS_SUFFIX}")
    ]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20,
                        help="students in the cohort, each handing in every published assignment (real cohorts are "
                             "100-300; fixed start-up costs weigh more in small ones)")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "bench")
    parser.add_argument("--workers", type=int, default=None, help="workers of the fast command (default: the command's own, twice the cores)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    assignments = published_assignments()
    cohorts = {assignment: bench_cohort(assignment, args.students) for assignment in assignments}
    stock, fast, undiagnosed = workdir / "stock", workdir / "fast", workdir / "fast_undiagnosed"
    root = stock_course(workdir / "stock_course")
    for assignment, students in cohorts.items():
        for folder in (stock, fast, undiagnosed):
            write_cohort(assignment, students, folder / "submitted")
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                        f"--CourseDirectory.release_directory={workdir / 'stock_release'}", f"--db={db_url(stock)}"],
                       cwd=root, env=nbgrader_env(), check=True, capture_output=True)
    n = sum(len(students) for students in cohorts.values())
    print(f"stock nbgrader autograde: {n} notebooks ({args.students} students x {', '.join(assignments)}) ...",
          flush=True)
    start = time.perf_counter()
    for assignment in assignments:
        stock_run = autograde_stock(assignment, stock, root=root)
        if stock_run.returncode != 0:
            print(stock_run.stdout[-3000:] + stock_run.stderr[-3000:], file=sys.stderr)
    stock_s = time.perf_counter() - start

    for assignment in assignments:
        register_assignment(assignment, fast)
    extra = ["--workers", str(args.workers)] if args.workers else []
    print(f"python -m autograder.engine.grade all: {n} notebooks ...", flush=True)
    start = time.perf_counter()
    fast_run = grade_fast("all", fast, *extra, "--json", str(workdir / "fast.json"), progress=False)
    fast_s = time.perf_counter() - start
    workers = args.workers or _workers_from(fast_run.stdout)
    print(f"diagnosis on and off, alternating: the command again, 3 times on {n} notebooks ...", flush=True)
    with_diagnosis, without_diagnosis = [fast_s], []
    for index, diagnose in enumerate((False, True, False)):
        folder = undiagnosed / str(index)
        shutil.copytree(undiagnosed / "submitted", folder / "submitted")
        for assignment in assignments:
            register_assignment(assignment, folder)
        start = time.perf_counter()
        grade_fast("all", folder, *extra, *([] if diagnose else ["--set", "ContainedExecute.diagnose=False"]),
                   progress=False)
        (with_diagnosis if diagnose else without_diagnosis).append(time.perf_counter() - start)

    differing = [f"{assignment}/{s.student_id}" for assignment, students in cohorts.items() for s in students
                 if cell_scores(db_url(stock), assignment, s.student_id) != cell_scores(db_url(fast), assignment, s.student_id)
                 or not cell_scores(db_url(fast), assignment, s.student_id)]
    cells = [seconds for assignment in assignments for seconds in cell_seconds(fast, assignment)]
    cell_avg = sum(cells) / len(cells) if cells else 0.0
    print(f"cell execution per notebook: {cell_avg:.2f} s (measured in the fast run's kernels)")
    print(f"stock nbgrader autograde : {stock_s:7.1f} s, {60 * n / stock_s:6.1f} notebooks/min, "
          f"overhead {stock_s / n - cell_avg:5.2f} s per notebook")
    cores = min(workers, os.cpu_count() or 1)
    print(f"python -m autograder.engine.grade: {fast_s:7.1f} s, {60 * n / fast_s:6.1f} notebooks/min, "
          f"overhead {fast_s * workers / n - cell_avg:5.2f} worker-s per notebook ({workers} workers), "
          f"{fast_s * cores / n - cell_avg:5.2f} core-s ({cores} cores)")
    for line in breakdown_lines(workdir / "fast.json", workers, fast_s, n):
        print(line)
    diagnosed_cells = sum(len(json.loads(path.read_text(encoding="utf-8")).get("diagnoses", {}))
                          for path in (fast / "autograded").glob(f"*/*/*{INCIDENTS_SUFFIX}"))
    on, off = (sum(times) / len(times) for times in (with_diagnosis, without_diagnosis))
    print(f"misconception diagnosis: {on:.1f} s with it ({diagnosed_cells} failing cells named a misconception), "
          f"{off:.1f} s without (--set ContainedExecute.diagnose=False), means of 2 alternating runs: "
          f"{100 * (on / off - 1):+.1f}%")
    if differing:
        print(f"scores differ for: {', '.join(differing)}")
    print(f"speedup {stock_s / fast_s:.1f}x over stock nbgrader autograde, identical scores: "
          f"{'no' if differing else 'yes'}")
    return 0


BREAKDOWN = (("kernel_start", "kernel start"), ("cells", "cells"), ("judge", "judge"), ("teardown", "teardown"))


def breakdown_lines(results_json: Path, workers: int, fast_s: float, n: int) -> list[str]:
    """Where a notebook's worker-seconds went in the fast run: execution phases, nbgrader's own steps, and the rest.

    ``nbgrader steps`` is a submission's time in its worker minus its execution phases (intake, the converter, the
    gradebook, writing the notebook); ``outside a notebook`` is what the run cost besides its submissions (start-up,
    imports, the fork server, exit, idle workers), spread over the notebooks.
    """
    if not results_json.exists():
        return []
    graded = [r for r in json.loads(results_json.read_text(encoding="utf-8")) if r.get("status") == "graded"]
    if not graded:
        return []
    mean = lambda values: sum(values) / len(graded)  # noqa: E731
    phases = {key: mean([r.get("phases", {}).get(key, 0.0) for r in graded]) for key, _ in BREAKDOWN}
    per_notebook = mean([r["seconds"] for r in graded])
    steps = per_notebook - sum(phases.values())
    outside = fast_s * workers / n - per_notebook
    shown = [f"{label} {phases[key]:.2f}" for key, label in BREAKDOWN]
    return [f"per notebook (worker-s): {', '.join(shown)}, nbgrader steps {steps:.2f}, "
            f"outside a notebook {outside:.2f}"]


def _workers_from(output: str) -> int:
    for line in output.splitlines():
        if line.endswith("workers") and " with " in line:
            return int(line.rsplit(" with ", 1)[1].split()[0])
    return 1


if __name__ == "__main__":
    sys.exit(main())
