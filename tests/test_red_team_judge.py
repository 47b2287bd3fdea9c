"""Red team for the judge's protocol of gradients and objects (issue 13), on assignment 01_autograd.

Every attack first proves it takes effect where its defence is off, in one of two control runs:

- *stock*: stock nbgrader with none of this course's configuration (the hidden check runs inside the kernel);
- *engine*: plain ``nbgrader autograde`` with the course's configuration, from a scratch copy of the working tree
  with the judge's defences switched off (``tests/mutants.py``: ``JUDGE_CONTROL``): attacks on the channel and on
  what the kernel reports, which stock nbgrader (no channel at all) cannot show.

Then the defended runs (the grading command, and plain ``nbgrader autograde`` with the course's configuration) must
give the attacked cell 0 points and flag the submission, while innocent look-alikes keep full marks with no flag,
and a call that hangs inside a batch fails within the cell's time limit. The attacks on handles (another student's
kernel, an id the grader never drew) are shown on the protocol itself, in-process, with a control that shares one
registry of objects between students.

The attacks, the look-alikes and the runs are in ``tests/autograd_cohort.py``; the runs are shared with
``tests/test_autograd_grading.py``.
"""

from __future__ import annotations

import pytest
import torch
from autograd_cohort import (
    ASSIGNMENT,
    ATTACKS,
    CONTROLLED,
    INNOCENT,
    LIMITS,
    MARKER,
    MSE,
    TEST_OF,
    XDIST_GROUP,
    Run,
    control_run,
    defended_run,
    innocent_cells,
)

from autograder.course import release_notebook
from autograder.engine.incidents import FLAG_KINDS
from autograder.engine.judge import LocalStudent, StudentFunction
from autograder.tools.in_process import points_by_test_cell, read_notebook


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def defended(request, tmp_path_factory) -> Run:
    """Every attacker, innocent look-alike and neighbour, graded with every defence on (shared run)."""
    return defended_run(request.param, tmp_path_factory)


def _full() -> dict[str, float]:
    return points_by_test_cell(read_notebook(release_notebook(ASSIGNMENT)))


# ------------------------------------------------------------------------------------------------ controls

@pytest.mark.xdist_group(XDIST_GROUP)
@pytest.mark.parametrize("control, name", CONTROLLED, ids=[f"{c}-{n}" for c, n in CONTROLLED])
def test_attack_takes_effect_when_its_defence_is_off(request, control, name):
    """Where its defence is off, does the attack buy points on its target cell (or show its lie working)?"""
    run = control_run(control, request.getfixturevalue("tmp_path_factory"))
    attack = ATTACKS[name]
    outcome = run.outcomes[attack.student]
    assert outcome.graded, f"{outcome.status}\n{run.log[-3000:]}"
    if attack.evidence == "buys":
        assert outcome.scores[TEST_OF[attack.target]] > 0, (outcome.scores, run.incidents[attack.student])
    else:
        lines = [line for line in outcome.markers if line.startswith(f"{MARKER} {name}:")]
        assert lines and all(line.endswith(attack.evidence) for line in lines), outcome.markers


# ------------------------------------------------------------------------------------------------ defended

@pytest.mark.xdist_group(XDIST_GROUP)
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_buys_nothing_and_is_flagged(defended, name):
    """Is the attacker graded, with 0 points on the attacked cell (and everywhere), and flagged for review?"""
    attack = ATTACKS[name]
    outcome = defended.outcomes[attack.student]
    assert outcome.graded, f"{outcome.status}\n{defended.log[-3000:]}"
    assert outcome.scores[TEST_OF[attack.target]] == 0, (outcome.scores, defended.incidents[attack.student])
    assert sum(outcome.scores.values()) == 0, outcome.scores
    assert outcome.flags, f"{name} raised no flag ({defended.mode}): {defended.incidents[attack.student]}"
    if attack.stopped_by:  # stopped by its own defence, not only by a later one (each is switched off by a mutant)
        assert any(attack.stopped_by in incident.get("detail", "") and incident["kind"] in FLAG_KINDS
                   for incident in defended.incidents[attack.student]), defended.incidents[attack.student]


@pytest.mark.xdist_group(XDIST_GROUP)
@pytest.mark.parametrize("innocent", sorted(innocent_cells()))
def test_innocent_look_alike_keeps_full_marks_without_flag(defended, innocent):
    """Does a correct student who merely looks odd keep full marks on those cells and raise no flag?"""
    outcome = defended.outcomes[INNOCENT]
    assert outcome.graded, f"{outcome.status}\n{defended.log[-3000:]}"
    cells = [TEST_OF[cell] for cell in innocent_cells()[innocent]]
    assert {g: outcome.scores[g] for g in cells} == {g: _full()[g] for g in cells}, defended.incidents[INNOCENT]
    assert not [i for i in defended.incidents[INNOCENT] if i["kind"] in FLAG_KINDS and i.get("cell") in cells], (
        defended.incidents[INNOCENT])


@pytest.mark.xdist_group(XDIST_GROUP)
def test_innocent_look_alikes_together_keep_every_point_and_no_flag(defended):
    """Does the student holding every look-alike at once keep every point, with no flag on the submission?"""
    outcome = defended.outcomes[INNOCENT]
    assert outcome.scores == _full() and outcome.flags == set(), (outcome, defended.incidents[INNOCENT])


@pytest.mark.xdist_group(XDIST_GROUP)
def test_neighbours_keep_their_exact_scores(defended):
    """Do the honest reference and the wrong baseline, graded among the attackers, get exactly their usual points?"""
    reference, baseline = defended.outcomes["reference"], defended.outcomes["blank"]
    full = _full()
    assert reference.scores == full and reference.flags == set(), (reference, defended.incidents["reference"])
    assert baseline.scores == dict.fromkeys(full, 0.0) and baseline.flags == set(), baseline


@pytest.mark.xdist_group(XDIST_GROUP)
def test_call_hanging_inside_a_batch_fails_its_cell_only(defended):
    """Does a call that hangs inside a batched check fail that cell within its time limit, the others still count?"""
    outcome = defended.outcomes["hang_in_batch"]
    assert outcome.graded, f"{outcome.status}\n{defended.log[-3000:]}"
    full = _full()
    assert outcome.scores == {**full, TEST_OF[MSE]: 0.0}, outcome.scores
    failed = [i for i in defended.incidents["hang_in_batch"] if i["kind"] == "probe_failed"]
    assert failed and failed[0]["cell"] == TEST_OF[MSE], defended.incidents["hang_in_batch"]
    if defended.mode == "command":
        timeout = int(LIMITS[0].split("=")[1])
        assert defended.seconds["hang_in_batch"] < timeout + 5 + 30, defended.seconds["hang_in_batch"]


# ------------------------------------------------------------------------------------------------ handles

class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def bump(self) -> int:
        self.count += 1
        return self.count


def _two_students(shared: dict | None = None) -> tuple[StudentFunction, StudentFunction, LocalStudent, LocalStudent]:
    first, second = LocalStudent({"Counter": _Counter}), LocalStudent({"Counter": _Counter})
    if shared is not None:  # the control: one registry of kept objects for every student, as a naive judge would
        first.objects = second.objects = shared
    return (StudentFunction("Counter", first.send, []), StudentFunction("Counter", second.send, []), first, second)


def test_handle_of_another_student_is_refused_and_flagged():
    """Does a kept object of one student's kernel, used on another student's channel, get refused and flagged?"""
    first, second, _, _ = _two_students()
    theirs = first.new()
    with pytest.raises(AssertionError):
        second.batch([second.call_request(theirs)])
    request = {"op": "call", "handle": theirs.handle_id, "method": "bump"}
    reply = second._read_reply  # the kernel side refuses too, whatever the grader side did
    with pytest.raises(AssertionError, match="처리하지 못했어요"):
        reply(LocalStudent({"Counter": _Counter}).send_batch([request])[0], "call")
    assert any("refused" in flag for flag in second.flags), second.flags


def test_handle_of_another_student_reaches_their_object_without_scoping():
    """(Control) With one registry shared by all students, does another student's id reach that student's object?"""
    first, second, first_local, second_local = _two_students(shared={})
    theirs = first.new()
    reply = second_local.send_batch([{"op": "call", "handle": theirs.handle_id, "method": "bump"}])[0]
    assert "refused" not in reply and reply["result"] == {"t": "int", "v": "1"}, reply


def test_forged_handle_is_refused_and_flagged():
    """Is a handle id the grader never drew (a guessed or forged one) refused by the kernel and flagged?"""
    counter = StudentFunction("Counter", LocalStudent({"Counter": _Counter}).send, [])
    counter.new()
    forged = {"op": "call", "handle": "h" + "0" * 32, "method": "bump"}
    with pytest.raises(AssertionError, match="처리하지 못했어요"):
        counter._read_reply(LocalStudent({"Counter": _Counter}).send_batch([forged])[0], "call")
    assert counter.flags and "unknown handle" in counter.flags[-1]


def test_reply_naming_a_handle_is_never_trusted():
    """Does a reply that names a handle or a trusted function (only requests may) fail the check?"""
    from autograder.engine.judge import _read

    for forged in ({"t": "handle", "id": "h" + "1" * 32}, {"t": "fn", "name": "cubic"}):
        with pytest.raises(AssertionError, match="handle, fn"):
            _read(forged)


def test_innocent_kept_object_is_not_flagged():
    """Does an ordinary object of the student's class, with a property and __eq__, keep no flag and read cleanly?"""

    class Plain:
        def __init__(self) -> None:
            self.w = torch.ones(2, requires_grad=True)

        @property
        def size(self) -> int:
            return 2

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Plain)

    Plain.__module__ = "__main__"
    flags: list[str] = []
    kept = StudentFunction("Plain", LocalStudent({"Plain": Plain}).send, flags).new()
    state = kept.get("w", "size")
    assert torch.equal(state["w"].value, torch.ones(2)) and state["size"].missing and flags == []
