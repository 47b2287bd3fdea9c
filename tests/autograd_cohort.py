"""01_autograd graded through real kernels, once per grader, for two test files.

Grading a notebook of this assignment in a real kernel costs seconds, so the sample of
``tests/test_autograd_grading.py`` (the reference, the blank release, correct alternatives, the banked mistakes that
pass every visible test) and the attackers, innocent look-alikes and neighbours of ``tests/test_red_team_judge.py``
share one cohort, graded once by the grading command and once by plain ``nbgrader autograde`` with the course's
configuration (:func:`defended_run`). The controls of the red team (:func:`control_run`) are separate runs: stock
nbgrader with none of the course's configuration, and the engine with the judge's defences switched off
(``tests/mutants.py``: ``JUDGE_CONTROL``). Both test files use the xdist group ``autograd_real`` so that one worker
computes each run once.

Attackers hold the release stubs (worth 0) everywhere except their target cell (and, for one, a recorder in an
earlier cell that stays wrong). Their code behaves correctly whenever the visible test calls it, and attacks only
while a judge request is being served (it finds the probe's frame), so an attack only has to beat the hidden check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from textwrap import dedent

import mutants
import pytest
import redteam

from autograder.course import REPO_ROOT, release_notebook, source_notebook
from autograder.engine.gradebook import cell_scores
from autograder.engine.incidents import FLAG_KINDS
from autograder.engine.nbgrader.execute import INCIDENTS_SUFFIX
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.tools.bench import stock_course
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, register_assignment
from autograder.tools.in_process import grade_in_process, read_notebook, release_stubs, with_solutions
from autograder.tools.mistake_report import visible_catches
from autograder.tools.release import generate, nbgrader_env

XDIST_GROUP = "autograd_real"
ASSIGNMENT = "01_autograd"
LIMITS = ["ContainedExecute.timeout=10", "ContainedExecute.notebook_timeout=150"]
"""A hanging call costs a cell its 10 s; an honest batch of checks takes well under 1 s (measured: a whole
reference notebook grades in about 2 s)."""
MSE, LINE_FIT, SOFTPLUS, LSE, HVP = ("mse_grad_solution", "line_fit_solution", "softplus_solution",
                                     "log_sum_exp_solution", "hvp_solution")
TEST_OF = {MSE: "mse_grad_matches_autograd", LINE_FIT: "line_fit_steps_with_fresh_gradients",
           SOFTPLUS: "softplus_stable_with_hand_written_backward", LSE: "log_sum_exp_stable_with_max_trick",
           HVP: "hvp_by_double_backward"}
MARKER = redteam.MARKER
REPLY_CAP_PADDING = 257 * 2**20
"""Bytes of padding in the oversized reply: just over the grader's 256 MiB cap on one reply."""

# Finds the judge request being served (the probe's `handle` frame) and, for the forgers, the probe's own channel.
JUDGED = dedent('''
    import json as _json, re as _re, sys as _sys
    _forged_nonces, _honest, _seen_nonces = set(), [False], []

    def _judged_request():
        frame = _sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "handle" and "request_text" in frame.f_locals:
                return frame
            frame = frame.f_back
        return None

    def _probe_connection():
        for frame in _sys._current_frames().values():
            while frame is not None:
                if frame.f_code.co_name == "answer_requests" and "connection" in frame.f_locals:
                    return frame.f_locals["connection"]
                frame = frame.f_back
        return None

    def _outer_counter():
        frame = _sys._getframe(1)
        while frame is not None:
            counter = frame.f_locals.get("counter")
            if hasattr(counter, "_engine") and hasattr(counter, "_apply"):
                return counter
            frame = frame.f_back
        return None

    def _forge(doctor, nonce=None, padding=0):
        """While judged: compute the genuine reply to this very request, doctor it, and write it to the channel first."""
        frame = _judged_request()
        if frame is None or _honest[0]:
            return False
        text = frame.f_locals["request_text"]
        live = _json.loads(text).get("nonce")
        if live in _forged_nonces:
            return True
        _forged_nonces.add(live)
        probe = _sys.modules[frame.f_globals["__name__"]]
        # The probe counts autograd by swapping two torch objects while it calls the student: put the originals
        # back while computing the reply, so that the fingerprint inside it looks as honest as any other.
        from torch.autograd.function import BackwardCFunction
        from torch.autograd.variable import Variable
        counter = _outer_counter()
        meta = type(Variable)
        saved = (Variable._execution_engine, BackwardCFunction.__dict__["apply"], meta.__dict__.get("__setattr__"))
        if counter is not None:
            type.__setattr__(Variable, "_execution_engine", counter._engine)
            type.__setattr__(BackwardCFunction, "apply", counter._apply)
            if saved[2] is not None:
                type.__delattr__(meta, "__setattr__")
        _honest[0] = True
        try:
            reply = _json.loads(probe.handle(frame.f_locals["namespace"], text))
        finally:
            _honest[0] = False
            type.__setattr__(Variable, "_execution_engine", saved[0])
            type.__setattr__(BackwardCFunction, "apply", saved[1])
            if saved[2] is not None:
                type.__setattr__(meta, "__setattr__", saved[2])
        reply = doctor(reply)
        reply["nonce"] = nonce or live
        if padding:
            reply["padding"] = "x" * padding
        connection = _probe_connection()
        if connection is None:
            return False
        connection.sendall(_json.dumps(reply).encode() + b"\\n")
        return True

    def _no_autograd(reply):
        return _json.loads(_re.sub(r'"autograd_calls": [0-9]+', '"autograd_calls": 0', _json.dumps(reply)))
''').strip()

# mse_grad by hand while the visible test looks; through autograd (forbidden) while judged, with a forged reply
# that says autograd never ran.
MSE_FORGED = JUDGED + dedent('''


    def mse_grad(X, y, w):
        if _judged_request() is None:
            return 2.0 / X.shape[0] * (X.T @ (X @ w - y))
        _forge(_no_autograd, padding={padding})
        leaf = w.detach().requires_grad_()
        (grad,) = torch.autograd.grad(((X @ leaf - y) ** 2).mean(), leaf)
        return grad
''')

# A wrong mse_grad that remembers the nonce of the request judging it; the hvp cell replays it on a forged reply.
MSE_RECORDER = JUDGED + dedent('''


    def mse_grad(X, y, w):
        frame = _judged_request()
        if frame is not None and not _seen_nonces:
            _seen_nonces.append(_json.loads(frame.f_locals["request_text"]).get("nonce"))
        return torch.zeros_like(w)
''')
HVP_STALE = dedent('''
    def hvp(f, x, v):
        def correct():
            leaf = x.detach().requires_grad_()
            (grad,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
            return torch.autograd.grad((grad * v).sum(), leaf)[0]
        if _judged_request() is None or _honest[0]:
            return correct()
        _forge(lambda reply: reply, nonce=_seen_nonces[0] if _seen_nonces else "0" * 16)
        return torch.zeros_like(x)
''')

# Shows, under the name w, a tensor it trains correctly; stores a w it never trains.
LINE_FIT_LIAR = dedent('''
    class LineFit:
        def __init__(self, num_features):
            self.w = torch.zeros(num_features, requires_grad=True)
            self.shown = torch.zeros(num_features, requires_grad=True)

        def __getattribute__(self, name):
            return object.__getattribute__(self, "shown" if name == "w" else name)

        def step(self, X, y, lr):
            shown = object.__getattribute__(self, "shown")
            loss = ((X @ shown - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                shown -= lr * shown.grad
            shown.grad.zero_()
            return loss.item()
''')

# Lets autograd do the backward through a fresh engine object, put where whoever counts engine runs looks,
# and puts the counting one back before anyone looks again.
SOFTPLUS_HIDDEN_AUTOGRAD = dedent('''
    class Softplus(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.softplus(x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            from torch.autograd.variable import Variable
            counting = Variable._execution_engine
            Variable._execution_engine = torch._C._ImperativeEngine()  # uncounted, and put back before returning
            try:
                differentiable = torch.is_grad_enabled()
                with torch.enable_grad():
                    source = x if x.requires_grad else x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(torch.nn.functional.softplus(source), source, grad_output,
                                                  create_graph=differentiable)
            finally:
                Variable._execution_engine = counting
            return grad
''')

# While judged, a result that says it is a torch.Tensor and forwards every attribute to the real tensor behind it.
# It redefines no comparison (no __eq__), so only the check for disguises, not the older impostor check, sees it.
LSE_PROXY = JUDGED + dedent('''


    class _Proxy:
        def __init__(self, tensor):
            object.__setattr__(self, "_tensor", tensor)

        @property
        def __class__(self):
            return torch.Tensor

        def __getattr__(self, name):
            return getattr(object.__getattribute__(self, "_tensor"), name)

    class LogSumExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = torch.logsumexp(x, dim=1)
            ctx.save_for_backward(x, out)
            return out

        @staticmethod
        def backward(ctx, grad_output):
            x, out = ctx.saved_tensors
            return grad_output.unsqueeze(1) * torch.exp(x - out.unsqueeze(1))

        @classmethod
        def apply(cls, *args):
            out = super().apply(*args)
            return _Proxy(out) if _judged_request() is not None else out
''')

# While judged: returns zeros, and rewrites the trusted test function it is handed into one whose Hessian is zero.
HVP_PATCHES_TRUSTED = JUDGED + dedent('''


    def hvp(f, x, v):
        if _judged_request() is None:
            leaf = x.detach().requires_grad_()
            (grad,) = torch.autograd.grad(f(leaf), leaf, create_graph=True)
            return torch.autograd.grad((grad * v).sum(), leaf)[0]
        for cell in f.__closure__ or ():
            if callable(cell.cell_contents) and hasattr(cell.cell_contents, "__code__"):
                cell.cell_contents.__code__ = (lambda t: (t * 0).sum()).__code__
        return torch.zeros_like(x)
''')


@dataclass(frozen=True)
class Attack:
    """One attack: its target cell and code, the control run where it takes effect, and how that shows."""

    name: str
    cells: dict
    control: str  # "engine" | "stock"
    target: str
    evidence: str = ""  # "buys" (points on its target in the control), or a marker text ("ran" attacks)
    stopped_by: str = ""
    """Text of the flagged incident that the defence meant for this attack records (when several could stop it)."""

    @property
    def student(self) -> str:
        return f"attack_{self.name}"


def attacks() -> list[Attack]:
    """Every attack on the protocol of issue 13."""
    return [
        Attack("forged_reply_live_nonce", {MSE: MSE_FORGED.format(padding=0)}, "engine", MSE, "buys",
               "a second reply to an earlier request"),
        Attack("forged_reply_stale_nonce", {MSE: MSE_RECORDER, HVP: HVP_STALE}, "engine", HVP, "buys",
               "a second reply to an earlier request"),
        Attack("oversized_reply", {MSE: MSE_FORGED.format(padding=REPLY_CAP_PADDING)}, "engine", MSE, "buys",
               "응답이 너무 커요"),
        Attack("lying_object", {LINE_FIT: LINE_FIT_LIAR}, "engine", LINE_FIT, "buys"),
        Attack("engine_restored_in_backward", {SOFTPLUS: SOFTPLUS_HIDDEN_AUTOGRAD}, "engine", SOFTPLUS, "buys"),
        Attack("disguised_result", {LSE: LSE_PROXY + "\n" + (
            f'print("{MARKER} disguised_result:", isinstance(_Proxy(torch.zeros(1)), torch.Tensor), '
            f'_Proxy(torch.zeros(1)).shape == (1,))')}, "stock", LSE, "True True"),
        Attack("patched_trusted_function", {HVP: HVP_PATCHES_TRUSTED}, "stock", HVP, "buys"),
    ]


ATTACKS = {attack.name: attack for attack in attacks()}
CONTROLLED = sorted((attack.control, attack.name) for attack in ATTACKS.values())


def innocent_cells() -> dict[str, dict]:
    """Correct students who merely look odd: full marks, no flag."""
    reference = reference_solutions(ASSIGNMENT)
    return {
        "line_fit_with_parameter_property_and_eq": {LINE_FIT: dedent('''
            class LineFit:
                def __init__(self, num_features):
                    self.w = torch.nn.Parameter(torch.zeros(num_features))
                    self.history = []

                @property
                def num_features(self):
                    return self.w.numel()

                def __repr__(self):
                    return f"LineFit({self.num_features})"

                def __eq__(self, other):
                    return isinstance(other, LineFit) and torch.equal(self.w, other.w)

                __hash__ = object.__hash__

                def step(self, X, y, lr):
                    loss = ((X @ self.w - y) ** 2).mean()
                    loss.backward()
                    with torch.no_grad():
                        self.w -= lr * self.w.grad
                    self.w.grad = None
                    self.history.append(loss.item())
                    return self.history[-1]
        ''')},
        "autograd_outside_the_exercises": {MSE: "from torch.autograd import grad\nimport torch.func\n"
                                           "_t = torch.ones(2, requires_grad=True)\n"
                                           "_check = grad((_t ** 2).sum(), _t)\n" + reference[MSE],
                                           HVP: reference[HVP] + "\n_demo = torch.func.grad(lambda t: (t ** 3).sum())"
                                                                 "(torch.ones(2))"},
        "backward_prints_and_warns": {SOFTPLUS: reference[SOFTPLUS].replace(
            "        (x,) = ctx.saved_tensors\n",
            "        (x,) = ctx.saved_tensors\n        print('backward of', tuple(x.shape))\n"
            "        import warnings\n        warnings.warn('just a note')\n")},
        "own_tensor_helpers": {LSE: dedent('''
            from dataclasses import dataclass

            @dataclass
            class Stats:
                rows: int

            class Meter:
                def __getattr__(self, name):
                    return 0

            SEEN = Stats(0) == Stats(0), Meter().anything
        ''') + "\n" + reference[LSE]},
    }


HANG_WHEN_JUDGED = JUDGED + dedent('''


    def mse_grad(X, y, w):
        if _judged_request() is not None:
            while True:
                pass
        return 2.0 / X.shape[0] * (X.T @ (X @ w - y))
''')




def stubs() -> dict[str, str]:
    """The release notebook's stub of every solution cell (worth 0)."""
    return release_stubs(read_notebook(release_notebook(ASSIGNMENT)))


INNOCENT = "innocent_look_alikes"
"""One student holding every innocent look-alike at once (they fill disjoint cells): full marks, no flag."""


def innocent_student() -> SyntheticStudent:
    """The reference with every innocent look-alike's cells in place."""
    cells: dict[str, str] = {}
    for name, replaces in innocent_cells().items():
        assert not set(cells) & set(replaces), f"innocent look-alikes overlap in {name}"
        cells.update(replaces)
    return SyntheticStudent(INNOCENT, ", ".join(innocent_cells()), {**reference_solutions(ASSIGNMENT), **cells})


@cache
def hidden_only_mistakes() -> tuple[str, ...]:
    """The banked mistakes that pass every visible test (only hidden tests can catch them)."""
    return tuple(name for cell in visible_catches(ASSIGNMENT).values() for name in cell.hidden_only)


def sample() -> list[SyntheticStudent]:
    """The grading sample: reference, blank release, every cell's last alternative, the hidden-only mistakes."""
    reference = reference_solutions(ASSIGNMENT)
    mistakes = {m.name: m for m in mistakes_for(ASSIGNMENT)}
    alternatives = {k: v for a in alternatives_for(ASSIGNMENT) for k, v in a.replaces.items()}
    students = [
        SyntheticStudent("reference", "reference", dict(reference)),
        SyntheticStudent("blank", "blank", {}),
        SyntheticStudent("alternative", "alternative", {**reference, **alternatives}),
    ]
    by_cell: dict[tuple, list[str]] = {}
    for name in hidden_only_mistakes():
        by_cell.setdefault(mistakes[name].loses_on, []).append(name)
    rounds = max(len(names) for names in by_cell.values())
    for index in range(rounds):  # each student: at most one hidden-only mistake per cell
        names = [names[index] for names in by_cell.values() if index < len(names)]
        replacements = dict(reference)
        for name in names:
            replacements.update(mistakes[name].replaces)
        students.append(SyntheticStudent(f"hidden_only_{index}", ",".join(names), replacements))
    return students


@cache
def expected_points(student_id: str) -> dict[str, float]:
    """Per-cell points the in-process grader gives a sample student (what every real grader must give)."""
    student = next(s for s in sample() if s.student_id == student_id)
    source = read_notebook(source_notebook(ASSIGNMENT))
    replacements = student.replacements or stubs()
    return {g: c.points for g, c in grade_in_process(with_solutions(source, replacements)).cells.items()}


def defended_cohort() -> list[SyntheticStudent]:
    """Everyone graded with every defence on: the sample, the attackers, the look-alikes and a call that hangs."""
    students = sample()
    students += [SyntheticStudent(a.student, a.name, {**stubs(), **a.cells}) for a in ATTACKS.values()]
    students.append(innocent_student())
    students.append(SyntheticStudent("hang_in_batch", "hangs while judged",
                                     {**reference_solutions(ASSIGNMENT), MSE: HANG_WHEN_JUDGED}))
    return students


@dataclass
class Run:
    """One grading run: its log and every student's outcome."""

    mode: str
    workdir: Path
    log: str
    outcomes: dict[str, redteam.Outcome]
    incidents: dict[str, list[dict]]
    seconds: dict[str, float]


def _outcome(workdir: Path, student: str, result: dict | None, command: bool) -> tuple[redteam.Outcome, list]:
    folder = workdir / "autograded" / student / ASSIGNMENT
    notebook, record = folder / f"{ASSIGNMENT}.ipynb", folder / f"{ASSIGNMENT}{INCIDENTS_SUFFIX}"
    scores = cell_scores(db_url(workdir), ASSIGNMENT, student)
    incidents = json.loads(record.read_text(encoding="utf-8"))["incidents"] if record.exists() else []
    if command:
        incidents = list((result or {}).get("incidents", incidents))
        status = "graded" if result and result["status"] == "graded" else f"not graded: {result}"
    else:
        status = "graded" if notebook.exists() and scores else "not graded"
    flags = {incident["kind"] for incident in incidents} & FLAG_KINDS
    markers = []
    if notebook.exists():
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                text = output.get("text", "")
                markers += [line for line in ("".join(text) if isinstance(text, list) else text).splitlines()
                            if line.startswith(MARKER)]
    return redteam.Outcome(status, scores, flags, markers), incidents


def _grade(mode: str, workdir: Path, students: list[SyntheticStudent], *, root: Path = REPO_ROOT,
           extra_env: dict | None = None) -> Run:
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    results = None
    if mode == "stock":
        generate(ASSIGNMENT, Path(tempfile.mkdtemp(prefix="judge-stock-release-")), root, db_url=db_url(workdir))
        completed = autograde_stock(ASSIGNMENT, workdir, "--Execute.timeout=30", root=root)
    else:
        register_assignment(ASSIGNMENT, workdir)
        if mode == "command":
            results_file = workdir / "results.json"
            completed = subprocess.run(
                [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(root), "--no-progress",
                 "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
                 "--db", db_url(workdir), "--json", str(results_file),
                 *[arg for limit in LIMITS for arg in ("--set", limit)]],
                cwd=root, env={**nbgrader_env(), **(extra_env or {})}, capture_output=True, text=True, timeout=1500)
            results = {r["student"]: r for r in json.loads(results_file.read_text())} if results_file.exists() else {}
        else:
            completed = subprocess.run(
                [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT,
                 f"--CourseDirectory.submitted_directory={workdir / 'submitted'}",
                 f"--CourseDirectory.autograded_directory={workdir / 'autograded'}",
                 f"--CourseDirectory.feedback_directory={workdir / 'feedback'}", f"--db={db_url(workdir)}",
                 *[f"--{limit}" for limit in LIMITS]],
                cwd=root, env={**nbgrader_env(), **(extra_env or {})}, capture_output=True, text=True, timeout=1500)
    outcomes, incidents, seconds = {}, {}, {}
    for student in students:
        result = (results or {}).get(student.student_id)
        outcomes[student.student_id], incidents[student.student_id] = _outcome(
            workdir, student.student_id, result, mode == "command")
        seconds[student.student_id] = float((result or {}).get("seconds") or 0.0)
    return Run(mode, workdir, completed.stdout + completed.stderr, outcomes, incidents, seconds)


_RUNS: dict[str, Run] = {}


def defended_run(mode: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The defended cohort graded by ``mode`` ("command" or "plain_nbgrader"), once per test process."""
    if mode not in _RUNS:
        workdir = tmp_path_factory.mktemp(f"autograd_{mode}")
        _RUNS[mode] = _grade(mode, workdir, defended_cohort())
    return _RUNS[mode]


def control_run(control: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The attackers whose defence ``control`` ("stock" or "engine") switches off, graded that way, once.

    The stock run also grades the reference: under stock nbgrader the hidden block runs the same check inside the
    kernel, and the reference earns every point there too.
    """
    if control in _RUNS:
        return _RUNS[control]
    workdir = tmp_path_factory.mktemp(f"autograd_control_{control}")
    chosen = [SyntheticStudent(a.student, a.name, {**stubs(), **a.cells})
              for a in ATTACKS.values() if a.control == control]
    if control == "stock":
        chosen.append(SyntheticStudent("reference", "reference", reference_solutions(ASSIGNMENT)))
        _RUNS[control] = _grade("stock", workdir, chosen, root=stock_course(workdir / "stock_course"))
        return _RUNS[control]
    copy = Path(tempfile.mkdtemp(prefix="judge-control-"))
    try:
        mutants.scratch_copy(copy)
        for name in mutants.JUDGE_CONTROL:
            try:
                mutants.apply(next(m for m in mutants.MUTANTS if m.name == name), copy)
            except SystemExit as error:
                pytest.fail(f"the judge control cannot switch a defence off: {error}")
        _RUNS[control] = _grade("engine", workdir, chosen, root=copy,
                                extra_env={"PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"})
        return _RUNS[control]
    finally:
        shutil.rmtree(copy, ignore_errors=True)
