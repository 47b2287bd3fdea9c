"""Reusable checks for hidden tests: each fails with a Korean message that says what was expected and received."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from autograder.engine.judge import Call, StudentFunction, local_function


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        text = repr(value.detach().cpu())
        if len(text) > 300:
            text = text[:300] + " ..."
        return text
    return repr(value)


def expect_plain_tensor(
    value: Any,
    what: str,
    *,
    dtype: torch.dtype | None = None,
    shape: Sequence[int] | None = None,
) -> torch.Tensor:
    """Accept ``value`` only if it is exactly a ``torch.Tensor`` (not a subclass) of the given dtype and shape.

    ``what`` names the value and ends in a noun ("seeded_rand((2, 3), 0) 결과"); messages put no particle after it.
    """
    if type(value) is not torch.Tensor:
        raise AssertionError(f"{what}: 종류가 달라요. 기대: torch.Tensor, 받은 값: {type(value).__name__} 객체.")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(
            f"{what}: 자료형(dtype)이 달라요. 기대: {dtype}, 받은 값: {value.dtype}.\n"
            "텐서를 만들 때 자료형을 지정했는지, 입력의 자료형을 그대로 따르는지 확인해 보세요."
        )
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what}: 모양(shape)이 달라요. 기대: {tuple(shape)}, 받은 값: {tuple(value.shape)}.")
    return value


def values_close(received: Any, expected: Any, *, rtol: float, atol: float, same_dtype: bool = False) -> bool:
    """``torch.testing.assert_close``'s verdict (NaN equal to NaN), without what its first call costs a process.

    For two tensors: the same shape, the same dtype when ``same_dtype``, and every value within ``atol + rtol *
    |expected|`` once both are promoted to a common dtype, which is what ``assert_close`` checks for tensors on one
    device (``tests/test_checks.py`` compares the two on every pair of a range of values and dtypes). Its first call
    imports torch.distributed's tensor package (sympy with it): 0.4 s and 200,000 objects that every garbage
    collection of the grading command then walks. Anything else goes to ``assert_close`` itself.
    """
    if type(received) is not torch.Tensor or type(expected) is not torch.Tensor:
        try:
            torch.testing.assert_close(received, expected, rtol=rtol, atol=atol, equal_nan=True,
                                       check_dtype=same_dtype)
        except AssertionError:
            return False
        return True
    if received.shape != expected.shape or received.device != expected.device or (
            same_dtype and received.dtype != expected.dtype):
        return False
    common = torch.promote_types(received.dtype, expected.dtype)
    return bool(torch.isclose(received.detach().to(common), expected.detach().to(common), rtol=rtol, atol=atol,
                              equal_nan=True).all())


def expect_close(
    received: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    *,
    inputs: str = "",
    rtol: float = 0.0,
    atol: float = 0.0,
    hint: str = "",
) -> None:
    """Compare values with stated tolerances (exact by default) and explain the difference in Korean."""
    if not values_close(received, expected, rtol=rtol, atol=atol):
        parts = [f"{what}: 값이 달라요."]
        if inputs:
            parts.append(f"입력: {inputs}")
        parts.append(f"기대한 값: {_describe(expected)}")
        parts.append(f"받은 값: {_describe(received)}")
        if hint:
            parts.append(hint)
        raise AssertionError("\n".join(parts)) from None


def expect_unchanged(before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    """Fail when a function (named by ``what``) changed its input in place."""
    if not values_close(after, before, rtol=0, atol=0, same_dtype=True):
        raise AssertionError(
            f"{what} 함수가 입력 텐서를 바꿔 버렸어요. 바꿔치기(in-place) 연산(x[...] = ... 같은 대입, 이름이 밑줄(_)로 "
            "끝나는 add_ 같은 메서드, 뷰(view)에 쓰기)을 쓰면 호출한 쪽의 데이터도 바뀌어요. 새 텐서를 만들어 돌려주세요.\n"
            f"호출 전: {_describe(before)}\n호출 후: {_describe(after)}"
        )


def call_with_copies(fn: Callable[..., Any] | StudentFunction, *tensors: torch.Tensor) -> Any:
    """Call ``fn`` on copies of ``tensors``, fail if it changed them or raised, and return its result."""
    student_fn = fn if isinstance(fn, StudentFunction) else local_function(fn)
    return result_of_copies(student_fn.run(*tensors), student_fn.__name__, tensors)


def result_of_copies(call: Call, name: str, tensors: Sequence[torch.Tensor]) -> Any:
    """What :func:`call_with_copies` checks, for a call already made on copies of ``tensors`` (in a batch: the
    request is ``fn.run_request(*tensors)``): fail if the function named ``name`` raised or changed them."""
    call.raise_if_error(name)
    for original, after in zip(tensors, call.args_after):
        expect_unchanged(original, after, name)
    return call.result
