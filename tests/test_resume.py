"""The grading command grades whom it is asked to, resumes after Ctrl-C or kill -9, and grades in parallel safely."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import fixture_course
import psutil
import pytest
from fixture_course.answers import ALTERNATIVES, MISTAKES
from nbgrader.api import Assignment, Gradebook, SubmittedAssignment
from pg import create_database
from traitlets.config import Config

from autograder.engine.grade import GRADED_MARKER, GradingRun
from autograder.engine.gradebook import cell_scores
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import db_url, register_assignment
from autograder.tools.in_process import grade_in_process, read_notebook, release_stubs, with_solutions
from autograder.tools.release import nbgrader_env

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ROOT = fixture_course.ROOT
ASSIGNMENT = fixture_course.ASSIGNMENT
FULL_MARKS = 5.0
RUN_TIMEOUT_S = 600
POLL_S = 0.05
CGROUP_ROOT = Path("/sys/fs/cgroup")
KILL_GRACE_S = 5.0
EXITING_GRACE_S = 30.0


def _cohort() -> list[SyntheticStudent]:
    """Eight students with different scores: full marks, zero, and mistakes of the fixture course in different cells."""
    reference = reference_solutions(ASSIGNMENT)

    def with_mistakes(*names: str) -> dict[str, str]:
        replacements = dict(reference)
        for name in names:
            replacements.update(MISTAKES[name].replaces)
        return replacements

    return [
        SyntheticStudent("resume_reference", "reference", dict(reference)),
        SyntheticStudent("resume_blank", "blank", {}),
        SyntheticStudent("resume_double_prefix", "visible mistakes",
                         with_mistakes("double_adds_one", "prefix_skips_first")),
        SyntheticStudent("resume_alternative", "alternative", {**reference, **ALTERNATIVES}),
        SyntheticStudent("resume_double_columns", "hidden mistakes",
                         with_mistakes("double_in_place", "columns_first_two_rows")),
        SyntheticStudent("resume_columns_empty", "torch.empty", with_mistakes("columns_start_from_empty")),
        SyntheticStudent("resume_prefix", "hidden mistake", with_mistakes("prefix_always_float32")),
        SyntheticStudent("resume_rows", "visible mistake", with_mistakes("columns_row_sums")),
    ]


with fixture_course.selected():
    COHORT = _cohort()
STUDENTS = [s.student_id for s in COHORT]


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, float]]:
    """Per-cell points of every student, from the in-process grader (which agrees with nbgrader)."""
    source = read_notebook(fixture_course.source_notebook())
    stubs = release_stubs(read_notebook(fixture_course.release_notebook()))
    scores = {}
    for student in COHORT:
        grade = grade_in_process(with_solutions(source, student.replacements or stubs))
        scores[student.student_id] = {grade_id: cell.points for grade_id, cell in grade.cells.items()}
    return scores


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Path:
    """A sqlite gradebook that knows the assignment, to copy into each working directory (registering is slow)."""
    workdir = tmp_path_factory.mktemp("resume_registered")
    register_assignment(ASSIGNMENT, workdir)
    return workdir / "gradebook.db"


def _prepare(workdir: Path, students: list[SyntheticStudent], registered: Path) -> None:
    """Write ``students``' submissions and a gradebook that knows the assignment into ``workdir``."""
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    shutil.copy(registered, workdir / "gradebook.db")


def _command(workdir: Path, *extra: str, db: str | None = None) -> list[str]:
    """The grading command on ``workdir`` (results in ``workdir/results.json``, gradebook ``db`` or its sqlite)."""
    return [
        sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
        "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
        "--db", db or db_url(workdir), "--json", str(workdir / "results.json"), *extra,
    ]


def _grade(workdir: Path, *extra: str, db: str | None = None) -> subprocess.CompletedProcess:
    """Run the grading command to its end."""
    return subprocess.run(_command(workdir, *extra, db=db), cwd=ROOT, env=nbgrader_env(), capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)


def _start(workdir: Path, *extra: str) -> subprocess.Popen:
    """Start the grading command in its own process group (as a terminal would), output to files."""
    with (workdir / "stdout.txt").open("w") as stdout, (workdir / "stderr.txt").open("w") as stderr:
        return subprocess.Popen(_command(workdir, *extra), cwd=ROOT, env=nbgrader_env(), start_new_session=True,
                                stdout=stdout, stderr=stderr)


def _course() -> str:
    """What --changed-only compares besides the submission: the source notebook and every .py of the course's grader
    folder (the fixture course's)."""
    return GradingRun(ROOT, "", 1, Config()).grading_key(ASSIGNMENT)


def _require_unchanged_course(state: dict) -> None:
    """Skip when the course changed between the runs of a fixture (then every submission is rightly regraded)."""
    if state["course_before"] != state["course_after"]:
        pytest.skip("the fixture course's *.py or its source notebook changed while the runs went on (someone is editing "
                    "the working tree); --changed-only then regrades everything, as it should")


def _results(workdir: Path) -> dict[str, dict]:
    """The last run's results by student."""
    return {r["student"]: r for r in json.loads((workdir / "results.json").read_text(encoding="utf-8"))}


def _finished(workdir: Path) -> set[str]:
    """Students whose grading finished (the graded marker that --changed-only reads is written last)."""
    return {path.parent.parent.name for path in (workdir / "autograded").glob(f"*/{ASSIGNMENT}/{GRADED_MARKER}")}


def _wait_until_finished(workdir: Path, process: subprocess.Popen, count: int) -> None:
    """Wait until ``count`` submissions are finished; fail if the run ends or stalls first."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(_finished(workdir)) < count:
        assert process.poll() is None, (workdir / "stderr.txt").read_text()[-2000:]
        assert time.monotonic() < deadline, "no submission was finished in time"
        time.sleep(POLL_S)


def _descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of ``pid`` (the fork server and the kernels it forked)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _kernel_cgroups(pid: int) -> set[Path]:
    """The grading cgroups (``.../autograder/kernel-*``) that ``pid`` is in."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return set()
    folders = set()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "/autograder/kernel-" in path:
            folders.update(CGROUP_ROOT / controller / path.lstrip("/") for controller in controllers.split(","))
    return folders


def _kill(processes: list[psutil.Process]) -> None:
    """SIGKILL ``processes`` and their descendants, then remove the kernels' emptied cgroups.

    psutil checks each process's identity before signalling it, so a reused pid is never hit.
    """
    everyone = {p.pid: p for p in processes}
    for process in processes:
        everyone.update({child.pid: child for child in _descendants(process.pid)})
    cgroups = set().union(*(_kernel_cgroups(pid) for pid in everyone))
    for process in everyone.values():
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(everyone.values()), timeout=10)
    for folder in cgroups:
        try:
            folder.rmdir()
        except OSError:
            pass


def _describe(process: psutil.Process) -> str:
    """What a surviving process is, read while it still runs: its command line, state, parent and age."""
    try:
        with process.oneshot():
            return (f"{process.pid} {' '.join(_cmdline(process))[:100] or process.name()!r} ({process.status()}, "
                    f"parent {process.ppid()}, {time.time() - process.create_time():.1f} s old)")
    except psutil.Error:
        return f"{process.pid} (gone)"


def _alive(processes: list[psutil.Process], grace_s: float = 0.0) -> list[psutil.Process]:
    """Those of ``processes`` still running (not zombies) after at most ``grace_s`` seconds.

    A process whose command line already reads empty has released its memory and is exiting (a big kernel's exit
    can take a while on a loaded machine; seen past 10 s in a full suite): it gets up to ``EXITING_GRACE_S`` more
    before it counts as running.
    """
    _, alive = psutil.wait_procs(processes, timeout=grace_s) if grace_s else ([], processes)
    exiting = [process for process in alive if not _cmdline(process)]
    if grace_s and exiting:
        _, still = psutil.wait_procs(exiting, timeout=EXITING_GRACE_S)
        alive = [process for process in alive if process not in exiting or process in still]
    running = []
    for process in alive:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


def _wait_for_a_kernel(process: subprocess.Popen) -> list[psutil.Process]:
    """The command's descendants once a kernel runs among them (the fork server and at least one forked kernel)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        children = _descendants(process.pid)
        servers = [c for c in children if "autograder.engine.kernels.forkserver" in " ".join(_cmdline(c))]
        if any(c.ppid() == server.pid for server in servers for c in children if c.is_running()):
            return children
        assert process.poll() is None and time.monotonic() < deadline, "no kernel ever ran"
        time.sleep(POLL_S)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _interrupted(
    workdir: Path, registered: Path, signum: int, group: bool
) -> tuple[int, set[str], list[psutil.Process]]:
    """Grade the first six students with one worker and send ``signum`` once one has finished.

    Returns the run's exit status, who had finished when it ended, and the processes it had started then.
    """
    _prepare(workdir, COHORT[:6], registered)
    process = _start(workdir, "--workers", "1")
    try:
        _wait_until_finished(workdir, process, 1)
        children = _wait_for_a_kernel(process)
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        returncode = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            _kill([psutil.Process(process.pid)])
    return returncode, _finished(workdir), children


# -- choosing students and skipping unchanged submissions ------------------------------------------------------

@pytest.fixture(scope="module")
def selected(tmp_path_factory, registered) -> dict:
    """Three students: two graded by name; then one of them resubmits and --changed-only runs."""
    workdir = tmp_path_factory.mktemp("resume_selected")
    _prepare(workdir, COHORT[:3], registered)
    course_before = _course()
    runs = {"named": _grade(workdir, "--student", "resume_reference", "resume_blank", "--workers", "2")}
    state = {
        "named": _results(workdir),
        "named_gradebook": {s.student_id: cell_scores(db_url(workdir), ASSIGNMENT, s.student_id) for s in COHORT[:3]},
        "named_folders": {path.name for path in (workdir / "autograded").iterdir()},
    }
    # The blank student resubmits the reference solution.
    write_cohort(ASSIGNMENT, [SyntheticStudent("resume_blank", "resubmitted", dict(COHORT[0].replacements))],
                 workdir / "submitted")
    runs["changed"] = _grade(workdir, "--changed-only", "--workers", "2")
    state["changed"] = _results(workdir)
    state["changed_gradebook"] = cell_scores(db_url(workdir), ASSIGNMENT, "resume_blank")
    state["runs"] = runs
    state["course_before"], state["course_after"] = course_before, _course()
    return state


@pytest.mark.xdist_group("grading")
def test_student_option_grades_only_those(selected):
    """Does --student grade exactly the named students and leave the others out of gradebook and folders?"""
    assert selected["runs"]["named"].returncode == 0, selected["runs"]["named"].stderr[-2000:]
    assert set(selected["named"]) == {"resume_reference", "resume_blank"}
    assert selected["named_folders"] == {"resume_reference", "resume_blank"}
    assert selected["named_gradebook"]["resume_double_prefix"] == {}
    assert sum(selected["named_gradebook"]["resume_reference"].values()) == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_changed_only_skips_an_unchanged_submission(selected):
    """Does --changed-only skip a graded, unchanged submission and still report its score?"""
    _require_unchanged_course(selected)
    assert selected["changed"]["resume_reference"]["status"] == "skipped"
    assert selected["changed"]["resume_reference"]["score"] == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_changed_only_regrades_a_changed_submission(selected):
    """Does --changed-only regrade a submission whose notebook changed since it was graded?"""
    assert selected["runs"]["changed"].returncode == 0, selected["runs"]["changed"].stderr[-2000:]
    assert selected["named"]["resume_blank"]["score"] == 0
    assert selected["changed"]["resume_blank"]["status"] == "graded"
    assert selected["changed"]["resume_blank"]["score"] == FULL_MARKS
    assert sum(selected["changed_gradebook"].values()) == FULL_MARKS


@pytest.mark.xdist_group("grading")
def test_changed_only_grades_a_new_submission(selected, expected):
    """Does --changed-only grade a submission that was never graded?"""
    result = selected["changed"]["resume_double_prefix"]
    assert result["status"] == "graded"
    assert result["score"] == sum(expected["resume_double_prefix"].values())


# -- kill -9 and Ctrl-C ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def killed(tmp_path_factory, registered) -> dict:
    """A run killed with SIGKILL after its first result, then the same command again with --changed-only."""
    workdir = tmp_path_factory.mktemp("resume_killed")
    course_before = _course()
    returncode, finished, children = _interrupted(workdir, registered, signal.SIGKILL, group=False)
    # kill -9 gives the command no chance to stop its fork server and kernels: they must die with it by themselves.
    survivors = _alive(children, grace_s=KILL_GRACE_S)
    described = [_describe(p) for p in survivors]  # before they are killed below
    _kill(survivors)
    rerun = _grade(workdir, "--changed-only", "--workers", "2")
    return {"workdir": workdir, "returncode": returncode, "finished": finished, "rerun": rerun,
            "survivors": described,
            "results": _results(workdir), "course_before": course_before, "course_after": _course()}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, registered) -> dict:
    """A run interrupted with Ctrl-C (SIGINT to its process group) after its first result, then rerun."""
    workdir = tmp_path_factory.mktemp("resume_interrupted")
    course_before = _course()
    returncode, finished, children = _interrupted(workdir, registered, signal.SIGINT, group=True)
    stderr = (workdir / "stderr.txt").read_text()
    survivors = _alive(children, grace_s=5)
    survivor_pids = [p.pid for p in survivors]
    _kill(survivors)
    rerun = _grade(workdir, "--changed-only", "--workers", "2")
    return {"workdir": workdir, "returncode": returncode, "stderr": stderr, "finished": finished,
            "survivors": survivor_pids, "rerun": rerun, "results": _results(workdir),
            "course_before": course_before, "course_after": _course()}


@pytest.mark.xdist_group("grading")
def test_kill_stops_the_run_midway(killed):
    """Did kill -9 end the first run with some submissions finished and others not?"""
    assert killed["returncode"] == -signal.SIGKILL
    assert 1 <= len(killed["finished"]) < 6


@pytest.mark.xdist_group("grading")
def test_kill_leaves_no_fork_server_or_kernel_behind(killed):
    """After kill -9 of the command, do its fork server and kernels die by themselves within a few seconds?"""
    assert killed["survivors"] == []


@pytest.mark.xdist_group("grading")
def test_rerun_after_kill_skips_what_was_finished(killed):
    """Does --changed-only after kill -9 skip the finished submissions and grade the rest?"""
    _require_unchanged_course(killed)
    assert killed["rerun"].returncode == 0, killed["rerun"].stderr[-2000:]
    results = killed["results"]
    assert {s for s, r in results.items() if r["status"] == "skipped"} == killed["finished"]
    assert {s for s, r in results.items() if r["status"] == "graded"} == set(STUDENTS[:6]) - killed["finished"]


@pytest.mark.xdist_group("grading")
def test_rerun_after_kill_gives_expected_scores(killed, expected):
    """Does every student end up with the right points on every cell after kill -9 and a rerun?"""
    for student in STUDENTS[:6]:
        assert cell_scores(db_url(killed["workdir"]), ASSIGNMENT, student) == expected[student], student


def _assert_consistent(url: str, students: list[str]) -> None:
    """One submission per student, nothing left for manual grading, and each total the sum of its cells."""
    with Gradebook(url) as gradebook:
        rows = gradebook.db.query(SubmittedAssignment).join(Assignment).filter(Assignment.name == ASSIGNMENT).all()
        assert Counter(row.student_id for row in rows) == Counter(students)
        for row in rows:
            grades = [grade for notebook in row.notebooks for grade in notebook.grades]
            assert all(grade.auto_score is not None for grade in grades), row.student_id
            assert not row.needs_manual_grade, row.student_id
            assert row.score == pytest.approx(sum(grade.score for grade in grades)), row.student_id


@pytest.mark.xdist_group("grading")
def test_gradebook_is_consistent_after_kill(killed):
    """After kill -9 and a rerun, has the gradebook one complete, correctly summed submission per student?"""
    _assert_consistent(db_url(killed["workdir"]), STUDENTS[:6])


@pytest.mark.xdist_group("grading")
def test_ctrl_c_exits_130(interrupted):
    """Does Ctrl-C stop the run with exit status 130 and say how to go on?"""
    assert interrupted["returncode"] == 130, interrupted["stderr"][-2000:]
    assert "grading interrupted" in interrupted["stderr"]
    assert len(interrupted["finished"]) < 6


@pytest.mark.xdist_group("grading")
def test_rerun_after_ctrl_c_skips_what_was_finished(interrupted):
    """Does --changed-only after Ctrl-C skip the submissions finished before the interrupt?"""
    _require_unchanged_course(interrupted)
    assert {s for s, r in interrupted["results"].items() if r["status"] == "skipped"} == interrupted["finished"]


@pytest.mark.xdist_group("grading")
def test_ctrl_c_leaves_no_process_behind(interrupted):
    """Are the fork server and kernels of an interrupted run gone once the command has exited?"""
    assert interrupted["survivors"] == []


@pytest.mark.xdist_group("grading")
def test_rerun_after_ctrl_c_completes(interrupted, expected):
    """Does --changed-only after Ctrl-C grade the rest, so every student has the right points?"""
    assert interrupted["rerun"].returncode == 0, interrupted["rerun"].stderr[-2000:]
    for student in STUDENTS[:6]:
        assert cell_scores(db_url(interrupted["workdir"]), ASSIGNMENT, student) == expected[student], student
    _assert_consistent(db_url(interrupted["workdir"]), STUDENTS[:6])


# -- parallel grading: sqlite and PostgreSQL ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def parallel(tmp_path_factory, registered) -> tuple[Path, subprocess.CompletedProcess]:
    """All eight students graded by four workers into one sqlite gradebook."""
    workdir = tmp_path_factory.mktemp("resume_parallel")
    _prepare(workdir, COHORT, registered)
    return workdir, _grade(workdir, "--workers", "4")


@pytest.mark.xdist_group("grading")
def test_parallel_sqlite_is_never_locked(parallel):
    """Do four workers writing one sqlite gradebook finish without a 'database is locked' error?"""
    _, completed = parallel
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "database is locked" not in completed.stdout + completed.stderr


@pytest.mark.xdist_group("grading")
def test_parallel_scores_are_right(parallel, expected):
    """Does every student graded in parallel get the right points on every cell, in a consistent gradebook?"""
    workdir, _ = parallel
    for student in STUDENTS:
        assert cell_scores(db_url(workdir), ASSIGNMENT, student) == expected[student], student
    _assert_consistent(db_url(workdir), STUDENTS)


@pytest.mark.xdist_group("grading")
def test_postgres_scores_match_sqlite(parallel, postgres_url, tmp_path):
    """Does the command grading into PostgreSQL give every cell the same points as into sqlite?"""
    sqlite_dir, _ = parallel
    url = create_database(postgres_url)
    students = COHORT[:3]
    write_cohort(ASSIGNMENT, students, tmp_path / "submitted")
    register_assignment(ASSIGNMENT, tmp_path, db=url)
    completed = _grade(tmp_path, "--workers", "2", db=url)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    for student in students:
        expected = cell_scores(db_url(sqlite_dir), ASSIGNMENT, student.student_id)
        assert expected, f"{student.student_id} was not graded into sqlite"
        assert cell_scores(url, ASSIGNMENT, student.student_id) == expected, student.student_id
    _assert_consistent(url, [s.student_id for s in students])
