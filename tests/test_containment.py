"""Contained grading: hostile or broken code loses what it could not finish, and nothing else.

Graded on the engine's fixture course (tests/fixture_course): 1 + 2 + 2 points in three test cells.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import fixture_course
import psutil
import pytest
from fixture_course.answers import COLUMNS, DOUBLE, PREFIX, TEST_OF

from autograder.engine.gradebook import cell_scores
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.release import nbgrader_env

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ROOT = fixture_course.ROOT
ASSIGNMENT = fixture_course.ASSIGNMENT
FULL_MARKS = 5
LIMITS = ["--set", "ContainedExecute.timeout=6", "--set", "ContainedExecute.notebook_timeout=240"]
SLEEP_MARK = f"317.{uuid.uuid4().int % 10**9}"
"""A stray `sleep 317.<random>` must not survive grading (random: another suite on this machine starts its own)."""
HOG_CHUNKS = 20  # 5 GiB in 256 MiB steps: well over the 3 GiB default cap (sandbox.Limits)
HOG_FINISHED = "allocated 5 GiB without hitting any cap"
HOG = "memory_hog"
HOG_LIMITS = ["--set", "ContainedExecute.timeout=60", "--set", "ContainedExecute.notebook_timeout=240"]
"""The hog gets time to spare: what its test proves is which limit stops it, not how fast the machine writes memory.
With the 6 s the hangs get, a loaded CI machine interrupted it while it was still writing its first 2-3 GiB."""
TRACES = "kernel folder and install names:"


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    threading.Thread(target=lambda: [server.accept() for _ in range(8)], daemon=True).start()
    return server, server.getsockname()[1]


def _students(port: int) -> list[SyntheticStudent]:
    reference = reference_solutions(ASSIGNMENT)

    def with_code(cell: str, code: str, before: bool = False) -> dict[str, str]:
        source = f"{code}\n{reference[cell]}" if before else f"{reference[cell]}\n{code}"
        return {**reference, cell: source}

    return [
        SyntheticStudent("hang_ignores_interrupt", DOUBLE, with_code(
            DOUBLE,
            "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass",
            before=True)),
        SyntheticStudent("infinite_loop", COLUMNS, with_code(
            COLUMNS, "while True:\n    pass", before=True)),
        SyntheticStudent("kernel_exit", PREFIX, with_code(
            PREFIX, "import os\nos._exit(3)", before=True)),
        SyntheticStudent(HOG, DOUBLE, with_code(
            DOUBLE,
            # Bounded, so that without the cap it ends by itself (and says so) instead of exhausting the machine.
            f"hog = []\nfor _ in range({HOG_CHUNKS}):\n    hog.append(bytearray(256 * 1024 * 1024))\n"
            f"print('{HOG_FINISHED}')", before=True)),
        SyntheticStudent("output_flood", "", with_code(
            PREFIX, "for i in range(60_000):\n    print('x' * 100)")),
        SyntheticStudent("stray_and_fork_bomb", "", with_code(
            COLUMNS,
            "import subprocess\n"
            f"subprocess.Popen(['sleep', '{SLEEP_MARK}'], start_new_session=True)\n"
            "started = 0\n"
            "try:\n"
            "    for _ in range(200):\n"
            "        subprocess.Popen(['sleep', '30'])\n"
            "        started += 1\n"
            "except OSError as error:\n"
            "    print('process cap hit after', started)\n"
            "print('started', started)")),
        SyntheticStudent("network_probe", "", with_code(
            PREFIX,
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
            "    print('NETWORK REACHED')\n"
            "except OSError as error:\n"
            "    print('network blocked:', error)")),
        SyntheticStudent("looks_for_probe_traces", "", with_code(
            PREFIX,
            "import json, os, sys\n"
            "folder = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
            "names = [name for name in ('_s', '_t', '_c', '_f', '_m', '_z', '_b') if name in globals()]\n"
            f"print('{TRACES}', json.dumps({{'folder': sorted(os.listdir(folder)), 'names': names}}))")),
        SyntheticStudent("warns_on_stderr", "", {
            **reference,
            PREFIX: reference[PREFIX].replace(
                "    return out", "    import sys, warnings\n    warnings.warn('just a warning')\n"
                "    print('debug', file=sys.stderr)\n    return out"),
        }),
    ]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The hostile cohort, graded by the grading command: the memory hog in a run of its own (see HOG_LIMITS)."""
    server, port = _listener()
    workdir = tmp_path_factory.mktemp("contained")
    students = _students(port)
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)

    def grade(who: list[str], limits: list[str], results_file: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
             "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
             "--db", db_url(workdir), "--json", str(results_file), "--student", *who, *limits],
            cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=900,
        )

    completed = grade([s.student_id for s in students if s.student_id != HOG], LIMITS, workdir / "results.json")
    grade([HOG], HOG_LIMITS, workdir / "hog.json")
    server.close()
    results = {r["student"]: r for name in ("results.json", "hog.json")
               for r in json.loads((workdir / name).read_text())}
    return workdir, students, results, completed


def _scores(workdir, student):
    return cell_scores(db_url(workdir), ASSIGNMENT, student)


def _outputs(workdir, student, grade_id):
    nb = json.loads((workdir / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join("".join(o.get("text", "")) + o.get("ename", "") + o.get("evalue", "") for o in cell["outputs"])


@pytest.mark.xdist_group("nbgrader")
@pytest.mark.parametrize("student, lost_cell", [
    ("hang_ignores_interrupt", TEST_OF[DOUBLE]),
    ("infinite_loop", TEST_OF[COLUMNS]),
    ("kernel_exit", TEST_OF[PREFIX]),
    ("memory_hog", TEST_OF[DOUBLE]),
])
def test_failure_costs_only_the_unfinished_cell(graded, student, lost_cell):
    """Does a hang, a dead kernel or exhausted memory cost exactly the test it broke, with the others still counted?"""
    workdir, _, results, completed = graded
    scores = _scores(workdir, student)
    assert results[student]["status"] == "graded", completed.stdout[-2000:]
    assert scores[lost_cell] == 0
    assert {g: s for g, s in scores.items() if g != lost_cell and s == 0} == {}, scores


@pytest.mark.xdist_group("nbgrader")
@pytest.mark.parametrize("student, kind", [
    ("hang_ignores_interrupt", "unresponsive_cell"),
    ("infinite_loop", "cell_timeout"),
    ("kernel_exit", "kernel_died"),
    ("output_flood", "output_flood"),
    ("stray_and_fork_bomb", "stray_processes"),
])
def test_incident_is_recorded_and_summarized(graded, student, kind):
    """Is what happened recorded on the student's result and listed in the run's summary?"""
    _, _, results, completed = graded
    assert kind in {incident["kind"] for incident in results[student]["incidents"]}
    assert f"{ASSIGNMENT}/{student}: {kind}" in completed.stdout


@pytest.mark.xdist_group("nbgrader")
def test_output_flood_is_truncated_but_scored(graded):
    """Is a flood of output cut to the limit while the correct answer keeps its points?"""
    workdir, _, _, _ = graded
    assert sum(_scores(workdir, "output_flood").values()) == FULL_MARKS
    nb_text = (workdir / "autograded" / "output_flood" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert len(nb_text) < 2_000_000


@pytest.mark.xdist_group("nbgrader")
def test_no_process_survives_and_the_process_cap_holds(graded):
    """Are stray processes killed after grading, and is the number of processes capped?"""
    workdir, _, _, _ = graded
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", SLEEP_MARK]]
    assert leftovers == []
    assert "process cap hit after" in _outputs(workdir, "stray_and_fork_bomb", COLUMNS)
    assert sum(_scores(workdir, "stray_and_fork_bomb").values()) == FULL_MARKS


@pytest.mark.xdist_group("nbgrader")
def test_the_probe_install_leaves_nothing_for_student_code(graded):
    """Is the probe's code file gone from the kernel's folder, and are the install cell's names gone from the
    notebook's namespace, before the first student cell runs?"""
    workdir, _, _, _ = graded
    printed = _outputs(workdir, "looks_for_probe_traces", PREFIX)
    assert TRACES in printed, printed
    seen = json.loads(printed.split(TRACES, 1)[1].strip().splitlines()[0])
    assert "connection.json" in seen["folder"], seen  # the kernel's own folder, where the grader put the code
    assert not [name for name in seen["folder"] if name.startswith("p")], seen
    assert seen["names"] == [], seen
    assert sum(_scores(workdir, "looks_for_probe_traces").values()) == FULL_MARKS


@pytest.mark.xdist_group("nbgrader")
def test_network_is_unreachable(graded):
    """Can a submission not reach a server listening on this machine's loopback?"""
    workdir, _, _, _ = graded
    text = _outputs(workdir, "network_probe", PREFIX)
    assert "network blocked" in text and "NETWORK REACHED" not in text


@pytest.mark.xdist_group("nbgrader")
def test_warnings_on_stderr_do_not_fail_a_correct_cell(graded):
    """Does a correct answer that prints warnings to stderr keep all its points?"""
    workdir, _, _, _ = graded
    assert sum(_scores(workdir, "warns_on_stderr").values()) == FULL_MARKS


@pytest.mark.xdist_group("nbgrader")
def test_plain_nbgrader_autograde_gets_the_same_containment(graded, tmp_path):
    """Does plain `nbgrader autograde` (same config) also survive a hang that ignores KeyboardInterrupt?"""
    _, students, _, _ = graded
    hang = [s for s in students if s.student_id == "hang_ignores_interrupt"]
    write_cohort(ASSIGNMENT, hang, tmp_path / "submitted")
    register_assignment(ASSIGNMENT, tmp_path)
    completed = autograde_stock(ASSIGNMENT, tmp_path, "--ContainedExecute.timeout=6")
    scores = _scores(tmp_path, "hang_ignores_interrupt")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert scores[TEST_OF[DOUBLE]] == 0
    assert sum(scores.values()) == FULL_MARKS - 1


@pytest.mark.xdist_group("nbgrader")
def test_memory_cap_stops_the_hog_with_a_memory_error(graded):
    """Is the memory hog stopped by the memory cap (MemoryError or the kernel killed), not by a timeout?"""
    workdir, _, results, _ = graded
    text = _outputs(workdir, "memory_hog", DOUBLE)
    assert HOG_FINISHED not in text, "the hog allocated 5 GiB: no memory cap held"
    assert "MemoryError" in text or "커널이 죽었어요" in text, text[-500:]
    kinds = {incident["kind"] for incident in results["memory_hog"]["incidents"]}
    assert not kinds & {"cell_timeout", "unresponsive_cell", "notebook_timeout"}, kinds
