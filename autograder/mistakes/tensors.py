"""Mistake bank and correct alternatives of 00_tensors."""

from __future__ import annotations

from textwrap import dedent

from autograder.mistakes import Alternative, Mistake


def _cell(source: str) -> str:
    return dedent(source).strip("\n")


SEEDED_RAND = "seeded_rand_solution"
PICK_DEVICE = "pick_device_solution"
NUMPY = "numpy_to_float32_solution"
FLATTEN = "flatten_per_sample_solution"
ROWS = "row_proportions_solution"
CLIP = "clip_negatives_solution"
COLUMNS = "column_sums_solution"
PREFIX = "prefix_sums_solution"

SEEDED_RAND_TEST = ("seeded_rand_reproducible_without_global_seed",)
PICK_DEVICE_TEST = ("pick_device_follows_cuda_availability",)
NUMPY_TEST = ("numpy_to_float32_copies",)
FLATTEN_TEST = ("flatten_per_sample_shapes",)
ROWS_TEST = ("row_proportions_divides_by_row_sums",)
CLIP_TEST = ("clip_negatives_out_of_place",)
COLUMNS_TEST = ("column_sums_starts_from_zero",)
PREFIX_TEST = ("prefix_sums_fills_every_element",)

MISTAKES = [
    # --- seeded_rand -------------------------------------------------------------------------------------------
    Mistake("seeded_rand_global_seed", "seeds the global RNG with torch.manual_seed (passes the visible test)",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    torch.manual_seed(seed)
                    return torch.rand(shape)
            """)}, SEEDED_RAND_TEST, warned_in_text=True),
    Mistake("seeded_rand_normal", "draws from a normal distribution with randn",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            """)}, SEEDED_RAND_TEST),
    Mistake("seeded_rand_unseeded", "forgets the seed entirely",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape)
            """)}, SEEDED_RAND_TEST),
    Mistake("seeded_rand_fixed_seed", "seeds the generator with a constant instead of the argument",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape, generator=torch.Generator().manual_seed(0))
            """)}, SEEDED_RAND_TEST),
    Mistake("seeded_rand_float64", "returns float64 instead of the default float32",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            """)}, SEEDED_RAND_TEST),
    Mistake("seeded_rand_sigmoid_normal", "squashes randn with sigmoid: inside [0, 1) with mean 0.5, but not uniform",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    return torch.sigmoid(torch.randn(shape, generator=torch.Generator().manual_seed(seed)))
            """)}, SEEDED_RAND_TEST),
    Mistake("seeded_rand_numpy_global_seed", "seeds NumPy's global RNG with np.random.seed (the text forbids it)",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    np.random.seed(seed)
                    return torch.from_numpy(np.random.rand(*shape).astype(np.float32))
            """)}, SEEDED_RAND_TEST, warned_in_text=True),
    Mistake("seeded_rand_assumes_2d", "unpacks shape into rows and columns: only 2-D shapes work",
            {SEEDED_RAND: _cell("""
                def seeded_rand(shape, seed):
                    rows, cols = shape
                    return torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))
            """)}, SEEDED_RAND_TEST),
    # --- pick_device -------------------------------------------------------------------------------------------
    Mistake("pick_device_always_cpu", "hard-codes the CPU (passes the visible test on a laptop without a GPU)",
            {PICK_DEVICE: _cell("""
                def pick_device():
                    return torch.device("cpu")
            """)}, PICK_DEVICE_TEST),
    Mistake("pick_device_always_cuda", "hard-codes CUDA",
            {PICK_DEVICE: _cell("""
                def pick_device():
                    return torch.device("cuda")
            """)}, PICK_DEVICE_TEST),
    Mistake("pick_device_uncalled_check", "tests the function object torch.cuda.is_available, which is always truthy",
            {PICK_DEVICE: _cell("""
                def pick_device():
                    return torch.device("cuda" if torch.cuda.is_available else "cpu")
            """)}, PICK_DEVICE_TEST),
    Mistake("pick_device_decided_at_definition", "checks once when the cell runs, not each time it is called",
            {PICK_DEVICE: _cell("""
                DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

                def pick_device():
                    return DEVICE
            """)}, PICK_DEVICE_TEST),
    Mistake("pick_device_accelerator_unchecked", "current_accelerator() names CUDA on a CUDA build without a GPU",
            {PICK_DEVICE: _cell("""
                def pick_device():
                    return torch.accelerator.current_accelerator() or torch.device("cpu")
            """)}, PICK_DEVICE_TEST),
    # --- numpy_to_float32 --------------------------------------------------------------------------------------
    Mistake("numpy_from_numpy_float", "from_numpy(...).float() shares memory when the array is already float32",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    return torch.from_numpy(arr).float()
            """)}, NUMPY_TEST, warned_in_text=True),
    Mistake("numpy_as_tensor", "as_tensor shares memory when no conversion is needed",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    return torch.as_tensor(arr, dtype=torch.float32)
            """)}, NUMPY_TEST, warned_in_text=True),
    Mistake("numpy_from_numpy_only", "from_numpy keeps float64 and shares memory",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    return torch.from_numpy(arr)
            """)}, NUMPY_TEST, warned_in_text=True),
    Mistake("numpy_tensor_keeps_dtype", "torch.tensor copies but keeps the array's dtype",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    return torch.tensor(arr)
            """)}, NUMPY_TEST),
    Mistake("numpy_legacy_float_tensor", "torch.FloatTensor(arr), the old constructor, shares a float32 array's memory",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    return torch.FloatTensor(arr)
            """)}, NUMPY_TEST, warned_in_text=True),
    Mistake("numpy_scales_integers", "divides integer arrays by 255 as torchvision's ToTensor does for images",
            {NUMPY: _cell("""
                def numpy_to_float32(arr):
                    result = torch.tensor(arr, dtype=torch.float32)
                    if arr.dtype.kind in "iu":
                        result = result / 255
                    return result
            """)}, NUMPY_TEST),
    # --- flatten_per_sample ------------------------------------------------------------------------------------
    Mistake("flatten_view", "view fails on non-contiguous input (passes the visible test)",
            {FLATTEN: _cell("""
                def flatten_per_sample(batch):
                    return batch.view(batch.shape[0], -1)
            """)}, FLATTEN_TEST, warned_in_text=True),
    Mistake("flatten_hardcoded_4d", "assumes a 4-D image batch",
            {FLATTEN: _cell("""
                def flatten_per_sample(batch):
                    n, c, h, w = batch.shape
                    return batch.reshape(n, c * h * w)
            """)}, FLATTEN_TEST),
    Mistake("flatten_everything", "flattens the batch dimension too",
            {FLATTEN: _cell("""
                def flatten_per_sample(batch):
                    return batch.flatten()
            """)}, FLATTEN_TEST),
    Mistake("flatten_last_dim", "keeps the last dimension instead of the first",
            {FLATTEN: _cell("""
                def flatten_per_sample(batch):
                    return batch.reshape(-1, batch.shape[-1])
            """)}, FLATTEN_TEST),
    # --- row_proportions ---------------------------------------------------------------------------------------
    Mistake("rows_without_keepdim", "divides by sum(dim=1) without keepdim: square inputs broadcast along columns",
            {ROWS: _cell("""
                def row_proportions(x):
                    return x / x.sum(dim=1)
            """)}, ROWS_TEST, warned_in_text=True),
    Mistake("rows_column_sums", "divides by column sums",
            {ROWS: _cell("""
                def row_proportions(x):
                    return x / x.sum(dim=0, keepdim=True)
            """)}, ROWS_TEST),
    Mistake("rows_global_sum", "divides by the sum of the whole tensor",
            {ROWS: _cell("""
                def row_proportions(x):
                    return x / x.sum()
            """)}, ROWS_TEST),
    Mistake("rows_in_place", "divides in place, changing the caller's tensor (passes the visible test)",
            {ROWS: _cell("""
                def row_proportions(x):
                    return x.div_(x.sum(dim=1, keepdim=True))
            """)}, ROWS_TEST, warned_in_text=True),
    Mistake("rows_float_cast", "adds .float() to the result: float64 inputs come back as float32",
            {ROWS: _cell("""
                def row_proportions(x):
                    return (x / x.sum(dim=1, keepdim=True)).float()
            """)}, ROWS_TEST),
    # --- clip_negatives ----------------------------------------------------------------------------------------
    Mistake("clip_mask_assign_in_place", "assigns through a mask on the input itself",
            {CLIP: _cell("""
                def clip_negatives(x):
                    x[x < 0] = 0
                    return x
            """)}, CLIP_TEST, warned_in_text=True),
    Mistake("clip_clamp_in_place", "uses the in-place clamp_",
            {CLIP: _cell("""
                def clip_negatives(x):
                    return x.clamp_(min=0)
            """)}, CLIP_TEST, warned_in_text=True),
    Mistake("clip_empty_partially_written", "copies the positives into torch.empty_like and never writes the rest",
            {CLIP: _cell("""
                def clip_negatives(x):
                    out = torch.empty_like(x)
                    keep = x > 0
                    out[keep] = x[keep]
                    return out
            """)}, CLIP_TEST, warned_in_text=True),
    Mistake("clip_empty_where_hides_nan", "reads garbage through torch.where: NaN filling alone cannot see this",
            {CLIP: _cell("""
                def clip_negatives(x):
                    out = torch.empty_like(x)
                    keep = x > 0
                    out[keep] = x[keep]
                    return torch.where(out > 0, out, 0.0)
            """)}, CLIP_TEST),
    Mistake("clip_float_zero_promotes_dtype", "torch.where with a new float32 zeros tensor changes float64 inputs",
            {CLIP: _cell("""
                def clip_negatives(x):
                    return torch.where(x < 0, torch.zeros(x.shape), x).float()
            """)}, CLIP_TEST),
    # --- column_sums -------------------------------------------------------------------------------------------
    Mistake("columns_original_bug", "keeps accumulating into torch.empty",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = torch.empty(x.shape[1])
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True),
    Mistake("columns_nan_to_num", "hides the NaN of the visible test with nan_to_num (passes the visible test)",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = torch.nan_to_num(torch.empty(x.shape[1], dtype=x.dtype))
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST),
    Mistake("columns_float_zeros", "starts from float32 zeros, so integer inputs give float sums",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[1])
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True),
    Mistake("columns_alias_first_row", "starts from x[0], a view, and so adds into the caller's tensor",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = x[0]
                    for row in x[1:]:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True),
    Mistake("columns_wrong_length", "allocates one entry per row instead of per column",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[0], dtype=x.dtype)
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST),
    Mistake("columns_int_or_float32", "keeps integers as the text asks but turns every float input into float32",
            {COLUMNS: _cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[1], dtype=torch.int64 if x.dtype == torch.int64 else torch.float32)
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST),
    # --- prefix_sums -------------------------------------------------------------------------------------------
    Mistake("prefix_skips_first", "starts the loop at 1 and never writes out[0]",
            {PREFIX: _cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    for i in range(1, len(x)):
                        out[i] = out[i - 1] + x[i]
                    return out
            """)}, PREFIX_TEST, warned_in_text=True),
    Mistake("prefix_reads_before_write", "out[0] = out[-1] + x[0] reads the unwritten last element",
            {PREFIX: _cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    for i in range(len(x)):
                        out[i] = out[i - 1] + x[i]
                    return out
            """)}, PREFIX_TEST, warned_in_text=True),
    Mistake("prefix_skips_last", "off by one: the last element stays uninitialized",
            {PREFIX: _cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    running = 0
                    for i in range(len(x) - 1):
                        running = running + x[i]
                        out[i] = running
                    return out
            """)}, PREFIX_TEST, warned_in_text=True),
    Mistake("prefix_float32_buffer", "preallocates float32 whatever the input dtype",
            {PREFIX: _cell("""
                def prefix_sums(x):
                    out = torch.empty(len(x))
                    running = 0
                    for i in range(len(x)):
                        running = running + x[i]
                        out[i] = running
                    return out
            """)}, PREFIX_TEST),
]

ALTERNATIVES = [
    Alternative("seeded_rand_two_step_generator", {SEEDED_RAND: _cell("""
        def seeded_rand(shape, seed):
            g = torch.Generator()
            g.manual_seed(seed)
            return torch.empty(shape).uniform_(0, 1, generator=g)
    """)}),
    Alternative("seeded_rand_numpy_generator", {SEEDED_RAND: _cell("""
        def seeded_rand(shape, seed):
            rng = np.random.default_rng(seed)
            return torch.from_numpy(rng.random(shape, dtype=np.float32))
    """)}),
    Alternative("pick_device_string", {PICK_DEVICE: _cell("""
        def pick_device():
            if torch.cuda.is_available():
                return "cuda"
            return "cpu"
    """)}),
    Alternative("pick_device_device_count", {PICK_DEVICE: _cell("""
        def pick_device():
            return torch.device("cuda" if torch.cuda.device_count() > 0 else "cpu")
    """)}),
    Alternative("pick_device_imported_is_available", {PICK_DEVICE: _cell("""
        from torch.cuda import is_available

        def pick_device():
            return torch.device("cuda") if is_available() else torch.device("cpu")
    """)}),
    Alternative("pick_device_accelerator_checked", {PICK_DEVICE: _cell("""
        def pick_device():
            accelerator = torch.accelerator.current_accelerator(check_available=True)
            if accelerator is not None and accelerator.type == "cuda":
                return accelerator
            return torch.device("cpu")
    """)}),
    Alternative("numpy_astype_then_from_numpy", {NUMPY: _cell("""
        def numpy_to_float32(arr):
            return torch.from_numpy(arr.astype(np.float32))
    """)}),
    Alternative("numpy_from_numpy_clone", {NUMPY: _cell("""
        def numpy_to_float32(arr):
            return torch.from_numpy(arr).to(torch.float32).clone()
    """)}),
    Alternative("flatten_start_dim", {FLATTEN: _cell("""
        def flatten_per_sample(batch):
            return torch.flatten(batch, start_dim=1)
    """)}),
    Alternative("flatten_contiguous_view", {FLATTEN: _cell("""
        def flatten_per_sample(batch):
            return batch.contiguous().view(len(batch), -1)
    """)}),
    Alternative("rows_negative_dim", {ROWS: _cell("""
        def row_proportions(x):
            totals = x.sum(dim=-1).unsqueeze(1)
            return x / totals
    """)}),
    Alternative("clip_clamp", {CLIP: _cell("""
        def clip_negatives(x):
            return x.clamp(min=0)
    """)}),
    Alternative("clip_clone_then_mask", {CLIP: _cell("""
        def clip_negatives(x):
            y = x.clone()
            y[y < 0] = 0
            return y
    """)}),
    Alternative("clip_relu", {CLIP: _cell("""
        def clip_negatives(x):
            return torch.relu(x)
    """)}),
    Alternative("columns_empty_then_zero", {COLUMNS: _cell("""
        def column_sums(x):
            total = torch.empty(x.shape[1], dtype=x.dtype)
            total.zero_()
            for row in x:
                total += row
            return total
    """)}),
    Alternative("columns_builtin_sum", {COLUMNS: _cell("""
        def column_sums(x):
            return x.sum(dim=0)
    """)}),
    Alternative("prefix_first_then_loop", {PREFIX: _cell("""
        def prefix_sums(x):
            out = torch.empty_like(x)
            if len(x) > 0:
                out[0] = x[0]
            for i in range(1, len(x)):
                out[i] = out[i - 1] + x[i]
            return out
    """)}),
    Alternative("prefix_cumsum", {PREFIX: _cell("""
        def prefix_sums(x):
            return torch.cumsum(x, dim=0)
    """)}),
    Alternative("prefix_cumsum_out", {PREFIX: _cell("""
        def prefix_sums(x):
            out = torch.empty_like(x)
            torch.cumsum(x, dim=0, out=out)
            return out
    """)}),
]
