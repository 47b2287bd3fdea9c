"""Decide whether a function's result depends on uninitialized memory.

``torch.empty`` and its relatives hand out memory without writing to it. Code that reads such memory before
writing every element works by luck: the garbage is often zero. Filling new allocations with NaN (what
``torch.use_deterministic_algorithms`` does) misses bugs such as ``torch.where(out > 0, out, 0)``, which turns a
NaN back into a correct-looking zero. So the function runs several times, each time with every uninitialized
allocation filled with a different pattern (NaN, a large positive value, a large negative value, zero), and the
results are compared: if they differ, the result depends on what happened to be in memory.

Allocations are intercepted at the ATen dispatcher (:class:`autograder.engine.probe.FillUninitialized`), so every route
is caught: ``torch.empty``, ``from torch import empty``, ``empty_like``, ``new_empty``, ``empty_strided``,
``empty_permuted``, ``torch.Tensor(n)``, ``torch.FloatTensor(n)``, ``x.new(n)``, ``torch.empty(n, out=t)``, growth
by ``resize_``, ``resize_as_`` and the functional ``resize``, storages grown by ``set_``, and storages made directly
(``torch.UntypedStorage(n)``, ``torch.FloatStorage(n)``, ``storage.resize_``) then viewed with ``set_`` or
``torch.Tensor(storage)``. :data:`NOT_INTERCEPTED` lists the other dispatcher ops whose names suggest allocating or
resizing, and why they cannot hand out unwritten memory; a test keeps the two lists complete for the installed
torch. Not covered: ``numpy.empty`` converted with ``torch.from_numpy`` (NumPy allocates it, not torch).

The runs happen where the function lives (the student's kernel, through the probe); the comparison happens here,
in the grader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autograder.engine.judge import Call, StudentFunction, local_function, same_values
from autograder.engine.probe import FILL_ROUNDS, fill_value

NOT_INTERCEPTED = {
    "aten::_copy_from_and_resize": "copies every element of its source into the resized result",
    "aten::_copy_from_and_resize.out": "copies every element of its source into the resized result",
    "aten::_new_zeros_with_same_feature_meta": "fills its result with zeros",
    "aten::_new_zeros_with_same_feature_meta.out": "fills its result with zeros",
    "aten::is_set_to": "a query: allocates nothing",
    "aten::set_data": "swaps in another tensor's data (`x.data = y`): the values were written when y was made",
    "aten::resize_as_sparse": "sparse tensors store only the values written into them",
    "aten::resize_as_sparse.out": "sparse tensors store only the values written into them",
    "aten::resize_as_sparse_": "sparse tensors store only the values written into them",
    "aten::sparse_resize": "sparse tensors store only the values written into them",
    "aten::sparse_resize.out": "sparse tensors store only the values written into them",
    "aten::sparse_resize_": "sparse tensors store only the values written into them",
    "aten::sparse_resize_and_clear": "clears the sparse tensor it resizes",
    "aten::sparse_resize_and_clear.out": "clears the sparse tensor it resizes",
    "aten::sparse_resize_and_clear_": "clears the sparse tensor it resizes",
    "aten::_cufft_set_plan_cache_max_size": "a CUDA FFT setting: allocates no tensor",
}
"""Dispatcher ops named like allocating or resizing ones that :class:`FillUninitialized` leaves alone, and why."""

__all__ = ["FILL_ROUNDS", "NOT_INTERCEPTED", "UninitializedReadReport", "assert_no_uninitialized_reads",
           "assert_no_uninitialized_reads_in", "check_uninitialized_reads", "fill_value"]


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
        index = failing[0]
        return UninitializedReadReport(
            True, f"채우는 값만 바꿨는데 {index + 1}번째 채우기에서만 {rounds[index].error['type']} 오류가 났어요")
    if failing:
        return UninitializedReadReport(False)
    first = rounds[0]
    for index, call in enumerate(rounds[1:], start=1):
        if not same_values(first.result, call.result):
            return UninitializedReadReport(
                True, f"채우는 값만 바꿨는데 1번째와 {index + 1}번째 채우기의 반환값이 달라요")
        if not same_values(list(first.args_after), list(call.args_after)):
            return UninitializedReadReport(
                True, f"채우는 값만 바꿨는데 1번째와 {index + 1}번째 채우기에서 인자가 다르게 바뀌었어요")
    return UninitializedReadReport(False)


def check_uninitialized_reads(fn: Callable | StudentFunction, *args: Any) -> UninitializedReadReport:
    """Run ``fn(*args)`` once per fill pattern (on copies of ``args``) and report whether the results differ.

    If every round raises, the function's own error is raised again as a failing check.
    """
    student_fn = _as_student_function(fn)
    return _report(student_fn.rounds(*args), student_fn.__name__)


def _report(rounds: list[Call], name: str) -> UninitializedReadReport:
    if all(call.error for call in rounds):
        rounds[0].raise_if_error(name)
    return compare_rounds(rounds)


def assert_no_uninitialized_reads(fn: Callable | StudentFunction, *args: Any, name: str | None = None) -> None:
    """Fail with a Korean explanation when ``fn``'s result depends on uninitialized memory."""
    _fail_if_depends(check_uninitialized_reads(fn, *args), name or getattr(fn, "__name__", "이"))


def assert_no_uninitialized_reads_in(rounds: list[Call], name: str) -> None:
    """What :func:`assert_no_uninitialized_reads` checks, for fill rounds already run (in a batch: the request is
    ``fn.run_request(*args, rounds=True)``) of the function named ``name``."""
    _fail_if_depends(_report(rounds, name), name)


def _fail_if_depends(report: UninitializedReadReport, label: str) -> None:
    if report.depends_on_uninitialized:
        raise AssertionError(
            f"{label} 함수의 결과가 초기화되지 않은 메모리(쓰레기 값, garbage value)에 따라 달라져요. "
            "torch.empty 계열로 만든 텐서를 모든 원소에 값을 쓰기 전에 읽고 있지 않은지 확인해 보세요. "
            "우연히 메모리가 깨끗하면(모두 0) 맞아 보이지만, 다른 컴퓨터에서는 틀린 답이 나와요.\n"
            f"검사 방법: 새로 받은 메모리를 {FILL_ROUNDS}가지 값(실수라면 NaN, 아주 큰 양수, 아주 큰 음수, 0)으로 채워 가며 "
            f"실행했더니, {report.detail}."
        )
