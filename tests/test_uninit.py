"""The uninitialized-memory check: legitimate uses of torch.empty pass, every way of reading garbage is flagged."""

from __future__ import annotations

import re

import pytest
import torch
from torch import empty as bare_empty

from autograder.checks.uninit import (
    NOT_INTERCEPTED,
    assert_no_uninitialized_reads,
    check_uninitialized_reads,
    compare_rounds,
    fill_value,
)
from autograder.engine.judge import local_function, same_values
from autograder.engine.probe import ALLOCATING_OPS, RESIZING_OPS, STORAGE_SETTING_OPS

# Storages are what this module tests; torch's deprecation notice for TypedStorage is not news here.
pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")

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


def set_to_another_tensors_storage(v):
    view = torch.zeros(0)
    view.set_(v.untyped_storage(), v.storage_offset(), v.shape, v.stride())
    return view * 2


def resize_as_then_copy(v):
    out = torch.zeros(0)
    out.resize_as_(v)
    out.copy_(v)
    return out


def shrink_with_resize_as(v):
    out = v.clone()
    out.resize_as_(v[:3])
    return out


def storage_written_before_use(v):
    storage = torch.UntypedStorage(6 * 4)
    storage.fill_(0)
    return torch.zeros(0).set_(storage, 0, (6,), (1,)) + v


def storage_from_a_list(v):
    return torch.zeros(0, dtype=torch.uint8).set_(torch.UntypedStorage([1, 2, 3, 4, 5, 6])).float() + v


def out_argument_that_grows(v):
    return torch.mul(v, 2, out=torch.zeros(0))


def empty_out_then_fill(v):
    out = torch.zeros(0)
    torch.empty(6, out=out)
    return out.fill_(1.0) + v


LEGITIMATE = [fill_then_add, copy_into, out_argument, full_slice_overwrite, loop_writes_every_element,
              zeros_and_friends, set_to_another_tensors_storage, resize_as_then_copy, shrink_with_resize_as,
              storage_written_before_use, storage_from_a_list, out_argument_that_grows, empty_out_then_fill]


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


def resize_as_growth(v):
    grown = v[:2].clone()
    grown.resize_as_(v)
    return grown


def functional_resize(v):
    return torch.ops.aten.resize(v, [8])


def set_fresh_untyped_storage(v):
    return torch.zeros(0).set_(torch.UntypedStorage(6 * 4), 0, (6,), (1,)) + v


def set_fresh_typed_storage(v):
    return torch.zeros(0).set_(torch.FloatStorage(6)) + v


def legacy_constructor_on_fresh_storage(v):
    return torch.Tensor(torch.FloatStorage(6)) * v


def set_grows_own_storage(v):
    grown = v[:2].clone()
    grown.set_(grown.untyped_storage(), 0, (6,), (1,))
    return grown


def storage_resize_then_set(v):
    storage = v[:2].clone().untyped_storage()
    storage.resize_(6 * 4)
    return torch.zeros(0).set_(storage, 0, (6,), (1,))


def empty_with_out_argument(v):
    return torch.empty(6, out=torch.zeros(0)) + v


def empty_permuted(v):
    return torch.empty_permuted((2, 3), (1, 0)).flatten() + v


def garbage_bool_storage(v):
    return torch.zeros(0, dtype=torch.bool).set_(torch.UntypedStorage(6)).any()


MISUSES = [accumulate_into_empty, partially_written, where_hides_nan, integer_buffer, bool_buffer, imported_empty,
           legacy_constructor, typed_legacy_constructor, tensor_new, empty_strided, new_empty, resize_growth,
           garbage_as_index, scalar_from_garbage, resize_as_growth, functional_resize, set_fresh_untyped_storage,
           set_fresh_typed_storage, legacy_constructor_on_fresh_storage, set_grows_own_storage,
           storage_resize_then_set, empty_with_out_argument, empty_permuted, garbage_bool_storage]


@pytest.mark.parametrize("fn", MISUSES, ids=lambda fn: fn.__name__)
def test_misuse_is_flagged(fn):
    """Is a result that depends on uninitialized memory flagged, whichever way the memory was obtained?"""
    assert check_uninitialized_reads(fn, x).depends_on_uninitialized


def _poison_the_allocator(value: float) -> None:
    """Leave freed memory holding ``value``, so that garbage would look like it if nothing filled it."""
    for size in (2, 6, 8, 64, 4096):
        leftover = torch.full((size,), value)
        del leftover


@pytest.mark.parametrize("leftover", [0.0, 1.0, -7.5, float("nan")])
@pytest.mark.parametrize("fn", MISUSES, ids=lambda fn: fn.__name__)
def test_misuse_rounds_do_not_depend_on_leftover_memory(fn, leftover):
    """Does each fill round give the same result whatever freed memory held before, so the verdict is deterministic?"""
    _poison_the_allocator(leftover)
    first = local_function(fn).rounds(x)
    _poison_the_allocator(-leftover + 3.0)
    second = local_function(fn).rounds(x)
    for one, other in zip(first, second):
        assert (one.error is None) == (other.error is None)
        if one.error is None:
            assert same_values(one.result, other.result), fn.__name__
    assert compare_rounds(first).depends_on_uninitialized


def test_storage_patches_are_undone_after_every_round():
    """Are torch.UntypedStorage's constructor and resize_ left as they were once the fill rounds are over?"""
    before = {name: torch.UntypedStorage.__dict__.get(name) for name in ("__new__", "resize_")}
    local_function(set_fresh_untyped_storage).rounds(x)
    with pytest.raises(AssertionError, match="ValueError: boom"):
        local_function(lambda v: (_ for _ in ()).throw(ValueError("boom"))).rounds(x)[0].raise_if_error("f")
    assert {name: torch.UntypedStorage.__dict__.get(name) for name in ("__new__", "resize_")} == before


def _schema_name(op) -> str:
    schema = op._schema
    return f"{schema.name}.{schema.overload_name}" if schema.overload_name else schema.name


def test_every_allocating_or_resizing_op_is_intercepted_or_explained():
    """Is every dispatcher op named like an allocating or resizing one either filled or listed with a reason?"""
    suspicious = {name for name in torch._C._dispatch_get_all_op_names()
                  if re.match(r"aten::(_?empty|new_empty|_?resize|set[._]|set$|sparse_resize|_copy_from_and_resize"
                              r"|_new_zeros|is_set_to|_cufft_set)", name)}
    intercepted = {_schema_name(op) for op in ALLOCATING_OPS | RESIZING_OPS | STORAGE_SETTING_OPS}
    unexplained = suspicious - intercepted - set(NOT_INTERCEPTED)
    assert unexplained == set(), f"decide how FillUninitialized handles {sorted(unexplained)}"
    assert set(NOT_INTERCEPTED) <= suspicious, "NOT_INTERCEPTED names ops this torch does not have"
    assert {"aten::resize_as_", "aten::set_.source_Storage", "aten::empty.out"} <= intercepted


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
    from autograder.engine.probe import FillUninitialized

    with FillUninitialized(round_index):
        allocated = ALLOCATIONS[name]()
    expected = torch.full_like(allocated, fill_value(allocated.dtype, round_index))
    assert torch.equal(allocated.nan_to_num(1.5), expected.nan_to_num(1.5)), allocated


@pytest.mark.parametrize("round_index", range(4))
def test_resize_growth_is_filled_and_kept_values_stay(round_index):
    """Does resize_ fill only the grown part with the round's value and keep the elements that were there?"""
    from autograder.engine.probe import FillUninitialized

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
    assert report.depends_on_uninitialized and "ValueError" in report.detail
