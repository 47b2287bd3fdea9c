"""The uninitialized-memory check: legitimate uses of torch.empty pass, every way of reading garbage is flagged."""

from __future__ import annotations

import pytest
import torch
from torch import empty as bare_empty

from autograder.uninit import assert_no_uninitialized_reads, check_uninitialized_reads, fill_value

x = torch.arange(1.0, 7.0)


def fill_then_add(v):
    return torch.empty(6).fill_(1.0) + v


def copy_into(v):
    out = torch.empty_like(v)
    out.copy_(v)
    return out


def out_argument(v):
    out = torch.empty(6)
    torch.mul(v, 2, out=out)
    return out


def full_slice_overwrite(v):
    out = torch.empty(2, 3)
    out[:] = v.reshape(2, 3)
    return out


def loop_writes_every_element(v):
    out = v.new_empty(len(v))
    for i in range(len(v)):
        out[i] = v[i] * 3
    return out


def zeros_and_friends(v):
    return torch.zeros(6) + torch.ones(6) + torch.full((6,), 2.0) + torch.cat([v[:3], v[3:]])


LEGITIMATE = [fill_then_add, copy_into, out_argument, full_slice_overwrite, loop_writes_every_element,
              zeros_and_friends]


@pytest.mark.parametrize("fn", LEGITIMATE, ids=lambda fn: fn.__name__)
def test_legitimate_use_passes(fn):
    """Does a function that writes every element before reading it pass the check?"""
    report = check_uninitialized_reads(fn, x)
    assert not report.depends_on_uninitialized, report.detail


def accumulate_into_empty(v):
    total = torch.empty(6)
    total += v
    return total


def partially_written(v):
    out = torch.empty(6)
    out[:3] = v[:3]
    return out


def where_hides_nan(v):
    out = torch.empty_like(v)
    keep = v > 3
    out[keep] = v[keep]
    return torch.where(out > 0, out, 0.0)


def integer_buffer(v):
    counts = torch.empty(6, dtype=torch.int64)
    counts[1:] = 1
    return counts.sum()


def bool_buffer(v):
    flags = torch.empty(6, dtype=torch.bool)
    flags[1:] = True
    return flags.all()


def imported_empty(v):
    return bare_empty(6) * 0 + v


def legacy_constructor(v):
    return torch.Tensor(6).abs()


def typed_legacy_constructor(v):
    return torch.FloatTensor(6) + v


def tensor_new(v):
    return v.new(6) + v


def empty_strided(v):
    return torch.empty_strided((6,), (1,)) + v


def new_empty(v):
    return v.new_empty(6) + v


def resize_growth(v):
    grown = v.clone()
    grown.resize_(8)
    return grown


def garbage_as_index(v):
    index = torch.empty(1, dtype=torch.int64)
    return v[index.clamp(0, 5)]


def scalar_from_garbage(v):
    return float(torch.empty(1).clamp(-1, 1))


MISUSES = [accumulate_into_empty, partially_written, where_hides_nan, integer_buffer, bool_buffer, imported_empty,
           legacy_constructor, typed_legacy_constructor, tensor_new, empty_strided, new_empty, resize_growth,
           garbage_as_index, scalar_from_garbage]


@pytest.mark.parametrize("fn", MISUSES, ids=lambda fn: fn.__name__)
def test_misuse_is_flagged(fn):
    """Is a result that depends on uninitialized memory flagged, whichever way the memory was obtained?"""
    assert check_uninitialized_reads(fn, x).depends_on_uninitialized


def test_nan_filling_alone_misses_the_where_bug():
    """Does the where-bug really pass under PyTorch's own NaN filling (so the extra patterns are needed)?"""
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        under_nan = where_hides_nan(x)
    finally:
        torch.use_deterministic_algorithms(False)
    assert torch.equal(under_nan, torch.where(x > 3, x, 0.0))
    assert check_uninitialized_reads(where_hides_nan, x).depends_on_uninitialized


def test_garbage_written_into_an_argument_is_flagged():
    """Is a function that copies garbage into its ``out`` argument flagged even though it returns nothing?"""

    def write_garbage(out):
        out.copy_(torch.empty(3))

    assert check_uninitialized_reads(write_garbage, torch.zeros(3)).depends_on_uninitialized


def test_arguments_are_copied_for_every_round():
    """Does an in-place change of an argument leave the caller's tensor alone and not look like garbage?"""
    caller = torch.ones(3)

    def add_in_place(v):
        v.add_(1)
        return v

    assert not check_uninitialized_reads(add_in_place, caller).depends_on_uninitialized
    assert torch.equal(caller, torch.ones(3))


def test_the_functions_own_error_is_raised():
    """Is an error raised in every round reported as the student's own error (type and message)?"""

    def broken(v):
        raise ValueError("student bug")

    with pytest.raises(AssertionError, match="ValueError.*student bug"):
        check_uninitialized_reads(broken, x)


def test_failure_message_is_korean_and_names_the_function():
    """Does the failure say, in Korean, which function read uninitialized memory?"""
    with pytest.raises(AssertionError, match="accumulate_into_empty.*초기화되지 않은 메모리"):
        assert_no_uninitialized_reads(accumulate_into_empty, x)


def test_random_functions_are_compared_with_the_same_seed():
    """Is a function that draws random numbers (but never reads garbage) left unflagged?"""
    assert not check_uninitialized_reads(lambda v: torch.rand(3) + v[:3], x).depends_on_uninitialized


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8,
                                   torch.uint8, torch.int32, torch.int64, torch.complex64])
def test_fill_patterns_differ_and_fit_the_dtype(dtype):
    """Do the fill patterns of every dtype fit in it and differ from each other (except NaN, which differs anyway)?"""
    values = [torch.full((1,), fill_value(dtype, k), dtype=dtype) for k in range(4)]
    assert all(torch.isfinite(v).all() or torch.isnan(v).all() for v in values)
    assert len({v.item() if not torch.isnan(v).any() else "nan" for v in values}) == 4


# -- each interception, proved without relying on what leftover memory holds ----------------------------------

ALLOCATIONS = {
    "empty": lambda: torch.empty(5),
    "imported_empty": lambda: bare_empty(5),
    "empty_like": lambda: torch.empty_like(x),
    "new_empty": lambda: x.new_empty(5),
    "empty_strided": lambda: torch.empty_strided((5,), (1,)),
    "new_empty_strided": lambda: x.new_empty_strided((5,), (1,)),
    "legacy_constructor": lambda: torch.Tensor(5),
    "typed_legacy_constructor": lambda: torch.FloatTensor(5),
    "tensor_new": lambda: x.new(5),
}


@pytest.mark.parametrize("round_index", range(4))
@pytest.mark.parametrize("name", sorted(ALLOCATIONS))
def test_every_allocation_route_is_filled_with_the_rounds_pattern(name, round_index):
    """Does each way of getting uninitialized memory come back holding exactly this round's fill value?"""
    from autograder.probe import FillUninitialized

    with FillUninitialized(round_index):
        allocated = ALLOCATIONS[name]()
    expected = torch.full_like(allocated, fill_value(allocated.dtype, round_index))
    assert torch.equal(allocated.nan_to_num(1.5), expected.nan_to_num(1.5)), allocated


@pytest.mark.parametrize("round_index", range(4))
def test_resize_growth_is_filled_and_kept_values_stay(round_index):
    """Does resize_ fill only the grown part with the round's value and keep the elements that were there?"""
    from autograder.probe import FillUninitialized

    grown = torch.arange(3.0)
    with FillUninitialized(round_index):
        grown.resize_(7)
    tail = torch.full((4,), fill_value(torch.float32, round_index))
    assert torch.equal(grown[:3], torch.arange(3.0))
    assert torch.equal(grown[3:].nan_to_num(1.5), tail.nan_to_num(1.5))


def test_raising_in_some_rounds_only_is_flagged():
    """Is a function that raises only for some garbage (and returns in the other rounds) flagged?"""

    def raises_on_nan_garbage(v):
        if torch.empty(1).isnan().any():
            raise ValueError("garbage was NaN")
        return v * 2

    report = check_uninitialized_reads(raises_on_nan_garbage, x)
    assert report.depends_on_uninitialized and "raised ValueError" in report.detail
