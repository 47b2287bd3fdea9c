"""Hidden checks of the fixture assignment: one ``check_<function>`` per graded cell, in the judge pattern.

Each check receives the student's functions as :class:`autograder.engine.judge.StudentFunction` handles: calling one
runs the student's code in their kernel and returns plain data; every expected value and every comparison stays here,
in the grader. The helpers are the fixture's own (the engine's tests depend on no course's checks); their names and
arguments are those of the course's helpers (``expect_close(received, expected, ...)``, ``expect_unchanged(before,
after, ...)``), which the red team's tracing attack aims at when a check runs inside the kernel.
"""

from __future__ import annotations

import torch

from autograder.engine.judge import Call, StudentFunction, same_values


def expect_plain_tensor(value, what: str, *, dtype: torch.dtype, shape) -> torch.Tensor:
    """Accept ``value`` only if it is exactly a ``torch.Tensor`` of ``dtype`` and ``shape``."""
    if type(value) is not torch.Tensor:
        raise AssertionError(f"{what}: 종류가 달라요. 기대: torch.Tensor, 받은 값: {type(value).__name__} 객체.")
    if value.dtype != dtype:
        raise AssertionError(f"{what}: 자료형(dtype)이 달라요. 기대: {dtype}, 받은 값: {value.dtype}.")
    if tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what}: 모양(shape)이 달라요. 기대: {tuple(shape)}, 받은 값: {tuple(value.shape)}.")
    return value


def expect_close(received: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Compare values (float tolerance 1e-5) and say both in Korean."""
    try:
        torch.testing.assert_close(received, expected, rtol=1e-5, atol=1e-5, equal_nan=True, check_dtype=False)
    except AssertionError:
        raise AssertionError(f"{what}: 값이 달라요.\n기대한 값: {expected!r}\n받은 값: {received!r}") from None


def expect_unchanged(before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    """Fail when a function (named by ``what``) changed its input in place."""
    try:
        torch.testing.assert_close(after, before, rtol=0, atol=0, equal_nan=True)
    except AssertionError:
        raise AssertionError(f"{what} 함수가 입력 텐서를 바꿔 버렸어요. 새 텐서를 만들어 돌려주세요.\n"
                             f"호출 전: {before!r}\n호출 후: {after!r}") from None


def call_with_copies(fn: StudentFunction, *tensors: torch.Tensor):
    """Call ``fn`` on copies of ``tensors``, fail if it raised or changed them, and return its result."""
    call = fn.run(*tensors)
    call.raise_if_error(fn.__name__)
    for original, after in zip(tensors, call.args_after):
        expect_unchanged(original, after, fn.__name__)
    return call.result


def _rounds_differ(rounds: list[Call]) -> str:
    """Why the fill rounds of one call disagree ('' when they agree)."""
    failing = [index for index, call in enumerate(rounds) if call.error]
    if failing and len(failing) < len(rounds):
        return f"{failing[0] + 1}번째 채우기에서만 오류가 났어요"
    for index, call in enumerate(rounds[1:], start=2):
        if not failing and not same_values(rounds[0].result, call.result):
            return f"1번째와 {index}번째 채우기의 반환값이 달라요"
    return ""


def assert_no_uninitialized_reads(fn: StudentFunction, *args: torch.Tensor) -> None:
    """Run ``fn`` once per fill pattern of new allocations (in the student's kernel) and compare here."""
    rounds = fn.rounds(*args)
    if all(call.error for call in rounds):
        rounds[0].raise_if_error(fn.__name__)
    reason = _rounds_differ(rounds)
    if reason:
        raise AssertionError(f"{fn.__name__} 함수의 결과가 초기화되지 않은 메모리(쓰레기 값)에 따라 달라져요. "
                             f"새로 받은 메모리를 여러 값으로 채워 가며 실행했더니 {reason}.")


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_double(double: StudentFunction) -> None:
    """Every element doubled, in a new tensor of the input's dtype; the input untouched."""
    cases = [torch.randn(5, generator=_seeded(0)), torch.randint(-9, 9, (2, 3), generator=_seeded(1)),
             torch.randn(3, generator=_seeded(2), dtype=torch.float64)]
    for x in cases:
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 결과"
        result = expect_plain_tensor(call_with_copies(double, x), what, dtype=x.dtype, shape=x.shape)
        expect_close(result, x * 2, what)


def check_column_sums(column_sums: StudentFunction) -> None:
    """Column sums in the input's dtype, never depending on uninitialized memory; the input untouched."""
    cases = [torch.randn(3, 4, generator=_seeded(0)), torch.randint(-50, 50, (5, 3), generator=_seeded(1)),
             torch.randn(4, 2, generator=_seeded(2), dtype=torch.float64)]
    for x in cases:
        assert_no_uninitialized_reads(column_sums, x)
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 열별 합"
        result = expect_plain_tensor(call_with_copies(column_sums, x), what, dtype=x.dtype, shape=(x.shape[1],))
        expect_close(result, x.sum(dim=0), what)


def check_prefix_sums(prefix_sums: StudentFunction) -> None:
    """Running sums in the input's dtype; the input untouched."""
    cases = [torch.randn(6, generator=_seeded(0)), torch.randint(-9, 9, (5,), generator=_seeded(1)),
             torch.tensor([2.5], dtype=torch.float64)]
    for x in cases:
        what = f"길이 {len(x)}, 자료형 {x.dtype} 입력의 누적 합"
        result = expect_plain_tensor(call_with_copies(prefix_sums, x), what, dtype=x.dtype, shape=x.shape)
        expect_close(result, torch.cumsum(x, dim=0), what)
