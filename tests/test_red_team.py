"""Red team: every attack takes effect where its defence is off, and buys nothing where grading is defended.

See ``tests/redteam.py`` for the attacks, their targets and how outcomes are read. Three runs:

- *control*: stock nbgrader, none of this course's configuration (hidden checks in the kernel, nothing contained);
- *command*: ``python -m autograder.engine.grade``;
- *plain_nbgrader*: plain ``nbgrader autograde`` with the course's ``nbgrader_config.py``.

All three grade the engine's fixture course (tests/fixture_course), selected for the module and its processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import fixture_course
import pytest
import redteam

from autograder.engine import grade
from autograder.tools.bench import stock_course
from autograder.tools.cohort import write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.in_process import read_notebook, release_stubs
from autograder.tools.release import generate, nbgrader_env

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ROOT = redteam.COURSE.root
ASSIGNMENT = redteam.ASSIGNMENT
LIMITS = ["ContainedExecute.timeout=15", "ContainedExecute.notebook_timeout=90"]
_ATTACKS = redteam.attacks(redteam.Targets(1, 1, Path("/nonexistent"), Path("/x")))
ATTACK_NAMES = sorted(a.name for a in _ATTACKS)
CONTROLLED = sorted(a.name for a in _ATTACKS if a.control != "measured")
INNOCENTS = sorted(redteam.innocent_code())


def _stubs() -> dict[str, str]:
    return release_stubs(read_notebook(fixture_course.release_notebook()))


def _target_state(run: redteam.RunTargets) -> dict[str, bool]:
    """Whether each reaching attack's real target shows it was reached."""
    return {
        "write_gradebook": run.decoy_grew(),
        "network_to_listener": any(redteam.MARKER.encode() in data for data in run.listener.received),
        "kill_root_process": not run.victim_alive(),
    }


def _outcomes(workdir: Path, students: list[str], results: dict | None, log: str) -> dict[str, redteam.Outcome]:
    return {student: redteam.read_outcome(workdir, db_url(workdir), student, results=results,
                                          flag_kinds=grade.FLAG_KINDS, log=log) for student in students}


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    """The attackers graded by stock nbgrader with none of the course's configuration: every defence is off."""
    workdir = tmp_path_factory.mktemp("red_team_control")
    run = redteam.make_targets()
    try:
        students = redteam.cohort(run.targets, _stubs(), with_innocents=False)
        write_cohort(ASSIGNMENT, students, workdir / "submitted")
        root = stock_course(workdir / "stock_course")
        with tempfile.TemporaryDirectory() as scratch:
            generate(ASSIGNMENT, Path(scratch), root, db_url=db_url(workdir))
        completed = autograde_stock(ASSIGNMENT, workdir, "--Execute.timeout=20", root=root)
        outcomes = _outcomes(workdir, [s.student_id for s in students], None, completed.stdout + completed.stderr)
        return outcomes, _target_state(run), completed
    finally:
        run.close()


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def graded(request, tmp_path_factory):
    """The whole red-team cohort graded with every defence on, by the command or by plain `nbgrader autograde`."""
    workdir = tmp_path_factory.mktemp(f"red_team_{request.param}")
    run = redteam.make_targets()
    try:
        students = redteam.cohort(run.targets, _stubs())
        write_cohort(ASSIGNMENT, students, workdir / "submitted")
        register_assignment(ASSIGNMENT, workdir)
        results = None
        if request.param == "command":
            results_file = workdir / "results.json"
            completed = subprocess.run(
                [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
                 "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
                 "--db", db_url(workdir), "--json", str(results_file),
                 *[arg for limit in LIMITS for arg in ("--set", limit)]],
                cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=1200,
            )
            if results_file.exists():
                results = {r["student"]: r for r in json.loads(results_file.read_text())}
            else:
                results = {}
        else:
            completed = autograde_stock(ASSIGNMENT, workdir, *[f"--{limit}" for limit in LIMITS])
        outcomes = _outcomes(workdir, [s.student_id for s in students], results, completed.stdout + completed.stderr)
        return request.param, outcomes, _target_state(run), completed
    finally:
        run.close()


def _attack(name: str) -> redteam.Attack:
    return next(a for a in _ATTACKS if a.name == name)


# ------------------------------------------------------------------------------------------------ control

@pytest.mark.xdist_group("red_team")
def test_wrong_answers_score_zero_without_any_attack(control):
    """Do the attackers' notebooks, without their attacks, earn nothing even in the control (so any point is bought)?"""
    outcomes, _, completed = control
    baseline = outcomes["wrong_baseline"]
    assert baseline.graded, baseline.status
    assert sum(baseline.scores.values()) == 0, baseline.scores


@pytest.mark.xdist_group("red_team")
@pytest.mark.parametrize("name", CONTROLLED)
def test_attack_takes_effect_when_its_defence_is_off(control, name):
    """In the control run (nothing defended), does this attack do what it set out to do?"""
    outcomes, state, completed = control
    attack = _attack(name)
    outcome = outcomes[attack.student]
    if attack.control == "buys":
        assert outcome.graded, outcome.status
        assert outcome.scores[redteam.TEST_OF[attack.target]] > 0, (outcome.scores, outcome.markers)
    elif attack.control == "reaches":
        assert f"{redteam.MARKER} {name}: reached" in outcome.markers, (outcome.status, outcome.markers)
        assert state.get(name, True), f"{name} printed 'reached' but its target is untouched"
    elif attack.control == "denies":
        assert not outcome.graded, outcome
    else:
        lines = [line for line in outcome.markers if line.startswith(f"{redteam.MARKER} {name}:")]
        assert lines and all(attack.evidence in line for line in lines), outcome


# ------------------------------------------------------------------------------------------------ defended

@pytest.mark.xdist_group("red_team")
def test_wrong_baseline_is_graded_and_scores_zero(graded):
    """Is the attackers' shared baseline graded, with 0 points and no flag?"""
    _, outcomes, _, completed = graded
    baseline = outcomes["wrong_baseline"]
    assert baseline.graded, f"{baseline.status}\n{completed.stdout[-2000:]}"
    assert sum(baseline.scores.values()) == 0 and baseline.flags == set(), baseline


@pytest.mark.xdist_group("red_team")
@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_buys_nothing_and_is_flagged(graded, name):
    """Is the attacker graded (not crashed), with 0 points, flagged, and its target untouched?"""
    mode, outcomes, state, completed = graded
    attack = _attack(name)
    outcome = outcomes[attack.student]
    assert outcome.graded, f"{outcome.status}\n{completed.stdout[-2000:]}"
    assert sum(outcome.scores.values()) == 0, outcome.scores
    if attack.flagged:
        assert outcome.flags, f"{name} raised no flag ({mode})"
    if attack.control == "reaches":
        assert any(line.startswith(f"{redteam.MARKER} {name}: blocked") for line in outcome.markers), outcome.markers
        assert not state.get(name, False), f"{name} reached its target ({mode})"


@pytest.mark.xdist_group("red_team")
@pytest.mark.parametrize("innocent", INNOCENTS)
def test_innocent_look_alike_keeps_full_marks_without_flag(graded, innocent):
    """Does a correct student who merely looks odd get graded, keep full marks and raise no flag?"""
    _, outcomes, _, completed = graded
    outcome = outcomes[f"innocent_{innocent}"]
    assert outcome.graded, f"{outcome.status}\n{completed.stdout[-2000:]}"
    assert sum(outcome.scores.values()) == redteam.FULL_MARKS, outcome.scores
    assert outcome.flags == set()


@pytest.mark.xdist_group("red_team")
def test_tampering_zeroes_every_later_test_and_keeps_earlier_ones(graded):
    """Does a correct notebook that tampers halfway keep the tests judged before and lose every test after, even
    when it undoes the tampering before the next test?"""
    mode, outcomes, _, completed = graded
    outcome = outcomes["tamper_midway"]
    assert outcome.graded, outcome.status
    assert "tampering" in outcome.flags
    source_order = list(redteam.TEST_OF.values())
    before = {redteam.TEST_OF[redteam.FIRST]}
    assert {g: s for g, s in outcome.scores.items() if g in before and s == 0} == {}, outcome.scores
    after = {g: s for g, s in outcome.scores.items() if g not in before}
    assert after and all(score == 0 for score in after.values()), (mode, outcome.scores, source_order)


@pytest.mark.xdist_group("red_team")
def test_flags_are_listed_in_the_run_summary(graded):
    """Does the grading command's summary list every flagged attacker and no innocent?"""
    mode, outcomes, _, completed = graded
    if mode != "command":
        pytest.skip("plain nbgrader prints no summary; its flags are in <notebook>.grading.json")
    flag_lines = "\n".join(line for line in completed.stdout.splitlines() if line.lstrip().startswith("FLAG"))
    for name in ATTACK_NAMES:
        if _attack(name).flagged:
            assert f"/attack_{name}: " in flag_lines, name
    assert "innocent_" not in flag_lines


# ------------------------------------------------------------------------------------------------ the grader's memory

_PEAK = "grader peak MiB:"
MEMORY_MARGIN_MIB = 500


def _grade_and_measure(workdir: Path, students: list) -> tuple[int, subprocess.CompletedProcess]:
    """Grade ``students`` with the command in one process and return its own peak resident memory in MiB."""
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    program = ("import resource, sys\nfrom autograder.engine.grade import main\nstatus = main(sys.argv[1:])\n"
               f"print({_PEAK!r}, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\nsys.exit(status)")
    completed = subprocess.run(
        [sys.executable, "-c", program, ASSIGNMENT, "--root", str(ROOT), "--no-progress", "--workers", "1",
         "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
         "--db", db_url(workdir), "--json", str(workdir / "results.json"),
         *[arg for limit in LIMITS for arg in ("--set", limit)]],
        cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=900,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(_PEAK)]
    assert lines, completed.stdout[-2000:] + completed.stderr[-2000:]
    return int(lines[-1].split(":")[1]), completed


@pytest.mark.xdist_group("red_team")
def test_grader_memory_stays_flat_under_a_flood(tmp_path):
    """Does a student who publishes 3 GiB of output while judged leave the grader's memory within 500 MiB of honest?"""
    from autograder.tools.cohort import SyntheticStudent, reference_solutions

    flood = _attack("flood_the_grader_while_judged")
    stubs = _stubs()
    honest_peak, _ = _grade_and_measure(tmp_path / "honest", [
        SyntheticStudent("honest", "reference", reference_solutions(ASSIGNMENT))])
    hostile_peak, completed = _grade_and_measure(tmp_path / "hostile", [
        SyntheticStudent(flood.student, flood.name, flood.replacements(stubs))])
    results = {r["student"]: r for r in json.loads((tmp_path / "hostile" / "results.json").read_text())}
    assert results[flood.student]["status"] == "graded", completed.stdout[-2000:]
    assert hostile_peak - honest_peak <= MEMORY_MARGIN_MIB, (honest_peak, hostile_peak)
