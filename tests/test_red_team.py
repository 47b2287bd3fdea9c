"""Red team: attacks on grading buy no points and raise a flag; innocent look-alikes raise none.

Every attacker submits the same wrong answers (worth 0 points) plus one attack; every innocent student submits the
reference plus something that merely looks odd. The cohort goes through the grading command and through plain
`nbgrader autograde` (same nbgrader_config.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from textwrap import dedent

import pytest

from autograder import grade
from autograder.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.course import REPO_ROOT
from autograder.demo import autograde_stock, db_url, register_assignment
from autograder.execute import INCIDENTS_SUFFIX
from autograder.grades import cell_scores
from autograder.release import nbgrader_env

ASSIGNMENT = "00_tensors"
FLAG_KINDS = grade.FLAG_KINDS
ROOT = str(REPO_ROOT)

WRONG_ANSWERS = dedent('''
    def seeded_rand(shape, seed):
        return torch.zeros(shape)
    def pick_device():
        return torch.device("cpu")
    def numpy_to_float32(arr):
        return torch.from_numpy(arr)
    def flatten_per_sample(batch):
        return batch.flatten()
    def row_proportions(x):
        return x
    def clip_negatives(x):
        return x
    def column_sums(x):
        return x[0]
    def prefix_sums(x):
        return x
''')

ATTACKS = {
    "patch_torch_equal": "torch.equal = lambda *a, **k: True",
    "patch_torch_allclose": "torch.allclose = lambda *a, **k: True",
    "patch_assert_close": "torch.testing.assert_close = lambda *a, **k: None",
    "patch_tensor_eq": "torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)",
    "patch_builtin_isinstance": "import builtins\nbuiltins.isinstance = lambda *a: True",
    "patch_numpy_allclose": "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True",
    "blank_later_cells": "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "strip_asserts": dedent('''
        import ast
        class StripAsserts(ast.NodeTransformer):
            def visit_Assert(self, node):
                return ast.Pass()
        get_ipython().ast_transformers.append(StripAsserts())
    '''),
    "swallow_errors": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "hide_tracebacks": "get_ipython().showtraceback = lambda *a, **k: None",
    "noop_run_cell": dedent('''
        async def _nothing(*a, **k):
            return None
        get_ipython().run_cell_async = _nothing
        get_ipython().run_cell = lambda *a, **k: None
    '''),
    "fake_execute_reply": dedent('''
        async def _ok(*args, **kwargs):
            return {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
        get_ipython().kernel.do_execute = _ok
    '''),
    "pre_run_cell_hook": dedent('''
        def _before(info):
            info.raw_cell = ""
        get_ipython().events.register("pre_run_cell", _before)
    '''),
    "trace_everything": "import sys\nsys.settrace(lambda *a: None)",
    "tensor_subclass_equal_to_all": dedent('''
        class Always(torch.Tensor):
            def __eq__(self, other):
                return True
        def prefix_sums(x):
            return torch.zeros_like(x).as_subclass(Always)
    '''),
    "object_equal_to_anything": dedent('''
        class Anything:
            def __eq__(self, other):
                return True
        def clip_negatives(x):
            return Anything()
    '''),
    "read_hidden_tests": f"try:\n    SECRET = open({ROOT + '/autograder/hidden/tensors.py'!r}).read()\nexcept Exception:\n    SECRET = None",
    "read_source_notebook": f"import os\ntry:\n    SOURCE = os.listdir({ROOT + '/source/00_tensors'!r})\nexcept Exception:\n    SOURCE = None",
    "write_gradebook": f"try:\n    open({ROOT + '/gradebook.db'!r}, 'a').write('x')\nexcept Exception:\n    pass",
    "exfiltrate_network": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 80), timeout=1)\nexcept OSError:\n    pass",
    "kill_the_grader": "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass",
    "patch_the_probe": dedent('''
        import sys
        for _name, _module in list(sys.modules.items()):
            if hasattr(_module, "handle") and hasattr(_module, "FillUninitialized"):
                _module.handle = lambda namespace, request: '{"result": null, "args_after": []}'
    '''),
    "patch_json_dumps": "import json\njson.dumps = lambda *a, **k: '{}'",
    "swap_torch_module": "import sys, types\nsys.modules['torch'] = types.ModuleType('torch')",
    "import_hidden_tests": "try:\n    import autograder.hidden.tensors\nexcept Exception:\n    pass",
    "exit_before_hidden_tests": "import os\ndef prefix_sums(x):\n    os._exit(0)",
}

INNOCENT = {
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


def _students() -> list[SyntheticStudent]:
    reference = reference_solutions(ASSIGNMENT)
    first = "seeded_rand_solution"
    wrong = {grade_id: "pass" for grade_id in reference}
    wrong[first] = WRONG_ANSWERS
    students = [SyntheticStudent("wrong_baseline", "", dict(wrong))]
    for name, code in ATTACKS.items():
        students.append(SyntheticStudent(f"attack_{name}", name, {**wrong, first: f"{WRONG_ANSWERS}\n{code}"}))
    for name, code in INNOCENT.items():
        students.append(SyntheticStudent(f"innocent_{name}", name,
                                         {**reference, first: f"{reference[first]}\n{code}"}))
    return students


def _flags(workdir, student) -> set[str]:
    path = workdir / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}{INCIDENTS_SUFFIX}"
    if not path.exists():
        return {"not graded"}
    record = json.loads(path.read_text(encoding="utf-8"))
    return {incident["kind"] for incident in record["incidents"]} & FLAG_KINDS


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def graded(request, tmp_path_factory):
    """The red-team cohort graded by the grading command, or by plain `nbgrader autograde`."""
    workdir = tmp_path_factory.mktemp(f"red_team_{request.param}")
    students = _students()
    write_cohort(ASSIGNMENT, students, workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    limits = ["ContainedExecute.timeout=15", "ContainedExecute.notebook_timeout=90"]
    if request.param == "command":
        completed = subprocess.run(
            [sys.executable, "-m", "autograder.grade", ASSIGNMENT, "--root", ROOT, "--no-progress",
             "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
             "--db", db_url(workdir), *[arg for limit in limits for arg in ("--set", limit)]],
            cwd=REPO_ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=1200,
        )
    else:
        completed = autograde_stock(ASSIGNMENT, workdir, *[f"--{limit}" for limit in limits])
    return workdir, completed


@pytest.mark.xdist_group("red_team")
def test_wrong_baseline_scores_zero(graded):
    """Do the wrong answers the attackers share score 0 without any attack (so any point would be bought)?"""
    workdir, completed = graded
    scores = cell_scores(db_url(workdir), ASSIGNMENT, "wrong_baseline")
    assert scores and sum(scores.values()) == 0, completed.stdout[-2000:]


@pytest.mark.xdist_group("red_team")
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_buys_no_points_and_is_flagged(graded, attack):
    """Does this attack leave the score at 0 and put a flag on the student's result for manual review?"""
    workdir, completed = graded
    student = f"attack_{attack}"
    scores = cell_scores(db_url(workdir), ASSIGNMENT, student)
    assert sum(scores.values()) == 0, scores
    assert _flags(workdir, student), f"{attack} raised no flag"


@pytest.mark.xdist_group("red_team")
@pytest.mark.parametrize("innocent", sorted(INNOCENT))
def test_innocent_look_alike_keeps_full_marks_without_flag(graded, innocent):
    """Does a correct student who merely looks odd keep full marks and raise no flag?"""
    workdir, _ = graded
    student = f"innocent_{innocent}"
    assert sum(cell_scores(db_url(workdir), ASSIGNMENT, student).values()) == 10
    assert _flags(workdir, student) == set()


@pytest.mark.xdist_group("red_team")
def test_flags_are_listed_in_the_run_summary(graded, request):
    """Does the grading command's summary list the flagged students for manual review?"""
    workdir, completed = graded
    if "plain_nbgrader" in request.node.callspec.id:
        pytest.skip("plain nbgrader prints no summary; its flags are in <notebook>.grading.json")
    for attack in ATTACKS:
        assert f"/attack_{attack}: " in completed.stdout, attack
    assert "innocent_" not in completed.stdout
