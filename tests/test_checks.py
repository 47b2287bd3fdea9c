"""Reusable hidden-test checks: exact types, tolerances, untouched inputs, Korean messages."""

from __future__ import annotations

import pytest
import torch

from autograder.checks.values import call_with_copies, expect_close, expect_plain_tensor, values_close
from autograder.course import published_assignments
from autograder.engine.judge import directives
from autograder.tools.in_process import nbgrader_meta


class LooksLikeATensor(torch.Tensor):
    """A subclass a submission could return to fake comparisons."""


def test_subclass_is_rejected():
    """Is a torch.Tensor subclass refused even when its values are right?"""
    fake = torch.zeros(2).as_subclass(LooksLikeATensor)
    with pytest.raises(AssertionError, match=r"기대: torch\.Tensor, 받은 값: LooksLikeATensor"):
        expect_plain_tensor(fake, "결과")


def test_wrong_dtype_and_shape_are_named():
    """Do dtype and shape failures say what was expected and what was received?"""
    with pytest.raises(AssertionError, match=r"기대: torch\.float32, 받은 값: torch\.float64"):
        expect_plain_tensor(torch.zeros(2, dtype=torch.float64), "결과", dtype=torch.float32)
    with pytest.raises(AssertionError, match=r"기대: \(3,\), 받은 값: \(2,\)"):
        expect_plain_tensor(torch.zeros(2), "결과", shape=(3,))


def test_close_values_within_tolerance_pass():
    """Are values within the stated tolerance accepted, and NaN equal to NaN?"""
    expect_close(torch.tensor([1.0, float("nan")]), torch.tensor([1.0 + 1e-7, float("nan")]), "값", rtol=1e-5, atol=0)


_NAN, _INF = float("nan"), float("inf")
_VALUES = [
    torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.000002]), torch.tensor([1.0, 2.1]), torch.tensor([1.0, _NAN]),
    torch.tensor([1.0, _INF]), torch.tensor([1.0, -_INF]), torch.tensor([-0.0, 0.0]), torch.tensor([[1.0, 2.0]]),
    torch.tensor([1.0]), torch.tensor(1.0), torch.tensor([], dtype=torch.float32), torch.tensor([1, 2]),
    torch.tensor([1, 3]), torch.tensor([3, 2], dtype=torch.uint8), torch.tensor([True, False]),
    torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float16),
    torch.tensor([1.0, 2.0], dtype=torch.bfloat16), torch.tensor([1 + 1j, 2]), torch.tensor([1.0, 2.0], requires_grad=True),
]


@pytest.mark.parametrize("same_dtype", [False, True])
@pytest.mark.parametrize(("rtol", "atol"), [(0, 0), (1e-5, 1e-5), (1e-4, 1e-6), (0.1, 0)])
def test_values_close_agrees_with_assert_close(rtol, atol, same_dtype):
    """Does the comparison the checks use reach torch.testing.assert_close's verdict on every pair of values (shapes,
    dtypes, NaN, infinities, signed zeros, empty and 0-d tensors)?"""
    def assert_close_verdict(received, expected):
        try:
            torch.testing.assert_close(received, expected, rtol=rtol, atol=atol, equal_nan=True, check_dtype=same_dtype)
        except AssertionError:
            return False
        return True

    differing = [(received, expected) for received in _VALUES for expected in _VALUES
                 if values_close(received, expected, rtol=rtol, atol=atol, same_dtype=same_dtype)
                 != assert_close_verdict(received, expected)]
    assert not differing, differing[:3]
    assert values_close(_VALUES[0], _VALUES[1], rtol=rtol, atol=atol) == (rtol > 0)  # the pairs do tell apart


def test_difference_shows_input_expected_received_and_hint():
    """Does a value failure show the input, the expected and received values and the hint?"""
    with pytest.raises(AssertionError) as failure:
        expect_close(torch.tensor([2.0]), torch.tensor([1.0]), "결과", inputs="x=[1]", hint="힌트예요")
    message = str(failure.value)
    assert "입력: x=[1]" in message and "기대한 값" in message and "받은 값" in message and "힌트예요" in message


def test_call_with_copies_detects_in_place_changes():
    """Is a function that modifies its argument caught, while the caller's tensor stays intact?"""
    original = torch.tensor([1.0, -1.0])
    with pytest.raises(AssertionError, match="입력 텐서를 바꿔"):
        call_with_copies(lambda t: t.clamp_(min=0), original)
    assert torch.equal(original, torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize("assignment", published_assignments())
def test_every_test_cell_is_judged_outside_the_kernel(assignment, source_notebooks):
    """Does every graded test cell carry a judge directive (otherwise only in-kernel asserts would grade it)?"""
    for cell in source_notebooks[assignment].cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            assert directives(cell.source), meta["grade_id"]
