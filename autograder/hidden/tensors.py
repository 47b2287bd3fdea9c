"""Hidden tests of assignment 00_tensors: one ``check_<function>`` per graded cell.

Each check receives the student's functions as :class:`autograder.judge.StudentFunction` handles: calling one runs
the student's code in their kernel and returns plain data, and every expected value and comparison stays here.
The notebook names a check in its hidden block: ``# judge: autograder.hidden.tensors.check_prefix_sums(prefix_sums)``.
"""

from __future__ import annotations


import numpy as np
import torch

from autograder.checks import call_with_copies, expect_close, expect_plain_tensor
from autograder.judge import StudentFunction
from autograder.uninit import assert_no_uninitialized_reads


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_seeded_rand(seeded_rand: StudentFunction) -> None:
    """Reproducible, seed-dependent, uniform on [0, 1), float32, and the global RNG state left alone."""
    for shape, seed in [((2, 3), 0), ((4,), 123), ((3, 2, 2), 2**31 - 1)]:
        call = seeded_rand.run(shape, seed)
        call.raise_if_error(f"seeded_rand({shape}, {seed})")
        if call.global_rng_changed:
            raise AssertionError(
                "전역 난수 상태(global RNG state)가 바뀌었어요. torch.manual_seed(seed)는 프로그램 전체의 난수에 영향을 줘요. "
                "torch.Generator().manual_seed(seed)로 전용 생성기를 만들어 generator=로 넘겨 주세요."
            )
        result = call.result
        expect_plain_tensor(result, f"seeded_rand({shape}, {seed})의 결과", dtype=torch.float32, shape=shape)
        again = seeded_rand(shape, seed)
        expect_close(again, result, f"seeded_rand({shape}, {seed})를 두 번 부른 결과", hint="같은 seed면 같은 값이어야 해요.")
    first, second = seeded_rand((1000,), 1), seeded_rand((1000,), 2)
    if torch.equal(first, second):
        raise AssertionError("seed가 1일 때와 2일 때 값이 똑같아요. 받은 seed를 생성기에 넘겼는지 확인해 보세요.")
    sample = seeded_rand((20_000,), 7)
    inside = bool(((sample >= 0) & (sample < 1)).all())
    mean = float(sample.mean())
    if not inside or abs(mean - 0.5) > 0.02:
        raise AssertionError(
            f"[0, 1) 구간의 균등분포여야 해요. 20000개를 뽑았더니 최솟값 {float(sample.min()):.3f}, "
            f"최댓값 {float(sample.max()):.3f}, 평균 {mean:.3f}이에요 (기대: 0 이상 1 미만, 평균 약 0.5). "
            "torch.randn(정규분포)이 아니라 torch.rand를 썼는지 확인해 보세요."
        )


def check_pick_device(pick_device: StudentFunction) -> None:
    """CUDA exactly when ``torch.cuda.is_available()`` says so (checked both ways by patching it)."""
    for available, expected in [(False, "cpu"), (True, "cuda")]:
        received = torch.device(pick_device(cuda_available=available))
        if received.type != expected:
            situation = "GPU가 있는" if available else "GPU가 없는"
            raise AssertionError(
                f"{situation} 컴퓨터에서는 '{expected}' 장치가 나와야 하는데 '{received.type}'가 나왔어요. "
                "torch.cuda.is_available()을 (괄호까지 붙여서) 불러서 결정해 주세요."
            )


def check_numpy_to_float32(numpy_to_float32: StudentFunction) -> None:
    """float32 values of any input dtype, and no memory shared with the array (also for float32 input)."""
    arrays = {
        "float32 배열": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "int64 배열": np.array([[1, -2], [3, 4]], dtype=np.int64),
        "전치된 float64 배열": np.linspace(0, 1, 6).reshape(2, 3).T,
    }
    for label, array in arrays.items():
        expected = torch.tensor(np.array(array, dtype=np.float32))
        call = numpy_to_float32.run(array, mutate_args_after=True)
        call.raise_if_error(f"numpy_to_float32({label})")
        result = call.result
        expect_plain_tensor(result, f"{label}을 바꾼 결과", dtype=torch.float32, shape=array.shape)
        expect_close(result, expected, f"{label}을 바꾼 결과", inputs=repr(array))
        if not torch.equal(call.result_after_arg_mutation, expected):
            raise AssertionError(
                f"{label}을 바꿨더니 결과 텐서도 바뀌었어요: 메모리를 공유하고 있어요. "
                "torch.from_numpy(arr).float()나 torch.as_tensor(arr, dtype=torch.float32)는 arr가 이미 float32면 "
                "복사하지 않고 같은 메모리를 써요. torch.tensor(arr, dtype=torch.float32)처럼 복사해 주세요."
            )


def check_flatten_per_sample(flatten_per_sample: StudentFunction) -> None:
    """(N, ...) -> (N, rest) with the elements in order, also for non-contiguous inputs and any rank."""
    cases = {
        "연속인 (2, 3, 4, 5) 텐서": torch.arange(120).reshape(2, 3, 4, 5),
        "permute로 만든 연속이 아닌 (2, 3, 4, 5) 텐서": torch.arange(120).reshape(2, 4, 5, 3).permute(0, 3, 1, 2),
        "(5, 7) 텐서": torch.arange(35.0).reshape(5, 7),
        "transpose로 만든 연속이 아닌 (3, 4, 2) 텐서": torch.arange(24.0).reshape(3, 2, 4).transpose(1, 2),
        "샘플이 하나인 (1, 2, 3) 텐서": torch.arange(6).reshape(1, 2, 3),
    }
    for label, batch in cases.items():
        expected = batch.reshape(batch.shape[0], -1).clone()
        result = call_with_copies(flatten_per_sample, batch)
        expect_plain_tensor(result, f"{label}을 편 결과", dtype=batch.dtype, shape=expected.shape)
        expect_close(
            result, expected, f"{label}을 편 결과",
            hint="샘플마다 원소가 원래 순서대로 있어야 해요. view는 연속이 아닌 텐서에서 실패하니 reshape나 flatten(1)을 써 보세요.",
        )


def _positive(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return (torch.rand(shape, generator=_seeded(seed), dtype=torch.float64) + 0.1).to(dtype)


def check_row_proportions(row_proportions: StudentFunction) -> None:
    """Each element divided by its row sum, for square and non-square inputs, dtype kept, input untouched."""
    cases = [_positive(3, 3), _positive(2, 5, seed=1), _positive(4, 1, seed=2), _positive(1, 4, seed=3),
             _positive(3, 3, dtype=torch.float64, seed=4)]
    for x in cases:
        expected = (x.double() / x.double().sum(dim=1, keepdim=True)).to(x.dtype)
        result = call_with_copies(row_proportions, x)
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 결과"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(
            result, expected, what, inputs=repr(x), rtol=1e-5, atol=1e-6,
            hint="각 행(row)의 합으로 나눠야 해요: x.sum(dim=1, keepdim=True). 정사각 행렬에서 keepdim 없이 나누면 "
            "오류 없이 열 방향으로 잘못 브로드캐스팅돼요.",
        )


def check_clip_negatives(clip_negatives: StudentFunction) -> None:
    """Negatives become 0 in a new tensor of the same dtype; never depends on uninitialized memory."""
    cases = [torch.randn(10, generator=_seeded(0)), torch.randn(3, 4, generator=_seeded(1), dtype=torch.float64),
             torch.tensor([-1.0, 0.0, 2.0, -3.5, 4.0])]
    for x in cases:
        assert_no_uninitialized_reads(clip_negatives, x, name="clip_negatives")
        result = call_with_copies(clip_negatives, x)
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 결과"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(result, x.clamp(min=0), what, inputs=repr(x), hint="음수는 0으로, 나머지는 그대로여야 해요.")


def check_column_sums(column_sums: StudentFunction) -> None:
    """Column sums in the input's dtype (integers too), no uninitialized reads, input untouched."""
    cases = [torch.randn(3, 4, generator=_seeded(0)), torch.randint(-50, 50, (5, 3), generator=_seeded(1)),
             torch.randn(4, 4, generator=_seeded(2), dtype=torch.float64), torch.randn(1, 6, generator=_seeded(3))]
    for x in cases:
        assert_no_uninitialized_reads(column_sums, x, name="column_sums")
        result = call_with_copies(column_sums, x)
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 열별 합"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=(x.shape[1],))
        expect_close(result, x.sum(dim=0), what, inputs=repr(x), rtol=1e-5, atol=1e-5,
                     hint="합을 0에서 시작해 모든 행을 한 번씩 더해야 해요.")


def check_prefix_sums(prefix_sums: StudentFunction) -> None:
    """Running sums in the input's dtype with every element written; no uninitialized reads."""
    cases = [torch.randn(7, generator=_seeded(0)), torch.randint(-9, 9, (5,), generator=_seeded(1)),
             torch.tensor([2.5], dtype=torch.float64), torch.arange(10.0)]
    for x in cases:
        assert_no_uninitialized_reads(prefix_sums, x, name="prefix_sums")
        result = call_with_copies(prefix_sums, x)
        what = f"길이 {len(x)}, 자료형 {x.dtype} 입력의 누적 합"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(result, torch.cumsum(x, dim=0), what, inputs=repr(x), rtol=1e-5, atol=1e-5,
                     hint="out[i] = x[0] + ... + x[i]이에요. 첫 칸과 마지막 칸도 채웠는지 확인해 보세요.")
