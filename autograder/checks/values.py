"""Reusable checks for hidden tests: each fails with a Korean message that says what was expected and received."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from autograder.engine.judge import StudentFunction, local_function


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
    try:
        torch.testing.assert_close(received, expected, rtol=rtol, atol=atol, equal_nan=True, check_dtype=False)
    except AssertionError:
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
    try:
        torch.testing.assert_close(after, before, rtol=0, atol=0, equal_nan=True)
    except AssertionError:
        raise AssertionError(
            f"{what} 함수가 입력 텐서를 바꿔 버렸어요. 바꿔치기(in-place) 연산(x[...] = ... 같은 대입, 이름이 밑줄(_)로 "
            "끝나는 add_ 같은 메서드, 뷰(view)에 쓰기)을 쓰면 호출한 쪽의 데이터도 바뀌어요. 새 텐서를 만들어 돌려주세요.\n"
            f"호출 전: {_describe(before)}\n호출 후: {_describe(after)}"
        ) from None


def call_with_copies(fn: Callable[..., Any] | StudentFunction, *tensors: torch.Tensor) -> Any:
    """Call ``fn`` on copies of ``tensors``, fail if it changed them or raised, and return its result."""
    student_fn = fn if isinstance(fn, StudentFunction) else local_function(fn)
    call = student_fn.run(*tensors)
    call.raise_if_error(student_fn.__name__)
    for original, after in zip(tensors, call.args_after):
        expect_unchanged(original, after, student_fn.__name__)
    return call.result
