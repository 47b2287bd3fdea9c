"""The judge: plain-data calls into the student's code, verdicts reached outside it.

Checks named here are the engine's fixture course's (tests/fixture_course), selected for the module.
"""

from __future__ import annotations

import json

import fixture_course
import numpy as np
import pytest
import torch

from autograder.engine import probe
from autograder.engine.judge import LocalStudent, StudentFunction, directives, judge, local_function, resolve, verdict

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

CHECK_PREFIX_SUMS = f"{fixture_course.LAYOUT.checks_package}.sums.check_prefix_sums"

ROUND_TRIP = {
    "float32": torch.arange(6.0).reshape(2, 3),
    "bfloat16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
    "int64": torch.tensor([[1, -2], [3, 4]]),
    "bool": torch.tensor([True, False]),
    "empty": torch.zeros(0, 3),
    "permuted": torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
    "nan": torch.tensor([float("nan"), 1.0]),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_tensor_round_trip_keeps_values_dtype_and_layout(name):
    """Does a tensor survive the plain-data codec with its values, dtype, shape and strides?"""
    original = ROUND_TRIP[name]
    decoded = probe.decode(json.loads(json.dumps(probe.encode(original))))
    assert type(decoded) is torch.Tensor and decoded.dtype == original.dtype and decoded.shape == original.shape
    assert decoded.stride() == original.stride() or original.numel() <= 1
    assert torch.equal(decoded.nan_to_num(7), original.nan_to_num(7))


def test_containers_scalars_and_arrays_round_trip():
    """Do tuples, lists, dicts, floats (NaN too), devices, dtypes and Fortran-ordered arrays come back as they were?"""
    array = np.linspace(0, 1, 6).reshape(2, 3).T
    value = ((1, 2.5, float("inf")), [torch.device("cpu"), torch.float64], {"k": None, "s": "text"}, array)
    decoded = probe.decode(json.loads(json.dumps(probe.encode(value))))
    assert decoded[:3] == value[:3]
    assert decoded[3].flags.f_contiguous and np.array_equal(decoded[3], array)


def test_codec_never_pickles_unknown_objects():
    """Is an object the codec does not know only described (class and repr), never serialized?"""

    class Opaque:
        pass

    encoded = probe.encode(Opaque())
    assert encoded["t"] == "other" and "data" not in encoded


def test_tensor_subclass_is_refused_as_a_result():
    """Is a torch.Tensor subclass returned by a student refused, even with the right values?"""

    class Fancy(torch.Tensor):
        pass

    fn = local_function(lambda: torch.zeros(2).as_subclass(Fancy), "fancy")
    with pytest.raises(AssertionError, match=r"기대: torch\.Tensor, 받은 값: .*Fancy 객체"):
        fn()


def test_class_redefining_comparison_is_flagged():
    """Is a result whose class redefines __eq__ flagged as an impostor?"""

    class Anything:
        def __eq__(self, other):
            return True

    Anything.__module__ = "__main__"  # as if defined in the notebook, where student classes live
    flags: list[str] = []
    fn = StudentFunction("anything", LocalStudent({"anything": lambda: Anything()}).send, flags)
    fn()
    assert flags and "redefines comparison" in flags[0]


def test_arguments_are_copies():
    """Does an in-place change by the student leave the judge's inputs alone and show up in args_after?"""
    data = torch.ones(3)
    call = local_function(lambda x: x.add_(1), "bump").run(data)
    assert torch.equal(data, torch.ones(3)) and torch.equal(call.args_after[0], torch.full((3,), 2.0))


def test_missing_function_fails_with_a_clear_message():
    """Does the judge say so when the student's function does not exist?"""
    with pytest.raises(AssertionError, match="찾을 수 없어요"):
        StudentFunction("nowhere", LocalStudent({}).send)()


def test_directive_parsing_and_resolution():
    """Are directives read from a cell, and are checks outside the course's checks package refused?"""
    call = f'judge("{CHECK_PREFIX_SUMS}", prefix_sums)'
    source = f"x = 1\n### BEGIN HIDDEN TESTS\nfrom autograder.engine.judge import judge\n{call}\n### END HIDDEN TESTS\n"
    assert directives(source) == [(CHECK_PREFIX_SUMS, ["prefix_sums"])]
    assert directives(call) == [], "a judge call outside the hidden region is not a directive"
    with pytest.raises(ValueError):
        resolve("os.system")


def test_verdict_passes_correct_and_fails_wrong_code():
    """Does the verdict pass a correct function and return the Korean failure for a wrong one?"""
    cell = f'### BEGIN HIDDEN TESTS\njudge("{CHECK_PREFIX_SUMS}", prefix_sums)\n### END HIDDEN TESTS'
    right = LocalStudent({"prefix_sums": lambda x: torch.cumsum(x, 0)}).send
    wrong = LocalStudent({"prefix_sums": lambda x: x.clone()}).send
    assert verdict(cell, right) is None
    assert "누적 합" in verdict(cell, wrong)


def test_reply_echoes_the_request_nonce():
    """Does every probe reply carry its request's nonce (so the grader can refuse stale replies)?"""
    reply = json.loads(probe.handle({"f": lambda: 1}, json.dumps({"function": "f", "args": [], "nonce": "abc"})))
    assert reply["nonce"] == "abc"


def test_judge_runs_a_check_in_place_for_stock_nbgrader():
    """Under stock nbgrader, does the hidden block's judge() call run the check on the notebook's functions?"""
    judge(CHECK_PREFIX_SUMS, lambda x: torch.cumsum(x, 0))
    with pytest.raises(AssertionError, match="누적 합"):
        judge(CHECK_PREFIX_SUMS, lambda x: x.clone())


@pytest.mark.parametrize("scenario, expected", [("cpu_build", "cpu"), ("no_gpu", "cpu"), ("gpu", "cuda")])
@pytest.mark.parametrize("query", [
    "torch.cuda.is_available()",
    "torch.cuda.device_count() > 0",
    "torch.accelerator.is_available() and torch.accelerator.current_accelerator().type == 'cuda'",
    "torch.accelerator.current_accelerator(check_available=True) is not None",
    "torch.accelerator.device_count() > 0",
])
def test_simulated_machine_answers_every_availability_query(query, scenario, expected):
    """Does every public way of asking "is there a CUDA GPU?" see the machine the judge simulates?"""
    fn = local_function(eval(f"lambda: 'cuda' if {query} else 'cpu'"), "pick")  # noqa: S307 - test's own code
    assert fn(cuda=scenario) == expected


def test_simulated_machine_is_put_back():
    """After a simulated call, does torch report this machine again (no patch left behind)?"""
    before = (torch.cuda.is_available(), torch.cuda.device_count(), hasattr(torch._C, "_cuda_getDeviceCount"),
              torch.accelerator.current_accelerator())
    local_function(lambda: torch.cuda.device_count(), "count")(cuda="gpu")
    after = (torch.cuda.is_available(), torch.cuda.device_count(), hasattr(torch._C, "_cuda_getDeviceCount"),
             torch.accelerator.current_accelerator())
    assert after == before


@pytest.mark.parametrize("code, changed", [
    ("torch.manual_seed(seed)", ("torch",)),
    ("np.random.seed(seed)", ("numpy",)),
    ("random.seed(seed)", ("random",)),
    ("torch.rand(2)", ("torch",)),
    ("np.random.rand(2)", ("numpy",)),
    ("torch.rand(2, generator=torch.Generator().manual_seed(seed))", ()),
    ("np.random.default_rng(seed).random(2)", ()),
])
def test_every_global_random_state_change_is_reported(code, changed):
    """Does a call report exactly which global random states (torch, NumPy, random) it changed?"""
    import random

    names = {"torch": torch, "np": np, "random": random}
    fn = local_function(eval(f"lambda seed: {code}", names), "draw")  # noqa: S307 - the test's own code
    # The same call twice in a row must still be reported: the judge starts each call from a fresh state.
    assert fn.run(0).global_rng_changed == changed
    assert fn.run(0).global_rng_changed == changed


def test_global_random_states_are_put_back():
    """Does a judged call leave the caller's torch, NumPy and random states as they were?"""
    import random

    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    reseed = local_function(lambda: (torch.manual_seed(1), np.random.seed(1), random.seed(1)), "reseed")
    reseed.run()
    reseed.batch([reseed.run_request(), reseed.run_request()], checked_after_each=True)  # once after a whole batch
    assert torch.equal(before[0], torch.get_rng_state())
    assert np.array_equal(before[1], np.random.get_state()[1]) and before[2] == random.getstate()


# ------------------------------------------------------------------------------------------------ batches of plain calls

class _PatchingKernel:
    """The kernel side of ContainedExecute's channel: the first call of a batch patches torch.equal, the second puts it
    back; a fingerprint reports what torch.equal is at that moment."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def probe_batch(self, calls: list[dict]) -> list[dict]:
        self.batches.append([call.get("op", "call") for call in calls])
        replies, patched, calls_seen = [], False, 0
        for call in calls:
            if call.get("op") == "fingerprint":
                replies.append({"torch.equal": "patched" if patched else "original", "audit": "[]"})
            else:
                calls_seen += 1
                patched = calls_seen == 1
                replies.append({"result": None, "args_after": [], "global_rng_changed": []})
        return replies


@pytest.mark.parametrize("checked_after_each", [False, True])
def test_a_batch_checked_after_each_call_sees_a_patch_a_later_call_undoes(checked_after_each):
    """Does the kernel's channel check the fingerprint after every call of a batch sent ``checked_after_each`` (so a
    patch that a later call of the batch undoes is seen, as when calls travel one by one), and once otherwise?"""
    from autograder.engine.nbgrader.execute import ContainedExecute, IntegrityViolation

    kernel, executor = _PatchingKernel(), ContainedExecute()
    executor._probe_batch = kernel.probe_batch
    executor._baseline, executor._judged_cell, executor._incidents = {"torch.equal": "original", "audit": "[]"}, "c", []
    function = StudentFunction("f", executor._send)
    requests = [function.run_request(torch.ones(1)), function.run_request(torch.ones(2))]
    if checked_after_each:
        with pytest.raises(IntegrityViolation, match="torch.equal"):
            function.batch(requests, checked_after_each=True)
        assert kernel.batches == [["call", "fingerprint", "call", "fingerprint"]]
    else:
        assert len(function.batch(requests)) == 2  # the blind spot the option closes: only the end state is seen
        assert kernel.batches == [["call", "call", "fingerprint"]]
