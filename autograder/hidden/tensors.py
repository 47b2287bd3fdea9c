"""Hidden tests of assignment 00_tensors: one ``check_<function>`` per graded cell.

Each check receives the student's functions as :class:`autograder.engine.judge.StudentFunction` handles: calling one runs
the student's code in their kernel and returns plain data, and every expected value and comparison stays here.
The notebook names a check in its hidden block: ``judge("autograder.hidden.tensors.check_prefix_sums", prefix_sums)``.
Every requirement checked here is stated in the exercise's text in the notebook; the checks follow that text, not
the reference solution's output.

Messages are Korean and never put a particle right after code or a number ("기대: torch.float32, 받은 값: ...").

Each check sends its calls in one batch (one round trip to the kernel, checked for tampering after every call as when
they travel one by one), then reads the replies in the order the calls are listed and fails at the first wrong one:
the message is the one the first failing call earns, whatever the later calls did. Where a check looks for reads of
uninitialized memory, it looks on every input first (one batch), and calls the function plainly only after that.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from autograder.checks.uninit import assert_no_uninitialized_reads_in
from autograder.checks.values import expect_close, expect_plain_tensor, result_of_copies
from autograder.engine.judge import Call, StudentFunction

KS_SAMPLE_SIZE = 20_000
KS_FALSE_FAILURE = 1e-9
"""Chance that a correct uniform generator fails the distribution check (an upper bound, see below)."""
KS_THRESHOLD = math.sqrt(math.log(2 / KS_FALSE_FAILURE) / (2 * KS_SAMPLE_SIZE))
"""Largest distance allowed between the sample's CDF and the uniform CDF on [0, 1) (about 0.0231).

Dvoretzky-Kiefer-Wolfowitz with Massart's constant: for n independent draws from any distribution F,
P(sup |F_n - F| > t) <= 2 exp(-2 n t^2). With n = 20000 and t = KS_THRESHOLD the bound is KS_FALSE_FAILURE, so a
correct answer fails with probability at most 1e-9 (for torch.rand with the fixed seed it never does: the sample
is the same every time). sigmoid(randn), which stays inside [0, 1) with mean 0.5, is 0.12 away (seed 7).
"""

RNG_NAMES = {
    "torch": "torch의 전역 난수 상태(torch.manual_seed)",
    "numpy": "NumPy의 전역 난수 상태(np.random.seed)",
    "random": "파이썬 random 모듈의 전역 난수 상태(random.seed)",
}

PICK_DEVICE_SCENARIOS = (
    # (scenario simulated by the probe, expected device type, the situation in the failure message)
    ("cpu_build", "cpu", "CUDA 없이 설치한 PyTorch 환경"),
    ("no_gpu", "cpu", "CUDA용 PyTorch는 있지만 GPU가 없는 환경"),
    ("gpu", "cuda", "GPU가 있는 환경"),
)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _result(call: Call, name: str) -> object:
    """The result of a call, a student's exception becoming a failing check (what calling a StudentFunction does)."""
    call.raise_if_error(name)
    return call.result


def ks_distance_to_uniform(sample: torch.Tensor) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the sample's CDF and the uniform CDF on [0, 1)."""
    values = sample.detach().double().flatten().sort().values
    n = values.numel()
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    return max(float((ranks / n - values).max()), float((values - (ranks - 1) / n).max()))


def check_seeded_rand(seeded_rand: StudentFunction) -> None:
    """Any shape, float32, reproducible, seed-dependent, uniform on [0, 1), and no global RNG state changed."""
    cases = [((4,), 123), ((2, 3), 0), ((3, 2, 2), 2**31 - 1)]
    others = [((1000,), 1), ((1000,), 2), ((KS_SAMPLE_SIZE,), 7)]
    replies = iter(seeded_rand.batch([seeded_rand.run_request(shape, seed)
                                      for shape, seed in [case for case in cases for _ in range(2)] + others],
                                     checked_after_each=True))
    fn_name = seeded_rand.__name__
    for shape, seed in cases:
        label = f"seeded_rand({shape}, {seed})"
        call = next(replies)
        call.raise_if_error(label)
        if call.global_rng_changed:
            changed = ", ".join(RNG_NAMES[name] for name in call.global_rng_changed)
            raise AssertionError(
                f"{label} 호출 뒤에 전역 난수 상태가 바뀌었어요. 바뀐 것: {changed}.\n"
                "프로그램 전체가 함께 쓰는 난수를 바꾸면 안 돼요. 전용 생성기를 만들어(torch.Generator().manual_seed(seed)) "
                "generator= 인자로 넘겨 주세요."
            )
        result = expect_plain_tensor(call.result, f"{label} 결과", dtype=torch.float32, shape=shape)
        expect_close(_result(next(replies), fn_name), result, f"{label} 두 번째 호출 결과",
                     hint="같은 seed면 몇 번을 불러도 같은 값이어야 해요.")
    if torch.equal(_result(next(replies), fn_name), _result(next(replies), fn_name)):
        raise AssertionError("서로 다른 seed로 만든 두 텐서가 똑같아요 (seed: 1, 2). 받은 seed를 생성기에 넘겼는지 확인해 보세요.")
    sample = expect_plain_tensor(_result(next(replies), fn_name), f"seeded_rand(({KS_SAMPLE_SIZE},), 7) 결과",
                                 dtype=torch.float32, shape=(KS_SAMPLE_SIZE,))
    low, high = float(sample.min()), float(sample.max())
    if not (low >= 0 and high < 1):
        raise AssertionError(
            f"[0, 1) 구간 밖의 값이 나왔어요. {KS_SAMPLE_SIZE}개 중 최솟값: {low:.3f}, 최댓값: {high:.3f} "
            "(기대: 0 이상, 1 미만). 정규분포를 주는 torch.randn 대신 torch.rand 함수를 썼는지 확인해 보세요."
        )
    distance = ks_distance_to_uniform(sample)
    if distance > KS_THRESHOLD:
        raise AssertionError(
            "값이 [0, 1) 구간에 고르게 퍼져 있지 않아요: 균등분포가 아니에요.\n"
            f"{KS_SAMPLE_SIZE}개를 뽑아 누적 분포를 균등분포와 비교했어요(콜모고로프-스미르노프 검정). "
            f"가장 큰 차이: {distance:.3f}, 허용: {KS_THRESHOLD:.3f} 이하.\n"
            "평균이 0.5 근처여도 가운데에 몰려 있으면 균등분포가 아니에요 (sigmoid(randn) 같은 변환). torch.rand 함수를 써 보세요."
        )


def check_pick_device(pick_device: StudentFunction) -> None:
    """CUDA exactly when a GPU is usable, decided at each call: three machines simulated below every query API."""
    calls = pick_device.batch([pick_device.run_request(cuda=scenario) for scenario, _, _ in PICK_DEVICE_SCENARIOS],
                              checked_after_each=True)
    for (_, expected, situation), call in zip(PICK_DEVICE_SCENARIOS, calls):
        received = _result(call, pick_device.__name__)
        try:
            device = torch.device(received)
        except (TypeError, RuntimeError, ValueError):
            raise AssertionError(
                f"{situation}: 결과를 장치로 바꿀 수 없어요. 기대: torch.device 객체나 'cuda', 'cpu' 같은 문자열, "
                f"받은 값: {received!r}"
            ) from None
        if device.type != expected:
            raise AssertionError(
                f"{situation}: 나온 장치가 달라요. 기대: {expected}, 받은 값: {device.type}.\n"
                "함수를 부를 때마다 GPU를 쓸 수 있는지 확인해서 정해야 해요 (함수 밖에서 미리 정해 둔 값은 안 돼요). "
                "torch.cuda.is_available 뒤에 괄호를 빠뜨리면 함수 객체 자체라서 늘 참으로 취급돼요."
            )


def check_numpy_to_float32(numpy_to_float32: StudentFunction) -> None:
    """float32 values of any input dtype, and no memory shared with the array (also for float32 input)."""
    # float32 comes last: an answer that keeps float64 and shares memory fails on the dtype first, so grading can
    # tell it from answers that only share memory (autograder/diagnosis.py).
    arrays = {
        "int64 배열": np.array([[1, -2], [3, 4]], dtype=np.int64),
        "전치(transpose)된 float64 배열": np.linspace(0, 1, 6).reshape(2, 3).T,
        "float32 배열": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    }
    calls = numpy_to_float32.batch([numpy_to_float32.run_request(array, mutate_args_after=True)
                                    for array in arrays.values()], checked_after_each=True)
    for (label, array), call in zip(arrays.items(), calls):
        expected = torch.tensor(np.array(array, dtype=np.float32))
        call.raise_if_error(f"numpy_to_float32({label})")
        what = f"{label} 변환 결과"
        expect_plain_tensor(call.result, what, dtype=torch.float32, shape=array.shape)
        expect_close(call.result, expected, what, inputs=repr(array),
                     hint="값은 그대로 옮겨야 해요. 정수 배열도 같은 값의 실수가 돼요.")
        if not torch.equal(call.result_after_arg_mutation, expected):
            raise AssertionError(
                f"{label}: 원래 배열을 바꿨더니 결과 텐서도 바뀌었어요. 메모리를 공유하고 있어요.\n"
                "입력 배열이 이미 float32 자료형이면 torch.from_numpy(arr).float(), "
                "torch.as_tensor(arr, dtype=torch.float32) 모두 복사하지 않고 같은 메모리를 써요. "
                "복사하는 방법: torch.tensor(arr, dtype=torch.float32)"
            )


def check_flatten_per_sample(flatten_per_sample: StudentFunction) -> None:
    """(N, ...) -> (N, rest) with the elements in order and the dtype kept, for any rank and non-contiguous input."""
    cases = {
        "연속인 (2, 3, 4, 5) 텐서": torch.arange(120).reshape(2, 3, 4, 5),
        "permute로 만든 연속이 아닌 (2, 3, 4, 5) 텐서": torch.arange(120).reshape(2, 4, 5, 3).permute(0, 3, 1, 2),
        "(5, 7) 텐서": torch.arange(35.0).reshape(5, 7),
        "transpose로 만든 연속이 아닌 (3, 4, 2) 텐서": torch.arange(24.0).reshape(3, 2, 4).transpose(1, 2),
        "샘플이 하나인 (1, 2, 3) 텐서": torch.arange(6).reshape(1, 2, 3),
    }
    calls = flatten_per_sample.batch([flatten_per_sample.run_request(batch) for batch in cases.values()],
                                     checked_after_each=True)
    for (label, batch), call in zip(cases.items(), calls):
        expected = batch.reshape(batch.shape[0], -1).clone()
        result = result_of_copies(call, flatten_per_sample.__name__, [batch])
        what = f"{label} 입력을 편 결과"
        expect_plain_tensor(result, what, dtype=batch.dtype, shape=expected.shape)
        expect_close(
            result, expected, what,
            hint="샘플마다 원소가 원래 순서대로 있어야 해요. 차원 수는 정해져 있지 않아요. view는 연속이 아닌 텐서에서 "
            "실패하니 reshape 또는 flatten(1) 함수를 써 보세요.",
        )


def _positive(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return (torch.rand(shape, generator=_seeded(seed), dtype=torch.float64) + 0.1).to(dtype)


def check_row_proportions(row_proportions: StudentFunction) -> None:
    """Each element divided by its row sum, for square and non-square inputs, dtype kept, input untouched."""
    cases = [_positive(3, 3), _positive(2, 5, seed=1), _positive(4, 1, seed=2), _positive(1, 4, seed=3),
             _positive(3, 3, dtype=torch.float64, seed=4)]
    calls = row_proportions.batch([row_proportions.run_request(x) for x in cases], checked_after_each=True)
    for x, call in zip(cases, calls):
        expected = (x.double() / x.double().sum(dim=1, keepdim=True)).to(x.dtype)
        result = result_of_copies(call, row_proportions.__name__, [x])
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 결과"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(
            result, expected, what, inputs=repr(x), rtol=1e-5, atol=1e-6,
            hint="각 행(row)의 합으로 나눠야 해요: x.sum(dim=1, keepdim=True). 정사각 행렬에서 keepdim 없이 나누면 "
            "오류 없이 열 방향으로 잘못 브로드캐스팅돼요.",
        )


def _no_uninitialized_reads_then_calls(fn: StudentFunction, cases: list[torch.Tensor]) -> list[Call]:
    """Fail unless ``fn`` reads no uninitialized memory on any of ``cases`` (their fill rounds in one batch); then
    return a plain call on a copy of each (a second batch).

    The plain calls are made only once the rounds passed: a result that depends on garbage differs from run to run,
    and such a reply, recorded after the check had already failed, would keep diagnosis from recognising the mistake
    (autograder/diagnosis.py compares every recorded reply).
    """
    for rounds in fn.batch([fn.run_request(x, rounds=True) for x in cases], checked_after_each=True):
        assert_no_uninitialized_reads_in(rounds, fn.__name__)
    return fn.batch([fn.run_request(x) for x in cases], checked_after_each=True)


def check_clip_negatives(clip_negatives: StudentFunction) -> None:
    """Negatives become 0 in a new tensor of the same dtype; never depends on uninitialized memory."""
    cases = [torch.randn(10, generator=_seeded(0)), torch.randn(3, 4, generator=_seeded(1), dtype=torch.float64),
             torch.tensor([-1.0, 0.0, 2.0, -3.5, 4.0])]
    for x, call in zip(cases, _no_uninitialized_reads_then_calls(clip_negatives, cases)):
        result = result_of_copies(call, clip_negatives.__name__, [x])
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 결과"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(result, x.clamp(min=0), what, inputs=repr(x), hint="음수 자리는 0, 나머지는 입력 그대로여야 해요.")


def check_column_sums(column_sums: StudentFunction) -> None:
    """Column sums in the input's dtype (integers too), no uninitialized reads, input untouched."""
    cases = [torch.randn(3, 4, generator=_seeded(0)), torch.randint(-50, 50, (5, 3), generator=_seeded(1)),
             torch.randn(4, 4, generator=_seeded(2), dtype=torch.float64), torch.randn(1, 6, generator=_seeded(3))]
    for x, call in zip(cases, _no_uninitialized_reads_then_calls(column_sums, cases)):
        result = result_of_copies(call, column_sums.__name__, [x])
        what = f"모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 열별 합"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=(x.shape[1],))
        expect_close(result, x.sum(dim=0), what, inputs=repr(x), rtol=1e-5, atol=1e-5,
                     hint="합을 담을 텐서를 torch.zeros 함수로 만든 뒤, 모든 행을 한 번씩 더해야 해요.")


def check_prefix_sums(prefix_sums: StudentFunction) -> None:
    """Running sums in the input's dtype with every element written; no uninitialized reads, input untouched."""
    cases = [torch.randn(7, generator=_seeded(0)), torch.randint(-9, 9, (5,), generator=_seeded(1)),
             torch.tensor([2.5], dtype=torch.float64), torch.arange(10.0)]
    for x, call in zip(cases, _no_uninitialized_reads_then_calls(prefix_sums, cases)):
        result = result_of_copies(call, prefix_sums.__name__, [x])
        what = f"길이 {len(x)}, 자료형 {x.dtype} 입력의 누적 합"
        expect_plain_tensor(result, what, dtype=x.dtype, shape=x.shape)
        expect_close(result, torch.cumsum(x, dim=0), what, inputs=repr(x), rtol=1e-5, atol=1e-5,
                     hint="누적 합의 정의: out[i] = x[0] + ... + x[i]. 첫 칸과 마지막 칸도 채웠는지 확인해 보세요.")
