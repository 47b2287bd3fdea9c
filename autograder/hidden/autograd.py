"""Hidden tests of assignment 01_autograd: one ``check_<exercise>`` per graded cell.

Each check receives the student's functions and classes as :class:`autograder.engine.judge.StudentFunction` handles and
reaches its verdict here, from plain data: gradients are compared with central differences of the student's own
forward in float64 (:mod:`autograder.engine.gradients`), values with the exercise's formula evaluated here in float64
(and its gradient by autograd here), stability at |x| = 1000 in float32 and float64, and the structure the text
asks for (a custom Function's own backward, one gradient per input shaped like it, None where
``ctx.needs_input_grad`` is False, no autograd inside a hand-written backward, inputs left alone, no uninitialized
reads). Every requirement checked here is stated in the exercise's text in the notebook.

Messages are Korean and never put a particle right after code or a number.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from autograder.checks.uninit import compare_rounds
from autograder.checks.values import expect_close, expect_plain_tensor
from autograder.engine.gradients import Case, Expectations, check_gradients, random_vector
from autograder.engine.judge import Call, GradCall, StudentFunction, TrustedFunction

EXTREMES = (-1000.0, -100.0, -30.0, -1.0, 0.0, 0.5, 30.0, 100.0, 1000.0)
"""Inputs of the stability checks: |x| up to 1000, where exp overflows in float32 (above 88) and float64 (above 709)."""
FLOAT32 = {"rtol": 1e-4, "atol": 1e-6}
"""float32 carries ~7 digits: exp(x - lse) at |x| = 1000 is off by up to ulp(1000) = 6e-5 relative."""
FLOAT64 = {"rtol": 1e-8, "atol": 1e-10}
TOLERANCE = {torch.float32: FLOAT32, torch.float64: FLOAT64}

AUTOGRAD_IN_FUNCTION = (
    "{what}: 함수 안에서 autograd를 불렀어요 ({count}번: .backward(), torch.autograd.grad 같은 함수). 이 연습 문제는 기울기를 "
    "손으로 유도해서 식으로 계산하는 연습이라 autograd로 구한 값에는 점수를 줄 수 없어요."
)


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=_rng(seed), dtype=torch.float64).to(dtype)


def _expect_inputs_unchanged(after_call: tuple, args: tuple, names: tuple[str, ...], what: str) -> None:
    for name, before, after in zip(names, args, after_call):
        if isinstance(before, torch.Tensor):
            same = isinstance(after, torch.Tensor) and after.shape == before.shape and torch.equal(
                after.detach().nan_to_num(7.0), before.detach().nan_to_num(7.0)) and (
                after.requires_grad == before.requires_grad)
            if not same:
                raise AssertionError(
                    f"{what}: 입력의 값이나 requires_grad 속성이 바뀌었어요 (입력: {name}). 입력은 그대로 두고, 필요하면 "
                    "x.detach().requires_grad_() 식으로 새 텐서를 만들어 쓰세요. 바꿔치기(in-place) 연산도 입력을 바꿔요.")


def _expect_same_rounds(rounds: list, what: str) -> None:
    """No dependence on uninitialized memory: every fill pattern gave the same results."""
    report = compare_rounds([_as_call(item) for item in rounds])
    if report.depends_on_uninitialized:
        raise AssertionError(
            f"{what}: 결과가 초기화되지 않은 메모리(쓰레기 값, garbage value)에 따라 달라져요. torch.empty 계열로 만든 텐서를 모든 "
            f"원소에 값을 쓰기 전에 읽고 있지 않은지 확인해 보세요.\n검사 방법: 새로 받은 메모리를 4가지 값(NaN, 아주 큰 양수, "
            f"아주 큰 음수, 0)으로 채워 가며 실행했더니, {report.detail}.")


def _as_call(item: Call | GradCall) -> Call:
    if isinstance(item, Call):
        if isinstance(item.result, dict):  # stored state read by name: compare the values in a fixed order
            return Call(result=tuple(item.result[key] for key in sorted(item.result)), args_after=item.args_after,
                        error=item.error)
        return item
    if item.error:
        return Call(error=item.error)
    return Call(result=(item.result, item.grads, (item.raw or {}).get("returned")), args_after=item.args_after)


def _expect_finite(value: torch.Tensor, what: str, inputs: torch.Tensor, hint: str) -> None:
    if not bool(torch.isfinite(value).all()):
        raise AssertionError(
            f"{what}: inf나 NaN이 나왔어요 (수치적 안정성).\n입력: {inputs.tolist()}\n받은 값: {value.tolist()}\n{hint}")


def _expect_float_result(value: Any, what: str, dtype: torch.dtype, shape: tuple) -> torch.Tensor:
    return expect_plain_tensor(value, what, dtype=dtype, shape=shape)


# ------------------------------------------------------------------------------------------------ 1. mse_grad

def _mse_reference(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The exercise's loss, differentiated by autograd here in float64."""
    w64 = w.detach().double().requires_grad_()
    loss = ((X.double() @ w64 - y.double()) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, w64)
    return grad


def check_mse_grad(mse_grad: StudentFunction) -> None:
    """The hand-derived gradient of mean((Xw - y)^2): any N, D (1 included), dtype kept, no autograd, inputs untouched."""
    cases = []
    for seed, (n, d, dtype) in enumerate([(5, 3, torch.float64), (1, 4, torch.float64), (6, 1, torch.float64),
                                          (3, 3, torch.float64), (4, 2, torch.float32)]):
        cases.append((_randn(n, d, seed=seed, dtype=dtype), _randn(n, seed=seed + 50, dtype=dtype),
                      _randn(d, seed=seed + 90, dtype=dtype)))
    requests = [mse_grad.call_request(*args) for args in cases]
    requests.append(mse_grad.call_request(*cases[0], rounds=True))
    *calls, rounds = mse_grad.batch(requests)
    for (X, y, w), call in zip(cases, calls):
        what = f"X 모양 {tuple(X.shape)}, 자료형 {X.dtype} 입력의 기울기"
        call.raise_if_error("mse_grad")
        if call.autograd_calls:
            raise AssertionError(AUTOGRAD_IN_FUNCTION.format(what=what, count=call.autograd_calls))
        result = expect_plain_tensor(call.result, what, dtype=w.dtype, shape=tuple(w.shape))
        expect_close(result.double(), _mse_reference(X, y, w), what, **TOLERANCE[w.dtype],
                     hint="손실 L(w) = mean((X @ w - y)²) 식을 w로 미분한 결과를 확인해 보세요: 평균을 내는 N, 제곱의 미분에서 나오는 "
                          "2, X의 전치(transpose)가 모두 들어가야 해요.")
        _expect_inputs_unchanged(call.args_after, (X, y, w), ("X", "y", "w"), "mse_grad")
    _expect_same_rounds(rounds, "mse_grad")


# ------------------------------------------------------------------------------------------------ 2. LineFit

def _line_fit_trajectory(steps: list[tuple[torch.Tensor, torch.Tensor, float]], features: int) -> list:
    """(loss before, w after) of every step of plain gradient descent from zero, in float64."""
    w = torch.zeros(features, dtype=torch.float64)
    found = []
    for X, y, lr in steps:
        loss = float(((X.double() @ w - y.double()) ** 2).mean())
        w = w - lr * _mse_reference(X, y, w)
        found.append((loss, w.clone()))
    return found


def check_line_fit(LineFit: StudentFunction) -> None:  # noqa: N803 - the student's class name
    """w starts as zeros (float32 leaf), each step uses only its own gradient, updates w in place, returns the loss."""
    for features, samples, lrs in [(3, 5, (0.1, 0.05, 0.2)), (1, 1, (0.3, 0.1, 0.1))]:
        steps = [(_randn(samples, features, seed=10 * features + k, dtype=torch.float32),
                  _randn(samples, seed=10 * features + k + 5, dtype=torch.float32), lr) for k, lr in enumerate(lrs)]
        label = f"LineFit({features})"
        fit = LineFit.new(features)
        requests = [fit.get_request("w")]
        for X, y, lr in steps:
            requests += [fit.method_request("step", X, y, lr), fit.get_request("w")]
        requests.append(LineFit.call_request(features, rounds=True, read=("w",)))
        replies = LineFit.batch(requests)
        start = fit.states(replies[0])["w"]
        _expect_leaf(start, f"{label} 직후의 self.w", features)
        expect_close(start.value, torch.zeros(features), f"{label} 직후의 self.w",
                     hint="처음 w는 torch.zeros 함수로 만든, 모든 값이 영(0)인 텐서예요.")
        for number, ((X, y, lr), (loss, w_after)) in enumerate(zip(steps, _line_fit_trajectory(steps, features)), 1):
            call, state = replies[2 * number - 1], fit.states(replies[2 * number])["w"]
            what = f"{label}, {number}번째 step"
            call.raise_if_error(what)
            if type(call.result) is not float:
                raise AssertionError(
                    f"{what}: 돌려준 손실의 종류가 달라요. 기대: float, 받은 값: {type(call.result).__name__}. "
                    "loss.item() 메서드로 파이썬 float 값을 돌려주세요.")
            expect_close(torch.tensor(call.result, dtype=torch.float64), torch.tensor(loss, dtype=torch.float64), f"{what}: 돌려준 손실", rtol=1e-4, atol=1e-6,
                         hint="업데이트하기 전의 손실 mean((X @ w - y)²) 값을 돌려줘야 해요.")
            _expect_leaf(state, f"{what} 뒤의 self.w", features)
            if state.same_as_before is False:
                raise AssertionError(
                    f"{what} 뒤의 self.w: 처음 만든 텐서가 아니라 새 텐서로 바뀌었어요. w = w - lr * grad처럼 새 텐서를 만들어 "
                    "대입하지 말고, torch.no_grad() 안에서 w -= lr * w.grad 식처럼 제자리에서(in-place) 업데이트해 주세요. "
                    "옵티마이저는 처음 받은 텐서를 계속 업데이트해요.")
            expect_close(state.value.double(), w_after, f"{what} 뒤의 self.w", rtol=1e-4, atol=1e-5,
                         hint="이번 step의 기울기만 써야 해요: w.grad 속성에는 기울기가 계속 쌓이니(accumulate), 업데이트한 다음(또는 "
                              "backward 전에) w.grad.zero_() 메서드나 w.grad = None 대입으로 지워 주세요.")
            _expect_inputs_unchanged(call.args_after, (X, y), ("X", "y"), what)
        rounds = replies[-1]
        _expect_same_rounds(rounds, f"{label}: self.w 속성")


def _expect_leaf(state: Any, what: str, features: int) -> None:
    if state.missing:
        raise AssertionError(f"{what}: self.w 속성이 없어요. 가중치는 self.w 속성에 텐서로 저장해 주세요.")
    value = expect_plain_tensor(state.value, what, dtype=torch.float32, shape=(features,))
    if not state.requires_grad or not state.is_leaf:
        raise AssertionError(
            f"{what}: requires_grad=True 설정의 잎(leaf) 텐서가 아니에요 (requires_grad: {state.requires_grad}, "
            f"잎 텐서: {state.is_leaf}). torch.zeros(n, requires_grad=True) 함수로 만들고, 업데이트는 torch.no_grad() 안에서 "
            "제자리에서(in-place) 해 주세요.")
    del value


# ------------------------------------------------------------------------------------------------ 3. Softplus

def _softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x) in float64 (torch's own: stable, and its autograd derivative is sigmoid(x) everywhere, 0 too)."""
    return torch.nn.functional.softplus(x.double())


def _reference_grads(formula: Callable, args: tuple, grad_output: torch.Tensor, leaves: tuple[int, ...]) -> list:
    """Gradients of the exercise's formula by autograd here, in float64."""
    inputs = [a.detach().double().requires_grad_(i in leaves) if isinstance(a, torch.Tensor) else a
              for i, a in enumerate(args)]
    out = formula(*inputs)
    grads = torch.autograd.grad(out, [inputs[i] for i in leaves], grad_output.double())
    return list(grads)


def _check_stability(fn: StudentFunction, formula: Callable, make: Callable[[torch.dtype], tuple], what: str,
                     names: tuple[str, ...], leaves: tuple[int, ...], hint: str, seed: int) -> None:
    """Forward and backward at |x| up to 1000 in float32 and float64: finite, and as the formula gives them."""
    requests, plan = [], []
    for dtype in (torch.float32, torch.float64):
        args = make(dtype)
        expected_out = formula(*[a.double() for a in args])
        grad_output = random_vector(expected_out.shape, seed).to(dtype)
        plan.append((dtype, args, expected_out, grad_output))
        requests.append(fn.grad_request(*args, requires_grad=leaves, grad_outputs=[grad_output]))
    for (dtype, args, expected_out, grad_output), call in zip(plan, fn.batch(requests)):
        label = f"{what} ({dtype}, 입력의 절댓값 최대 1000)"
        call.raise_if_error(label)
        out = _expect_float_result(call.result, f"{label}: 결과", dtype, tuple(expected_out.shape))
        _expect_finite(out, f"{label}: 결과", args[leaves[0]], hint)
        expect_close(out.double(), expected_out, f"{label}: 결과", **TOLERANCE[dtype], hint=hint)
        expected_grads = _reference_grads(formula, args, grad_output, leaves)
        for position, leaf in enumerate(leaves):
            grad = call.grads[position]
            where = f"{label}: 기울기 (입력: {names[leaf]})"
            if grad is None:
                raise AssertionError(f"{where}: None이에요. backward가 기울기를 돌려주는지 확인해 보세요.")
            grad = _expect_float_result(grad, where, dtype, tuple(args[leaf].shape))
            _expect_finite(grad, where, args[leaf], hint)
            expect_close(grad.double(), expected_grads[position], where, **TOLERANCE[dtype], hint=hint)


def check_softplus(Softplus: StudentFunction) -> None:  # noqa: N803 - the student's class name
    """Gradcheck and gradgradcheck in float64, stability at |x| = 1000, its own backward without autograd, rounds."""
    apply = Softplus.attribute("apply")
    cases = [Case((_randn(*shape, seed=seed),), (0,), f"모양 {shape} 입력")
             for seed, shape in enumerate([(3,), (2, 3), (1,), (4, 1, 2)])]
    expect = Expectations(("x",), custom="__main__.Softplus", raw=True, second_order=True,
                          hint="softplus의 도함수는 sigmoid(x) = 1 / (1 + e^(-x)) 함수예요. backward는 저장한 입력 x로 계산해요.")
    check_gradients(apply, cases, what="Softplus.apply", expect=expect, seed=1)
    stable = ("x의 절댓값이 클 때 exp(x) 값은 넘쳐서(overflow) inf 값이 돼요. softplus(x) = max(x, 0) + log1p(exp(-|x|)) 식처럼 "
              "exp 함수에 0 이하의 값만 넣고, sigmoid도 x의 부호에 따라 exp(-|x|) 식으로 계산해 보세요.")
    _check_stability(apply, _softplus, lambda dtype: (torch.tensor(EXTREMES, dtype=dtype),), "Softplus.apply",
                     ("x",), (0,), stable, seed=3)
    x = _randn(2, 5, seed=11, dtype=torch.float32)
    (rounds,) = apply.batch([apply.grad_request(x, grad_outputs=[random_vector((2, 5), 12).float()], raw_backward=True,
                                                rounds=True)])
    _expect_same_rounds(rounds, "Softplus.apply 함수의 순전파와 역전파")


# ------------------------------------------------------------------------------------------------ 4. LinearFunction

def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return x @ weight.T + bias


def check_linear_function(LinearFunction: StudentFunction) -> None:  # noqa: N803 - the student's class name
    """Gradcheck of x, weight and a broadcast bias (N, in, out of 1 too), gradients shaped like the inputs, None where
    ``ctx.needs_input_grad`` is False, no autograd in backward, inputs untouched, float32 as the formula, rounds."""
    apply = LinearFunction.attribute("apply")
    cases = []
    for seed, (n, fan_in, fan_out) in enumerate([(4, 3, 2), (1, 3, 2), (3, 1, 1), (2, 2, 2), (1, 1, 1)]):
        cases.append(Case((_randn(n, fan_in, seed=seed), _randn(fan_out, fan_in, seed=seed + 20),
                           _randn(fan_out, seed=seed + 40)), (0, 1, 2), f"입력 크기 N={n}, in={fan_in}, out={fan_out}"))
    expect = Expectations(("x", "weight", "bias"), custom="__main__.LinearFunction", raw=True,
                          none_where_not_needed=((0,), (1, 2), (0, 2), (1,)),
                          hint="y = x @ weight.T + bias에서 x의 기울기는 grad_output @ weight, weight의 기울기는 "
                               "grad_output.T @ x, bias의 기울기는 grad_output 값을 N 방향으로 더한 값이에요.")
    check_gradients(apply, cases, what="LinearFunction.apply", expect=expect, seed=2)
    args32 = (_randn(5, 4, seed=60, dtype=torch.float32), _randn(3, 4, seed=61, dtype=torch.float32),
              _randn(3, seed=62, dtype=torch.float32))
    grad_output = random_vector((5, 3), 63).float()
    call, rounds = apply.batch([apply.grad_request(*args32, requires_grad=(0, 1, 2), grad_outputs=[grad_output]),
                                apply.grad_request(*args32, requires_grad=(0, 1, 2), grad_outputs=[grad_output],
                                                   raw_backward=True, rounds=True)])
    what = "LinearFunction.apply (float32, N=5, in=4, out=3)"
    call.raise_if_error(what)
    out = _expect_float_result(call.result, f"{what}: 결과", torch.float32, (5, 3))
    expect_close(out.double(), _linear(*[a.double() for a in args32]), f"{what}: 결과", **FLOAT32)
    for name, grad, expected in zip(("x", "weight", "bias"), call.grads,
                                    _reference_grads(_linear, args32, grad_output, (0, 1, 2))):
        where = f"{what}: 기울기 (입력: {name})"
        grad = _expect_float_result(grad, where, torch.float32, tuple(expected.shape))
        expect_close(grad.double(), expected, where, rtol=1e-4, atol=1e-5)  # the text: relative 1e-4 in float32
    _expect_same_rounds(rounds, "LinearFunction.apply 함수의 순전파와 역전파")


# ------------------------------------------------------------------------------------------------ 5. LogSumExp

def _logsumexp(x: torch.Tensor) -> torch.Tensor:
    """log(sum_j exp(x_ij)) over the last dimension, in float64 (torch's own, stable)."""
    return torch.logsumexp(x.double(), dim=1)


def check_log_sum_exp(LogSumExp: StudentFunction) -> None:  # noqa: N803 - the student's class name
    """Gradcheck in float64 (N, C of 1 too), stability at |x| = 1000 with rows of very different scale, no autograd
    in backward, inputs untouched, rounds."""
    apply = LogSumExp.attribute("apply")
    cases = [Case((_randn(*shape, seed=seed),), (0,), f"모양 {shape} 입력")
             for seed, shape in enumerate([(3, 4), (1, 5), (4, 1), (3, 3)])]
    expect = Expectations(("x",), custom="__main__.LogSumExp", raw=True,
                          hint="logsumexp의 x에 대한 기울기는 softmax(x) 값이에요. 행마다 grad_output[i] 값을 곱해야 하니, "
                               "grad_output 텐서를 (N, 1) 모양으로 바꿔서 곱해 보세요.")
    check_gradients(apply, cases, what="LogSumExp.apply", expect=expect, seed=5)

    def extreme(dtype: torch.dtype) -> tuple:
        # Each row on its own scale: a maximum taken over the whole tensor underflows the other rows to log(0).
        return (torch.tensor([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.5], [0.5, -30.0, 30.0],
                              [-100.0, 100.0, 1000.0]], dtype=dtype),)

    stable = ("exp(1000) 값은 넘쳐서(overflow) inf 값이, exp(-1000) 값은 영(0)이 돼요. 행마다 최댓값 m을 빼서 "
              "m + log(sum(exp(x - m))) 식으로 계산하고(max trick), backward의 softmax도 exp(x - logsumexp) 식처럼 0 이하의 "
              "값만 exp 함수에 넣어 보세요. 최댓값은 텐서 전체가 아니라 행마다 따로 구해야 해요.")
    _check_stability(apply, _logsumexp, extreme, "LogSumExp.apply", ("x",), (0,), stable, seed=6)
    x = _randn(3, 4, seed=70, dtype=torch.float32)
    (rounds,) = apply.batch([apply.grad_request(x, grad_outputs=[random_vector((3,), 71).float()], raw_backward=True,
                                                rounds=True)])
    _expect_same_rounds(rounds, "LogSumExp.apply 함수의 순전파와 역전파")


# ------------------------------------------------------------------------------------------------ 6. hvp

HVP_CASES = (
    ("cubic", (4,), torch.float64),
    ("softplus_sum", (2, 3), torch.float64),
    ("logsumexp", (5,), torch.float64),
    ("squared_norm_squared", (2, 2), torch.float64),
    ("coupled", (6,), torch.float64),
    ("coupled", (1,), torch.float64),
    ("logsumexp", (3, 2), torch.float32),
)


def _expected_hvp(name: str, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H(x) v of a trusted test function, by autograd here in float64."""
    _, product = torch.autograd.functional.hvp(TrustedFunction(name), x.double(), v.double())
    return product


def check_hvp(hvp: StudentFunction) -> None:
    """H(x) v for several scalar functions and shapes (1-element too), dtype kept, x and v untouched, rounds."""
    cases = [(name, _randn(*shape, seed=seed, dtype=dtype), _randn(*shape, seed=seed + 30, dtype=dtype))
             for seed, (name, shape, dtype) in enumerate(HVP_CASES)]
    requests = [hvp.call_request(TrustedFunction(name), x, v) for name, x, v in cases]
    requests.append(hvp.call_request(TrustedFunction("coupled"), cases[4][1], cases[4][2], rounds=True))
    *calls, rounds = hvp.batch(requests)
    for (name, x, v), call in zip(cases, calls):
        what = f"함수 f_{name}, 모양 {tuple(x.shape)}, 자료형 {x.dtype} 입력의 hvp"
        call.raise_if_error(what)
        result = expect_plain_tensor(call.result, what, dtype=x.dtype, shape=tuple(x.shape))
        expected = _expected_hvp(name, x, v)
        if x.dtype == torch.float32:
            expect_close(result.double(), expected, what, rtol=1e-4, atol=1e-5)
        else:
            expect_close(result, expected, what, rtol=1e-7, atol=1e-9,
                         hint="create_graph=True 인자를 주고 기울기 g = ∇f(x) 값을 구한 다음, (g * v).sum() 값을 x로 한 번 더 "
                              "미분해요. x가 여러 차원이어도 되도록 원소끼리 곱해서 더해 보세요.")
        _expect_inputs_unchanged(call.args_after[1:], (x, v), ("x", "v"), what)
    _expect_same_rounds(rounds, "hvp")
