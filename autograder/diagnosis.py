"""Name the misconception: when a hidden check fails, say which banked mistake the answer behaves like.

Every autograder says *that* a test failed (nbgrader, Otter-Grader, Gradescope, PrairieLearn show the failing
message). This course also owns a mistake bank (:mod:`autograder.mistakes`): the wrong answers students really give,
aimed at the test cells that must catch them. A hidden check observes the student's function only through judge
requests and their plain-data replies (:mod:`autograder.engine.judge`, :mod:`autograder.engine.probe`). :class:`Recorder` keeps
those observations; when the check fails, :func:`diagnose` replays the very same requests on every banked mistake
aimed at the cell, in the grader process (bank code is instructor code), and compares the replies. A mistake whose
replies all equal the student's is the student's misconception: the failure message gains its Korean hint
(:func:`explain`), and the cohort reports count it (``diagnoses`` in ``<notebook>.grading.json``).

Why the comparison is sound and cannot be steered:

- a check is a deterministic function of the replies it gets, so a mistake that gives the same replies to the same
  requests would have failed the check in exactly the same way; replaying stops at the first differing reply, so the
  bank's code only ever answers requests the check itself sends it when the test suite grades that mistake;
- every plain call carries a seed the grader chose (``seed`` in the request: the probe starts the global random
  states from it), so a call that uses the global random state is replayed from the same state;
- a kept object (issue 13: the check makes an object of the student's class and calls and reads it) is made again
  for the bank under the same handle, in a registry of that replay alone, and gets the same requests in the same
  order; a reply about it depends on the requests before it, so it is never taken from the cache of replies;
- only observations the grader already holds are compared, and only a failing check is diagnosed: a correct answer
  never is, and what a student prints, raises or names in a cell never reaches the diagnosis or the counts.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import nbformat

from autograder.course import published_assignments, source_notebook, topic
from autograder.engine import probe
from autograder.engine.judge import batch_sender, directives, strip_hidden_tests
from autograder.mistakes import Mistake, mistakes_for

RELATIVE_TOLERANCE = 1e-5
"""Floating-point results count as the same within this relative tolerance (the kernel and the grader run the same
torch on the same machine, but a reduction may add in a different order)."""
ABSOLUTE_TOLERANCE = 1e-8

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_REPLAY_LOCK = threading.Lock()
"""Replays patch process-wide state (global random states, CUDA queries): one at a time in the grading command's
threads."""
_NAMESPACES: dict[tuple[str, str], dict | None] = {}
_REPLIES: dict[tuple[str, str, str], dict] = {}
"""A bank mistake's reply to a request, by (assignment, mistake, request): the same for every student."""
MAX_CACHED_REPLIES = 20_000
SEED_STEP = 104_729
"""The n-th plain call of a test cell starts the global random states from seed ``SEED_STEP * n``."""


@dataclass
class Recorder:
    """Wraps a judge channel's ``send``: gives every plain call a seed and keeps each request with its reply."""

    channel: Callable[[dict], dict]
    observations: list[tuple[dict, dict]] = field(default_factory=list)

    def send(self, request: dict) -> dict:
        """Send ``request`` (seeded when it is a plain call) and record it with its reply.

        The seed depends only on the call's place in the cell, so every student who reaches that call sends the
        same request, and a bank's reply to it is computed once per grading process (see :func:`behaves_like`).
        """
        request = _seeded(request, len(self.observations) + 1)
        reply = self.channel(request)
        self.observations.append((request, reply))
        return reply

    def send_batch(self, requests: list[dict], **options: Any) -> list[dict]:
        """Send ``requests`` as one batch through the channel's own batch sender (one round trip, exactly as without
        the recorder, with the same ``options``), seeding and recording each call as :meth:`send` does, in order."""
        first = len(self.observations) + 1
        seeded = [_seeded(request, first + index) for index, request in enumerate(requests)]
        replies = batch_sender(self.channel)(seeded, **options)
        self.observations.extend(zip(seeded, replies))
        return replies


def _seeded(request: dict, position: int) -> dict:
    """``request`` with the seed of the ``position``-th call of the cell, when it is a plain call without one."""
    if "function" in request and not request.get("rounds") and "seed" not in request:
        return {**request, "seed": SEED_STEP * position}
    return request


@dataclass
class Diagnosis:
    """The banked mistakes a failing cell behaves like, and how long finding them took."""

    mistakes: list[Mistake] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        """The names of the matching mistakes, in bank order."""
        return [mistake.name for mistake in self.mistakes]


# ------------------------------------------------------------------------------------------------ comparing

def same_reply(student: Any, banked: Any) -> bool:
    """Whether two probe replies describe the same behaviour (floats within tolerance, addresses ignored)."""
    try:
        if isinstance(student, dict) and isinstance(banked, dict):
            # The in-process channel leaves the (empty) nonce in a reply; the kernel channel has taken it out.
            student = {key: value for key, value in student.items() if key != "nonce"}
            banked = {key: value for key, value in banked.items() if key != "nonce"}
        return _same(student, banked)
    except Exception:  # noqa: BLE001 - a malformed reply simply matches nothing
        return False


def _same(first: Any, other: Any) -> bool:
    if isinstance(first, dict) and isinstance(other, dict):
        if first.get("t") in ("tensor", "ndarray") and first.get("t") == other.get("t"):
            return _same_array(first, other)
        return first.keys() == other.keys() and all(_same(first[key], other[key]) for key in first)
    if isinstance(first, list) and isinstance(other, list):
        return len(first) == len(other) and all(_same(a, b) for a, b in zip(first, other))
    if isinstance(first, str) and isinstance(other, str):
        return _ADDRESS.sub("0x", first) == _ADDRESS.sub("0x", other)
    return type(first) is type(other) and first == other


def _same_array(first: dict, other: dict) -> bool:
    """Same class, dtype, shape and layout; the same bytes, or floating-point values within tolerance."""
    if {k: v for k, v in first.items() if k != "data"} != {k: v for k, v in other.items() if k != "data"}:
        return False
    if first["data"] == other["data"]:
        return True
    mine, theirs = probe.decode(first), probe.decode(other)
    if first["t"] == "tensor":
        import torch

        if not (mine.dtype.is_floating_point or mine.dtype.is_complex):
            return False
        return bool(torch.allclose(mine.detach(), theirs.detach(), rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE,
                                   equal_nan=True))
    import numpy as np

    return mine.dtype.kind in "fc" and bool(np.allclose(mine, theirs, rtol=RELATIVE_TOLERANCE,
                                                        atol=ABSOLUTE_TOLERANCE, equal_nan=True))


# ------------------------------------------------------------------------------------------------ the bank

def _bank(source: str) -> tuple[str, list[Mistake]] | None:
    """The assignment and mistake bank behind a test cell's hidden checks (None: no bank for them)."""
    found = directives(source)
    return _bank_of_module(found[0][0].rpartition(".")[0]) if found else None


@functools.lru_cache(maxsize=None)
def _bank_of_module(module: str) -> tuple[str, list[Mistake]] | None:
    """The bank of the checks in ``autograder.hidden.<topic>``: the assignment of that topic and its mistakes."""
    name = module.rpartition(".")[2]
    assignments = [a for a in published_assignments() if topic(a) == name]
    try:
        bank = importlib.import_module(f"autograder.mistakes.{name}")
    except ImportError:
        return None
    return (assignments[0], list(bank.MISTAKES)) if assignments else None


@functools.lru_cache(maxsize=None)
def _notebook_cells(assignment: str) -> tuple[tuple[str, Any], ...]:
    """The helper and solution cells of the reference notebook, compiled: (grade_id, code), in notebook order.

    Test cells are left out, and so are demonstration cells (no nbgrader metadata), which can take seconds; bank
    code may rely on helper and solution cells only.
    """
    nb = nbformat.read(str(source_notebook(assignment)), as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade_id") or (meta.get("grade") and not meta.get("solution")):
            continue
        cells.append((meta["grade_id"], compile(strip_hidden_tests(cell.source), f"<{meta['grade_id']}>", "exec")))
    return tuple(cells)


def _quiet_print(*args: Any, **kwargs: Any) -> None:
    """``print`` inside replayed notebook code: the grader's terminal shows nothing of it."""


def mistake_namespace(assignment: str, mistake: Mistake) -> dict | None:
    """The reference notebook's helper and solution cells (:func:`_notebook_cells`) with ``mistake``'s cells swapped
    in, run in this process. Built once per process and mistake (the caller holds the replay lock); None when a
    cell of it fails.
    """
    key = (assignment, mistake.name)
    if key not in _NAMESPACES:
        import torch  # the grader has it loaded already; imported here to keep this module light to import

        namespace: dict | None = {"__name__": "__main__", "print": _quiet_print}
        default_dtype = torch.get_default_dtype()
        try:
            with torch.random.fork_rng(devices=[]):
                for grade_id, code in _notebook_cells(assignment):
                    if grade_id in mistake.replaces:
                        code = compile(mistake.replaces[grade_id], f"<{mistake.name}>", "exec")
                    exec(code, namespace)  # noqa: S102 - instructor code: the reference and the bank
        except Exception:  # noqa: BLE001 - a cell that fails here (e.g. IPython-only) leaves this mistake out
            namespace = None
        finally:
            torch.set_default_dtype(default_dtype)
        _NAMESPACES[key] = namespace
    return _NAMESPACES[key]


OBJECT_OPS = frozenset({"new", "get", "set", "state_dict", "drop"})
"""Judge requests about kept objects (issue 13): their replies depend on the requests before them."""


def touches_kept_objects(request: Any) -> bool:
    """Whether a request makes, reads, changes or passes a kept object (its reply then depends on earlier ones)."""
    if isinstance(request, dict):
        if request.get("op") in OBJECT_OPS or "handle" in request or request.get("t") == "handle":
            return True
        return any(touches_kept_objects(value) for value in request.values())
    if isinstance(request, list):
        return any(touches_kept_objects(value) for value in request)
    return False


def _request_keys(observations: list[tuple[dict, dict]]) -> list[tuple[str, bool]]:
    """Each recorded request as its cache key (canonical JSON) and whether it touches kept objects: worked out once
    per failing cell (:func:`diagnose`), not once per banked mistake it is replayed on."""
    return [(json.dumps(request, sort_keys=True), touches_kept_objects(request)) for request, _ in observations]


def behaves_like(assignment: str, mistake: Mistake, observations: list[tuple[dict, dict]],
                 keys: list[tuple[str, bool]] | None = None) -> bool:
    """Whether ``mistake`` answers every recorded request exactly as the student's function did.

    The replay keeps the objects it is asked to make in a registry of its own, new for every replay: the bank's
    object gets the same handle the student's did, lives through the same requests in the same order, and is gone
    afterwards (nothing reaches the probe's registry of this process, and two mistakes never share a handle). A reply
    about a kept object depends on every request before it, so it is never cached; only plain calls are.
    """
    with _REPLAY_LOCK:
        namespace = mistake_namespace(assignment, mistake)
        if namespace is None:
            return False
        objects: dict = {}
        keys = _request_keys(observations) if keys is None else keys
        for (request, reply), (request_text, stateful) in zip(observations, keys, strict=True):
            key = (assignment, mistake.name, request_text)
            banked = None if stateful else _REPLIES.get(key)
            if banked is None:
                try:
                    # Other threads of the grader run hidden checks with autograd of their own meanwhile.
                    with probe.count_autograd_in_this_thread_only():
                        banked = json.loads(probe.handle(namespace, request_text, objects))
                except Exception:  # noqa: BLE001 - bank code that cannot answer matches nothing
                    return False
                if not stateful and len(_REPLIES) < MAX_CACHED_REPLIES:
                    _REPLIES[key] = banked
            if not same_reply(reply, banked):
                return False
    return True


def diagnose(source: str, grade_id: str, observations: list[tuple[dict, dict]]) -> Diagnosis:
    """Which banked mistakes aimed at test cell ``grade_id`` behave exactly as observed (call only on failure)."""
    started = time.monotonic()
    diagnosis = Diagnosis()
    try:
        bank = _bank(source) if observations else None
        if bank is not None:
            assignment, mistakes = bank
            keys = _request_keys(observations)
            diagnosis.mistakes = [m for m in mistakes
                                  if grade_id in m.loses_on and behaves_like(assignment, m, observations, keys)]
    except Exception:  # noqa: BLE001 - a diagnosis is a courtesy: it never changes or breaks a grade
        diagnosis.mistakes = []
    diagnosis.seconds = time.monotonic() - started
    return diagnosis


# ------------------------------------------------------------------------------------------------ telling

def explain(mistakes: list[Mistake]) -> str:
    """The Korean block a failure message gains: the misconception(s) and what to look at again ('' for none)."""
    if not mistakes:
        return ""
    if len(mistakes) == 1:
        lines = ["진단: 숨겨진 테스트의 입력에서 이 답은 흔한 실수 하나와 똑같이 동작해요.",
                 f"- 실수: {mistakes[0].label}", f"- 힌트: {mistakes[0].hint}"]
    else:
        lines = [f"진단: 숨겨진 테스트의 입력에서 이 답은 흔한 실수 {len(mistakes)}가지와 똑같이 동작해요. "
                 "어느 쪽인지 확인해 보세요."]
        for mistake in mistakes:
            lines += [f"- 실수: {mistake.label}", f"  힌트: {mistake.hint}"]
    return "\n".join(lines)


def explain_names(source: str, names: list[str]) -> str:
    """:func:`explain` for mistakes given by name, from the bank behind a test cell's hidden checks."""
    bank = _bank(source)
    by_name = {mistake.name: mistake for mistake in (bank[1] if bank else [])}
    return explain([by_name[name] for name in names if name in by_name])


def with_hint(failure: str, diagnosis: Diagnosis) -> str:
    """``failure`` followed by the diagnosis (unchanged when nothing matched)."""
    block = explain(diagnosis.mistakes)
    return f"{failure}\n\n{block}" if block else failure


def misconception_labels(assignment: str) -> dict[str, str]:
    """The Korean label of every banked mistake of ``assignment`` (empty when it has no bank)."""
    try:
        return {mistake.name: mistake.label or mistake.name for mistake in mistakes_for(assignment)}
    except (ImportError, IndexError):  # no bank, or a name without a topic
        return {}
