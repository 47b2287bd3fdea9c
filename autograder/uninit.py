"""Decide whether a function's result depends on uninitialized memory.

``torch.empty`` and its relatives hand out memory without writing to it. Code that reads such memory before
writing every element works by luck: the garbage is often zero. Filling new allocations with NaN (what
``torch.use_deterministic_algorithms`` does) misses bugs such as ``torch.where(out > 0, out, 0)``, which turns a
NaN back into a correct-looking zero. So the function runs several times, each time with every uninitialized
allocation filled with a different pattern (NaN, a large positive value, a large negative value, zero), and the
results are compared: if they differ, the result depends on what happened to be in memory.

Allocations are intercepted at the ATen dispatcher (:class:`autograder.probe.FillUninitialized`), so every route
is caught: ``torch.empty``, ``from torch import empty``, ``empty_like``, ``new_empty``, ``empty_strided``,
``torch.Tensor(n)``, ``torch.FloatTensor(n)``, ``x.new(n)`` and ``resize_`` growth. The runs happen where the
function lives (the student's kernel, through the probe); the comparison happens here, in the grader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autograder.judge import Call, StudentFunction, local_function, same_values
from autograder.probe import FILL_ROUNDS, fill_value

__all__ = ["FILL_ROUNDS", "UninitializedReadReport", "assert_no_uninitialized_reads", "check_uninitialized_reads",
           "fill_value"]


@dataclass
class UninitializedReadReport:
    """What running a function under every fill pattern showed."""

    depends_on_uninitialized: bool
    detail: str = ""


def _as_student_function(fn: Callable | StudentFunction) -> StudentFunction:
    return fn if isinstance(fn, StudentFunction) else local_function(fn)


def compare_rounds(rounds: list[Call]) -> UninitializedReadReport:
    """Whether the calls of the fill rounds disagree (results, changed arguments, or raising in some rounds only)."""
    failing = [index for index, call in enumerate(rounds) if call.error]
    if failing and len(failing) < len(rounds):
        return UninitializedReadReport(True, f"raised {rounds[failing[0]].error['type']} in fill round {failing[0]}")
    if failing:
        return UninitializedReadReport(False)
    first = rounds[0]
    for index, call in enumerate(rounds[1:], start=1):
        if not same_values(first.result, call.result):
            return UninitializedReadReport(True, f"the return value differs in fill round {index}")
        if not same_values(list(first.args_after), list(call.args_after)):
            return UninitializedReadReport(True, f"an argument changed differently in fill round {index}")
    return UninitializedReadReport(False)


def check_uninitialized_reads(fn: Callable | StudentFunction, *args: Any) -> UninitializedReadReport:
    """Run ``fn(*args)`` once per fill pattern (on copies of ``args``) and report whether the results differ.

    If every round raises, the function's own error is raised again as a failing check.
    """
    student_fn = _as_student_function(fn)
    rounds = student_fn.rounds(*args)
    if all(call.error for call in rounds):
        rounds[0].raise_if_error(f"`{student_fn.__name__}`")
    return compare_rounds(rounds)


def assert_no_uninitialized_reads(fn: Callable | StudentFunction, *args: Any, name: str | None = None) -> None:
    """Fail with a Korean explanation when ``fn``'s result depends on uninitialized memory."""
    report = check_uninitialized_reads(fn, *args)
    if report.depends_on_uninitialized:
        label = name or getattr(fn, "__name__", "함수")
        raise AssertionError(
            f"`{label}`의 결과가 초기화되지 않은 메모리(쓰레기 값, garbage value)에 따라 달라져요. "
            "torch.empty 계열로 만든 텐서를 모든 원소에 값을 쓰기 전에 읽고 있지 않은지 확인해 보세요. "
            "우연히 0이 들어 있으면 맞아 보이지만, 다른 컴퓨터에서는 틀린 답이 나와요. "
            f"(검사 정보: 메모리를 {FILL_ROUNDS}가지 값으로 채워 실행했더니 결과가 달라졌어요: {report.detail})"
        )
