"""Naming the misconception (autograder/diagnosis.py), proved in-process: every banked mistake is recognised as
itself (or a listed twin), no correct answer ever behaves like one, two mistakes get two hints, and nothing a
student writes steers the diagnosis. The same code runs in grading; test_grading_day.py and test_reports.py show a
sample through real kernels, in the feedback and in the reports."""

from __future__ import annotations

import contextlib
import json
import re
import threading

import pytest
import torch

from autograder.course import published_assignments, source_notebook
from autograder.diagnosis import Recorder, diagnose, explain, mistake_namespace, same_reply
from autograder.engine import probe
from autograder.engine.judge import LocalStudent, StudentFunction, directives, verdict
from autograder.mistakes import Alternative, mistakes_for
from autograder.tools.in_process import grade_in_process, nbgrader_meta, read_notebook, with_solutions
from autograder.tools.korean_text import problems

MISTAKES = [(a, m) for a in published_assignments() for m in mistakes_for(a)]
HANGUL = re.compile(r"[가-힣]")


def _test_cells(assignment: str) -> dict[str, str]:
    """Source of every test cell with a judge call, by grade_id."""
    nb = read_notebook(source_notebook(assignment))
    return {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells
            if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution") and directives(c.source)}


def _observe(namespace: dict, source: str) -> tuple[str | None, list]:
    """Run a cell's hidden checks on ``namespace`` as grading does; the failure and the recorded observations."""
    recorder = Recorder(LocalStudent(namespace).send)
    return verdict(source, recorder.send), recorder.observations


def _solution_source_lines(assignment: str) -> set[str]:
    """Lines of code of the reference solutions (what a hint must never give away)."""
    nb = read_notebook(source_notebook(assignment))
    lines = set()
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            inside = False
            for line in cell.source.splitlines():
                if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                    inside = "BEGIN" in line
                elif inside and len(line.strip()) > 8 and not line.strip().startswith("#"):
                    lines.add(line.strip())
    return lines


# ------------------------------------------------------------------------------------------------ the bank's hints

@pytest.mark.parametrize("assignment, mistake", MISTAKES, ids=[f"{a}-{m.name}" for a, m in MISTAKES])
def test_mistake_has_a_korean_label_and_hint_that_read_well(assignment, mistake):
    """Does every banked mistake carry a short Korean label and a one-or-two-sentence Korean hint that pass the lint?"""
    assert mistake.label and HANGUL.search(mistake.label) and len(mistake.label) <= 40, mistake.label
    assert mistake.hint and HANGUL.search(mistake.hint) and 30 <= len(mistake.hint) <= 220, mistake.hint
    assert mistake.hint.rstrip().endswith(("요.", "요")), mistake.hint
    assert problems(mistake.label) == [] and problems(mistake.hint) == []


@pytest.mark.parametrize("assignment", published_assignments())
def test_hints_never_give_away_the_solution_or_hidden_tests(assignment):
    """Does no hint or label quote a line of the reference solution, or anything of the hidden checks' source?"""
    solution = _solution_source_lines(assignment)
    hidden = (source_notebook(assignment).parents[2] / "autograder" / "hidden").glob("*.py")
    hidden_lines = {line.strip() for path in hidden for line in path.read_text(encoding="utf-8").splitlines()
                    if len(line.strip()) > 25}
    for mistake in mistakes_for(assignment):
        for text in (mistake.label, mistake.hint):
            assert not [line for line in solution if line in text], (mistake.name, text)
            assert "def " not in text and "return " not in text, (mistake.name, text)
            assert not [line for line in hidden_lines if line in text], (mistake.name, text)


@pytest.mark.parametrize("assignment", published_assignments())
def test_twins_are_listed_both_ways_and_aim_at_the_same_cell(assignment):
    """Does every twin name a mistake of the bank aimed at the same cell, which lists it back?"""
    bank = {m.name: m for m in mistakes_for(assignment)}
    for mistake in bank.values():
        for twin in mistake.twins:
            assert twin in bank and twin != mistake.name, (mistake.name, twin)
            assert set(bank[twin].loses_on) & set(mistake.loses_on), (mistake.name, twin)
            assert mistake.name in bank[twin].twins, (mistake.name, twin)


def test_explanation_of_one_and_of_several_reads_well():
    """Does the block a failure gains name one mistake with its hint, or several as alternatives, in good Korean?"""
    bank = mistakes_for(published_assignments()[0])
    one, several = explain(bank[:1]), explain(bank[:3])
    assert bank[0].label in one and bank[0].hint in one and "하나" in one
    assert all(m.label in several and m.hint in several for m in bank[:3]) and "3가지" in several
    assert problems(one) == [] and problems(several) == [] and explain([]) == ""


# ------------------------------------------------------------------------------------------------ recognised

@pytest.mark.parametrize("assignment, mistake", MISTAKES, ids=[f"{a}-{m.name}" for a, m in MISTAKES])
def test_mistake_alone_is_diagnosed_as_itself(assignment, mistake):
    """Graded as grading does, is a notebook holding only this mistake diagnosed as it (or its listed twins), with
    its hint in the failure message, on every cell it aims at?"""
    grade = grade_in_process(with_solutions(read_notebook(source_notebook(assignment)), mistake.replaces))
    for grade_id in mistake.loses_on:
        cell = grade.cells[grade_id]
        assert mistake.name in cell.diagnosed, (grade_id, cell.diagnosed, cell.error)
        assert set(cell.diagnosed) <= {mistake.name, *mistake.twins}, (grade_id, cell.diagnosed)
        assert mistake.hint in cell.error and cell.error.index(mistake.hint) > cell.error.index("진단:")
        assert problems(cell.error.removeprefix("AssertionError: ")) == [], cell.error
    assert all(not cell.diagnosed for grade_id, cell in grade.cells.items() if grade_id not in mistake.loses_on)


@pytest.mark.parametrize("assignment", published_assignments())
def test_no_correct_answer_behaves_like_a_banked_mistake(assignment):
    """Even asked on a passing cell, does no mistake match the reference or any alternative on the check's inputs?"""
    from autograder.mistakes import alternatives_for

    answers = [Alternative("reference", {}), *alternatives_for(assignment)]
    cells = _test_cells(assignment)
    for answer in answers:
        namespace = mistake_namespace(assignment, answer)
        assert namespace is not None, answer.name
        for grade_id, source in cells.items():
            failure, observations = _observe(namespace, source)
            assert failure is None, (answer.name, grade_id, failure)
            assert diagnose(source, grade_id, observations).names == [], (answer.name, grade_id)


@pytest.mark.parametrize("assignment", published_assignments())
def test_two_mistakes_get_both_hints_on_their_two_cells(assignment):
    """Does a student with two mistakes on different cells get each mistake's hint on its own cell, and only there?"""
    bank = [m for m in mistakes_for(assignment) if not m.twins]
    first = bank[0]
    second = next(m for m in bank if not set(m.replaces) & set(first.replaces)
                  and not set(m.loses_on) & set(first.loses_on))
    grade = grade_in_process(with_solutions(read_notebook(source_notebook(assignment)),
                                            {**first.replaces, **second.replaces}))
    for mistake, other in ((first, second), (second, first)):
        (grade_id,) = mistake.loses_on
        assert grade.cells[grade_id].diagnosed == [mistake.name]
        assert mistake.hint in grade.cells[grade_id].error and other.hint not in grade.cells[grade_id].error
    assert sorted(g for g, c in grade.cells.items() if c.diagnosed) == sorted(first.loses_on + second.loses_on)


# ------------------------------------------------------------------------------------------------ not steerable

ASSIGNMENT = "00_tensors"
ROWS_CELL = "row_proportions_divides_by_row_sums"


def _student(source: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    exec("import torch\nimport numpy as np\n" + source, namespace)  # noqa: S102 - a synthetic student
    return namespace


def test_a_student_who_names_a_mistake_is_not_diagnosed_as_it():
    """Does an answer that raises, prints or returns a banked hint's text still match no mistake?"""
    hint = next(m for m in mistakes_for(ASSIGNMENT) if m.name == "rows_column_sums").hint
    source = _test_cells(ASSIGNMENT)[ROWS_CELL]
    for body in (f"raise AssertionError({hint!r})", f"print({hint!r})\n    return x", f"return {hint!r}",
                 "return {'t': 'tensor', 'class': 'torch.Tensor'}"):
        namespace = _student(f"def row_proportions(x):\n    {body}\n")
        failure, observations = _observe(namespace, source)
        assert failure is not None
        assert diagnose(source, ROWS_CELL, observations).names == [], body


def test_behaving_like_a_mistake_on_some_inputs_only_is_not_enough():
    """Does a mistake match only when every reply agrees, not when the answer copies it on some inputs?"""
    source = _test_cells(ASSIGNMENT)[ROWS_CELL]
    namespace = _student(
        "calls = [0]\n"
        "def row_proportions(x):\n"
        "    calls[0] += 1\n"
        "    return x / x.sum(dim=0, keepdim=True) if calls[0] == 1 else x / x.sum()\n")
    failure, observations = _observe(namespace, source)
    # The check's calls travel as one batch: every input is observed, also those after the first that fails. The
    # answer divides by the column sums on the first input only, then by the global sum: like neither on every one.
    assert failure is not None and len(observations) == 5
    assert "열 방향으로" in failure  # the message is still the first failing input's (a column-sum division)
    assert diagnose(source, ROWS_CELL, observations).names == []
    assert diagnose(source, ROWS_CELL, observations[:1]).names == ["rows_column_sums"]
    namespace["calls"][0] = 5  # from now on it divides by the global sum
    assert diagnose(source, ROWS_CELL, _observe(namespace, source)[1]).names == ["rows_global_sum"]
    # A mistake that passes some inputs first: one earlier reply that differs is enough to match nothing.
    float_cast = next(m for m in mistakes_for(ASSIGNMENT) if m.name == "rows_float_cast")
    failure, observations = _observe(mistake_namespace(ASSIGNMENT, float_cast), source)
    assert failure is not None and len(observations) > 2
    assert diagnose(source, ROWS_CELL, observations).names == ["rows_float_cast"]
    changed = [observations[0], (observations[1][0], observations[0][1]), *observations[2:]]
    assert diagnose(source, ROWS_CELL, changed).names == []


def test_replay_sends_the_bank_only_the_graders_own_requests():
    """Are the requests replayed on the bank exactly those the grader built (a reply cannot add or change one)?"""
    source = _test_cells(ASSIGNMENT)[ROWS_CELL]
    namespace = _student("def row_proportions(x):\n    return x / x.sum(dim=0, keepdim=True)\n")
    sent: list[dict] = []

    def channel(request: dict) -> dict:
        sent.append(json.loads(json.dumps(request)))
        reply = LocalStudent(namespace).send(request)
        reply["requests"] = [{"function": "row_proportions", "args": []}]  # a reply that tries to smuggle a request
        return reply

    recorder = Recorder(channel)
    assert verdict(source, recorder.send) is not None
    assert [request for request, _ in recorder.observations] == sent
    assert all(isinstance(request["seed"], int) for request in sent)
    assert diagnose(source, ROWS_CELL, recorder.observations).names == []  # the extra key is a different reply


def test_recorded_calls_get_their_own_seeds_that_replay_exactly():
    """Does every plain call of a cell carry its own seed, the same for every student at the same place, and does the
    probe start a call's global random state from it?"""
    recorder = Recorder(LocalStudent(_student("def draw(n):\n    return torch.rand(n)\n")).send)
    first = recorder.send({"function": "draw", "args": [probe.encode(3)]})
    second = recorder.send({"function": "draw", "args": [probe.encode(3)]})
    (request_1, _), (request_2, _) = recorder.observations
    assert request_1["seed"] != request_2["seed"] and not same_reply(first, second)
    again = json.loads(probe.handle(_student("def draw(n):\n    return torch.rand(n)\n"), json.dumps(request_1)))
    assert same_reply(first, again)
    other = Recorder(LocalStudent(_student("def draw(n):\n    return torch.zeros(n)\n")).send)
    other.send({"function": "draw", "args": [probe.encode(3)]})
    assert other.observations[0][0] == request_1


@pytest.mark.parametrize("op", ["call", "grad"])
def test_seeded_call_and_grad_requests_replay_from_their_seed(op):
    """Do the judge's call and grad requests (as checks of objects and gradients send them) also start the global random
    state from the request's seed, so that a replayed mistake that draws random numbers answers as in the kernel?"""
    namespace = _student("def noisy(x):\n    return x * torch.rand(x.shape, dtype=x.dtype)\n")
    request = {"op": op, "function": "noisy", "args": [probe.encode(torch.ones(3, dtype=torch.float64))]}
    if op == "grad":
        request.update({"requires_grad": [0], "grad_outputs": [probe.encode(torch.ones(3, dtype=torch.float64))]})

    def reply(seed: int) -> dict:
        probe.handle(namespace, json.dumps({"function": "noisy", "args": request["args"]}))  # moves the call counter
        return json.loads(probe.handle(namespace, json.dumps({**request, "seed": seed})))

    assert "error" not in reply(7) and same_reply(reply(7), reply(7))
    assert not same_reply(reply(7), reply(8))


def test_replies_compare_floats_within_tolerance_and_ignore_addresses():
    """Do replies count as the same across a last-bit difference or an object address, but not across a dtype?"""
    import torch

    a = probe.encode(torch.tensor([0.1, 0.2], dtype=torch.float32))
    b = probe.encode(torch.tensor([0.1, 0.2], dtype=torch.float32).nextafter(torch.tensor(1.0)))
    c = probe.encode(torch.tensor([0.1, 0.2], dtype=torch.float64))
    assert same_reply({"result": a}, {"result": b}) and not same_reply({"result": a}, {"result": c})
    assert same_reply({"error": {"message": "<f at 0x7f00aa>"}}, {"error": {"message": "<f at 0x7f11bb>"}})
    assert not same_reply({"result": a}, {"result": a, "extra": 1})


def test_kept_objects_are_replayed_in_order_in_a_registry_of_their_own():
    """Does a check that keeps an object (LineFit: make it, step, read w, step, ...) replay on the bank's object with
    the same handle, each reply about it computed afresh after the requests before it, in a registry that is the
    replay's alone (the probe's own registry is left as it was)?"""
    assignment, cell = "01_autograd", "line_fit_steps_with_fresh_gradients"
    source = _test_cells(assignment)[cell]
    mistake = next(m for m in mistakes_for(assignment) if m.name == "line_fit_never_zeroes_grad")
    failure, observations = _observe(mistake_namespace(assignment, mistake), source)
    assert failure is not None and observations[0][0]["op"] == "new"
    gets = [index for index, (request, _) in enumerate(observations) if request.get("op") == "get"]
    assert len(gets) >= 3 and len({json.dumps(observations[i][0], sort_keys=True) for i in gets}) == 1
    kept_before = dict(probe._OBJECTS)
    for _ in range(2):  # the second time, the plain calls come from the cache; replies about the object never do
        assert diagnose(source, cell, observations).names == [mistake.name]
    assert probe._OBJECTS == kept_before
    # The same read of w, asked after different steps, has different replies: one out of place matches nothing.
    first, later = gets[0], gets[-1]
    swapped = list(observations)
    swapped[later] = (observations[later][0], observations[first][1])
    assert diagnose(source, cell, swapped).names == []
    # Requests about an object the replay never made (its "new" left out) are refused there: nothing matches.
    assert diagnose(source, cell, observations[1:]).names == []


def test_recording_keeps_a_checks_batch_one_round_trip():
    """Does a check's batch still travel as one request (one round trip) when diagnosis records it, seeded per call?"""
    student = LocalStudent({"double": lambda x: x * 2})
    round_trips: list[int] = []

    class Channel:  # the kernel's channel: counts round trips
        def send(self, request: dict) -> dict:
            round_trips.append(1)
            return student.send(request)

        def send_batch(self, requests: list[dict]) -> list[dict]:
            round_trips.append(len(requests))
            return student.send_batch(requests)

    recorder = Recorder(Channel().send)
    double = StudentFunction("double", recorder.send)
    calls = double.batch([double.call_request(torch.ones(2)), double.call_request(torch.ones(3))])
    assert round_trips == [2]
    assert [call.result.tolist() for call in calls] == [[2.0, 2.0], [2.0, 2.0, 2.0]]
    assert [request["seed"] for request, _ in recorder.observations] == [104_729, 2 * 104_729]


# ------------------------------------------------------------------------------------------------ threads in the grader

def _autograd_in_another_thread(runs: int, start: threading.Event) -> threading.Thread:
    """A thread that waits for ``start`` and then runs autograd ``runs`` times (as a hidden check's own does)."""

    def work() -> None:
        start.wait()
        for _ in range(runs):
            x = torch.ones(3, requires_grad=True)
            torch.autograd.grad((x * x).sum(), x)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.parametrize("this_thread_only", [False, True])
def test_autograd_counter_sees_other_threads_only_outside_a_replay(this_thread_only):
    """Does a replay in the grader count only its own thread's autograd (another thread's check runs autograd at the
    same time), while a kernel's counter, outside that context, still counts every thread's?"""

    start = threading.Event()
    scope = probe.count_autograd_in_this_thread_only() if this_thread_only else contextlib.nullcontext()
    with scope, probe._AutogradCounter() as counter:
        thread = _autograd_in_another_thread(5, start)
        start.set()
        thread.join()
    assert counter.engine_runs == (0 if this_thread_only else 5)
    assert not probe._THREADS_COUNTING_ONLY_THEMSELVES


def test_mistake_is_diagnosed_while_other_threads_run_autograd():
    """Is a mistake that calls autograd in its function (counted in its replies) still recognised when another of
    the grader's threads runs autograd during the replay (issue 12: missed under four workers, found alone)?"""
    from autograder import diagnosis

    assignment, mistake = next((a, m) for a, m in MISTAKES if m.name == "mse_grad_uses_autograd")
    namespace = mistake_namespace(assignment, mistake)
    cell, source = next((g, s) for g, s in _test_cells(assignment).items() if g in mistake.loses_on)
    failure, observations = _observe(dict(namespace), source)
    assert failure and any(reply.get("autograd_calls") for _, reply in observations if isinstance(reply, dict))
    diagnosis._REPLIES.clear()  # the replay must run now, not come from an earlier test's cache

    original = namespace["mse_grad"]

    def mse_grad_while_another_thread_runs_autograd(*args, **kwargs):
        start = threading.Event()
        thread = _autograd_in_another_thread(3, start)
        start.set()
        thread.join()  # the other thread's autograd ran while this call is being counted
        return original(*args, **kwargs)

    namespace["mse_grad"] = mse_grad_while_another_thread_runs_autograd  # the bank's namespace, used by the replay
    try:
        found = diagnose(source, cell, observations)
    finally:
        namespace["mse_grad"] = original
    assert mistake.name in found.names, found.names


def test_a_kernel_that_counts_only_one_thread_changes_the_fingerprint():
    """Would student code that makes the kernel's counter ignore other threads (to hide autograd in a thread) be
    seen as tampering?"""
    before = probe.fingerprint()
    probe._THREADS_COUNTING_ONLY_THEMSELVES.add(1)
    try:
        assert probe.fingerprint() != before
    finally:
        probe._THREADS_COUNTING_ONLY_THEMSELVES.discard(1)
    original = probe._AutogradCounter.counts_here
    probe._AutogradCounter.counts_here = lambda self: False
    try:
        assert probe.fingerprint() != before
    finally:
        probe._AutogradCounter.counts_here = original
    assert probe.fingerprint() == before


def test_plain_requests_in_a_batch_read_as_run_and_rounds_read_them():
    """Do plain calls sent in one batch (also through diagnosis's recorder) come back as run() and rounds() give them,
    in one round trip with the option passed on?"""
    student = LocalStudent({"double": lambda x: x * 2})
    options_seen: list[dict] = []

    class Channel:
        def send(self, request: dict) -> dict:
            return student.send(request)

        def send_batch(self, requests: list[dict], **options) -> list[dict]:
            options_seen.append(options)
            return student.send_batch(requests, **options)

    double = StudentFunction("double", Recorder(Channel().send).send)
    call, rounds = double.batch([double.run_request(torch.ones(2)), double.run_request(torch.ones(2), rounds=True)],
                                checked_after_each=True)
    missing = StudentFunction("gone", student.send)
    assert options_seen == [{"checked_after_each": True}]
    assert call.result.tolist() == [2.0, 2.0] == double.run(torch.ones(2)).result.tolist()
    assert len(rounds) == len(double.rounds(torch.ones(2))) and all(r.result.tolist() == [2.0, 2.0] for r in rounds)
    with pytest.raises(AssertionError, match="gone 함수를 찾을 수 없어요"):
        missing.batch([missing.run_request(1)])
