"""Decide whether a function's result depends on uninitialized memory.

``torch.empty`` and its relatives hand out memory without writing to it. Code that reads such memory before
writing every element works by luck: the garbage is often zero. Filling new allocations with NaN (what
``torch.use_deterministic_algorithms`` does) misses bugs such as ``torch.where(out > 0, out, 0)``, which turns a
NaN back into a correct-looking zero. So this module runs the function several times, each time filling every
uninitialized allocation with a different pattern (NaN, a large positive value, a large negative value, zero),
and compares the results: if they differ, the result depends on what happened to be in memory.

Allocations are intercepted at the ATen dispatcher, so every route is caught: ``torch.empty``,
``from torch import empty``, ``empty_like``, ``new_empty``, ``empty_strided``, ``torch.Tensor(n)``,
``torch.FloatTensor(n)``, ``x.new(n)`` and ``resize_`` growth.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

_aten = torch.ops.aten

# Ops whose result holds uninitialized memory. Composite ops such as ``torch.zeros`` may decompose into
# ``empty`` + ``zero_``; filling those is harmless because the later write overwrites the pattern.
_ALLOCATING_OPS = frozenset(
    op
    for op in (
        _aten.empty.memory_format,
        _aten.empty_like.default,
        _aten.new_empty.default,
        _aten.empty_strided.default,
        _aten.new_empty_strided.default,
        getattr(getattr(_aten, "empty_permuted", None), "default", None),
    )
    if op is not None
)

FILL_ROUNDS = 4
"""How many times the function runs, each with another fill pattern."""


def fill_value(dtype: torch.dtype, round_index: int) -> Any:
    """The value that uninitialized memory of ``dtype`` holds in round ``round_index``."""
    if dtype == torch.bool:
        return (True, False)[round_index % 2]
    if dtype.is_floating_point or dtype.is_complex:
        big = min(1.0e30, torch.finfo(dtype).max / 4)
        return (math.nan, big, -big, 0.0)[round_index % FILL_ROUNDS]
    info = torch.iinfo(dtype)
    # Zero is what garbage most often looks like; unsigned types already have it as their minimum.
    fourth = info.max // 2 if info.min == 0 else 0
    return (info.max, info.min, info.max // 3 + 7, fourth)[round_index % FILL_ROUNDS]


def _fill(tensor: torch.Tensor, round_index: int) -> None:
    if tensor.numel() == 0 or tensor.is_meta:
        return
    with torch.no_grad():
        tensor.fill_(fill_value(tensor.dtype, round_index))


class _FillUninitialized(TorchDispatchMode):
    """Fills every uninitialized allocation with the pattern of one round."""

    def __init__(self, round_index: int) -> None:
        super().__init__()
        self.round_index = round_index
        self.allocations = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func is _aten.resize_.default:
            target = args[0]
            old_numel = target.numel()
            out = func(*args, **kwargs)
            if out.numel() > old_numel and out.is_contiguous():
                self.allocations += 1
                _fill(out.view(-1)[old_numel:], self.round_index)
            return out
        out = func(*args, **kwargs)
        if func in _ALLOCATING_OPS and isinstance(out, torch.Tensor):
            self.allocations += 1
            _fill(out, self.round_index)
        return out


@dataclass
class UninitializedReadReport:
    """What running a function under every fill pattern showed."""

    depends_on_uninitialized: bool
    allocations: int
    detail: str = ""


def _copy_arguments(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    def clone(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().clone().requires_grad_(value.requires_grad)
        return value

    args, kwargs = pytree.tree_map(clone, (args, kwargs))
    return copy.deepcopy(args), copy.deepcopy(kwargs)


def _leaf_summary(leaf: Any) -> Any:
    if isinstance(leaf, torch.Tensor):
        return leaf.detach().cpu().clone()
    return leaf


def _same_leaf(first: Any, other: Any) -> tuple[bool, str]:
    """Whether two result leaves agree exactly (NaN equals NaN); otherwise a short description of the difference."""
    if isinstance(first, torch.Tensor) != isinstance(other, torch.Tensor):
        return False, "type"
    if isinstance(first, torch.Tensor):
        if first.shape != other.shape or first.dtype != other.dtype:
            return False, f"shape/dtype {tuple(first.shape)}/{first.dtype} vs {tuple(other.shape)}/{other.dtype}"
        if first.dtype == torch.bool or not (first.dtype.is_floating_point or first.dtype.is_complex):
            differ = first != other
        else:
            differ = (first != other) & ~(first.isnan() & other.isnan())
        count = int(differ.sum())
        return count == 0, f"{count} of {first.numel()} elements"
    if isinstance(first, float) and isinstance(other, float) and math.isnan(first) and math.isnan(other):
        return True, ""
    try:
        return bool(first == other), f"{first!r} vs {other!r}"
    except Exception:  # noqa: BLE001 - an object that cannot be compared is treated as different
        return False, "incomparable"


def _run_round(fn: Callable, args: tuple, kwargs: dict, round_index: int) -> tuple[str, Any, int]:
    call_args, call_kwargs = _copy_arguments(args, kwargs)
    mode = _FillUninitialized(round_index)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            with mode:
                result = fn(*call_args, **call_kwargs)
        except Exception as error:  # noqa: BLE001 - compared across rounds below
            return "error", error, mode.allocations
    leaves, spec = pytree.tree_flatten((result, call_args, call_kwargs))
    return "ok", ([_leaf_summary(leaf) for leaf in leaves], spec), mode.allocations


def check_uninitialized_reads(fn: Callable, *args: Any, **kwargs: Any) -> UninitializedReadReport:
    """Run ``fn(*args, **kwargs)`` once per fill pattern and report whether the results differ.

    The arguments are copied for every round, so in-place changes to them are compared too (a function that
    writes garbage into an ``out`` argument is caught). The global RNG is seeded identically for every round.
    If every round raises, the first exception is raised again: that is the function's own error.
    """
    rounds = [_run_round(fn, args, kwargs, index) for index in range(FILL_ROUNDS)]
    allocations = max(count for _, _, count in rounds)
    statuses = {status for status, _, _ in rounds}
    if statuses == {"error"}:
        raise rounds[0][1]
    if statuses == {"error", "ok"}:
        failing = [index for index, (status, _, _) in enumerate(rounds) if status == "error"]
        error = rounds[failing[0]][1]
        return UninitializedReadReport(True, allocations, f"raised {type(error).__name__} in fill round {failing[0]}")
    first_leaves, first_spec = rounds[0][1]
    for round_index, (_, (leaves, spec), _) in enumerate(rounds[1:], start=1):
        if spec != first_spec or len(leaves) != len(first_leaves):
            return UninitializedReadReport(True, allocations, f"result structure changed in fill round {round_index}")
        for leaf_index, (first, other) in enumerate(zip(first_leaves, leaves)):
            same, how = _same_leaf(first, other)
            if not same:
                where = "return value" if leaf_index < _count_result_leaves(first_spec) else "an argument"
                return UninitializedReadReport(
                    True, allocations, f"{where} leaf {leaf_index} differs in fill round {round_index}: {how}"
                )
    return UninitializedReadReport(False, allocations)


def _count_result_leaves(spec: pytree.TreeSpec) -> int:
    return spec.child(0).num_leaves


def assert_no_uninitialized_reads(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> None:
    """Fail with a Korean explanation when ``fn``'s result depends on uninitialized memory."""
    report = check_uninitialized_reads(fn, *args, **kwargs)
    if report.depends_on_uninitialized:
        label = name or getattr(fn, "__name__", "함수")
        raise AssertionError(
            f"`{label}`의 결과가 초기화되지 않은 메모리(쓰레기 값, garbage value)에 따라 달라져요. "
            "torch.empty 계열로 만든 텐서를 모든 원소에 값을 쓰기 전에 읽고 있지 않은지 확인해 보세요. "
            "우연히 0이 들어 있으면 맞아 보이지만, 다른 컴퓨터에서는 틀린 답이 나와요. "
            f"(검사 정보: 메모리를 {FILL_ROUNDS}가지 값으로 채워 실행했더니 결과가 달라졌어요: {report.detail})"
        )
