"""Gradient checks reached in the grader: the mathematics of ``torch.autograd.gradcheck`` and ``gradgradcheck``.

A student's backward is compared with finite differences of their own forward, in float64, never with a reference
implementation's output:

- *first order*: central differences ``(f(x + eps e_j) - f(x - eps e_j)) / 2 eps`` give every column of the
  Jacobian ``J``; for a few random ``grad_output`` vectors ``u`` the student's backward must return ``J^T u`` (the
  vector-Jacobian product autograd asks of it), within gradcheck's tolerances (``atol=1e-5, rtol=1e-3``);
- *second order* (where the backward must itself be differentiable): with the backward's result ``g(x, u) = J^T u``
  and a random ``w``, ``d<w, g>/dx`` from a second backward must match central differences of ``<w, g>`` at
  perturbed ``x``, and ``d<w, g>/du`` must match ``J w`` (a central difference of the forward along ``w``).

Every forward value at a perturbed point and every vector-Jacobian product is computed in the student's kernel and
comes back as plain data; all the points of a check travel as ONE batch (:meth:`StudentFunction.batch`), so a check
costs one or two round trips whatever its size. For a custom ``torch.autograd.Function`` the backward is also called
directly (as the engine would) to see exactly what it returned: one gradient per forward input, each shaped like
its input (autograd would silently sum a broadcast bias gradient), and None where ``ctx.needs_input_grad`` is False.

Failure messages are Korean and teach: which input, what was expected (and how), what was received, and the likely
cause read from the numbers (ignored ``grad_output``, a factor of 2, a flipped sign, swapped inputs, all zeros).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from autograder.engine.judge import Call, GradCall, Request, StudentFunction

EPS = 1e-6
"""Step of the central differences (gradcheck's default)."""
ATOL, RTOL = 1e-5, 1e-3
"""Tolerances of the comparison (gradcheck's defaults), valid in float64 only: a correct float32 backward fails."""
VECTORS = 2
"""Random grad_output vectors per case (a wrong backward passes one only on a set of measure zero)."""


@dataclass
class Case:
    """One input of a gradient check: the arguments, which of them are differentiated, and how to name it."""

    args: tuple
    leaves: tuple[int, ...] = (0,)
    label: str = ""  # Korean description of the input, ending in a noun: 모양 (2, 3) 입력


@dataclass
class Expectations:
    """What a gradient check requires besides the values (all stated in the exercise's text)."""

    names: Sequence[str]
    """The forward's argument names, in order (used in messages)."""
    custom: str | None = None
    """Qualified name of the ``torch.autograd.Function`` whose node the output must carry (``__main__.Softplus``)."""
    raw: bool = False
    """Call the custom backward directly: one gradient per input, shaped like it, None where not needed."""
    no_autograd_in_backward: bool = True
    second_order: bool = False
    hint: str = ""
    """What to look at again when the values differ and no likelier cause is found."""
    none_where_not_needed: Sequence[tuple[int, ...]] = field(default_factory=tuple)
    """Extra calls with only these inputs requiring grad: the others' gradients must be None."""


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_vector(shape: Sequence[int], seed: int) -> torch.Tensor:
    """A float64 tensor of standard normal values (a grad_output or a direction), reproducible from ``seed``."""
    return torch.randn(tuple(shape), generator=_rng(seed), dtype=torch.float64)


def _flat_outputs(value: Any) -> torch.Tensor:
    """The forward's tensor outputs, flattened and concatenated (what J's rows are indexed by)."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().reshape(-1)
    if isinstance(value, (tuple, list)) and all(isinstance(item, torch.Tensor) for item in value):
        return torch.cat([item.detach().double().reshape(-1) for item in value])
    raise AssertionError(f"결과의 종류가 달라요. 기대: torch.Tensor, 받은 값: {type(value).__name__} 객체.")


def _perturbed(args: tuple, leaf: int, index: int, step: float) -> tuple:
    moved = args[leaf].detach().clone()
    moved.view(-1)[index] += step
    return args[:leaf] + (moved,) + args[leaf + 1:]


def _along(args: tuple, leaves: Sequence[int], directions: Sequence[torch.Tensor], step: float) -> tuple:
    moved = list(args)
    for leaf, direction in zip(leaves, directions):
        moved[leaf] = args[leaf].detach() + step * direction
    return tuple(moved)


def _shape(value: Any) -> tuple:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else ()


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        text = repr(value.detach())
        return text if len(text) <= 400 else text[:400] + " ..."
    return repr(value)


def _close(received: torch.Tensor, expected: torch.Tensor, atol: float = ATOL, rtol: float = RTOL) -> bool:
    return received.shape == expected.shape and bool(torch.allclose(received.double(), expected, atol=atol, rtol=rtol))


def likely_cause(received: torch.Tensor, expected: torch.Tensor, *, with_ones: torch.Tensor | None = None,
                 others: dict[str, torch.Tensor] | None = None, hint: str = "") -> str:
    """The likeliest reason ``received`` differs from ``expected``, read from the numbers (Korean)."""
    if received.shape != expected.shape:
        return (f"모양(shape)이 달라요. 기대: {tuple(expected.shape)}, 받은 값: {tuple(received.shape)}. "
                "기울기는 그 입력과 모양이 같아야 해요.")
    if expected.abs().max() > 1e-6 and received.abs().max() < 1e-12:
        return "기울기의 값이 모두 영(0)이에요. backward가 계산한 값을 돌려주는지, 연산 그래프가 끊기지 않았는지 확인해 보세요."
    if with_ones is not None and _close(received, with_ones):
        return ("grad_output 인자를 곱하지 않은 것 같아요: grad_output 대신 torch.ones_like(grad_output) 텐서를 곱한 기울기와 같아요. 연쇄 법칙(chain rule)에 "
                "따라 backward는 grad_output 인자와 도함수를 곱한 값을 돌려줘야 해요.")
    if _close(received, 2 * expected):
        return "기울기가 2배 커요. 도함수의 계수나 grad_output 인자를 두 번 곱하지 않았는지 확인해 보세요."
    if _close(received, expected / 2):
        return "기울기가 절반이에요. 도함수의 계수(예: 제곱의 미분에서 나오는 2)를 빠뜨리지 않았는지 확인해 보세요."
    if _close(received, -expected):
        return "부호가 반대예요. 빼는 순서(예: 예측 - 정답)나 도함수의 부호를 확인해 보세요."
    for name, other in (others or {}).items():
        if _close(received, other):
            return (f"다른 입력의 기울기와 같아요 (같은 값인 입력: {name}). backward가 돌려주는 기울기의 순서는 forward의 "
                    "인자 순서와 같아야 해요.")
    return hint


def _raise_student_error(call: Call | GradCall, what: str) -> None:
    call.raise_if_error(what)


def check_gradients(fn: StudentFunction, cases: Sequence[Case], *, what: str, expect: Expectations,
                    seed: int = 0) -> list[GradCall]:
    """Compare ``fn``'s backward with central differences of its forward on every case (float64 inputs).

    Returns the backward calls with random grad_outputs (for checks that look further). Raises a Korean
    AssertionError at the first difference.
    """
    requests: list[Request] = []
    plan: list[dict] = []
    for number, case in enumerate(cases):
        base = len(requests)
        requests.append(fn.call_request(*case.args))
        points: list[tuple[int, int]] = []
        for leaf in case.leaves:
            for index in range(case.args[leaf].numel()):
                requests.append(fn.call_request(*_perturbed(case.args, leaf, index, EPS)))
                requests.append(fn.call_request(*_perturbed(case.args, leaf, index, -EPS)))
                points.append((leaf, index))
        plan.append({"case": case, "base": base, "points": points, "vjps": len(requests)})
        # The output's shape is not known before the forward ran: grad_outputs are drawn for it in a second batch.
    forwards = fn.batch(requests)
    vjp_requests: list[Request] = []
    for number, item in enumerate(plan):
        case = item["case"]
        base_call = forwards[item["base"]]
        _raise_student_error(base_call, f"{what} ({case.label})")
        outputs = _flat_outputs(base_call.result)
        item["out"] = base_call.result
        item["us"] = [random_vector(outputs.shape, seed * 1000 + 10 * number + k) for k in range(VECTORS)]
        item["us"].append(torch.ones_like(outputs))
        item["vjp_at"] = len(vjp_requests)
        for u in item["us"]:
            vjp_requests.append(fn.grad_request(*case.args, requires_grad=case.leaves,
                                                grad_outputs=_unflatten(u, base_call.result), raw_backward=expect.raw))
        for needed in expect.none_where_not_needed:
            vjp_requests.append(fn.grad_request(*case.args, requires_grad=needed,
                                                grad_outputs=_unflatten(item["us"][0], base_call.result),
                                                raw_backward=True))
    vjps = fn.batch(vjp_requests)
    backward_calls = []
    for number, item in enumerate(plan):
        case = item["case"]
        label = f"{what} ({case.label})"
        values = {}
        for position, (leaf, index) in enumerate(item["points"]):
            plus = forwards[item["base"] + 1 + 2 * position]
            minus = forwards[item["base"] + 2 + 2 * position]
            _raise_student_error(plus, label)
            _raise_student_error(minus, label)
            values[(leaf, index)] = (_flat_outputs(plus.result), _flat_outputs(minus.result))
        calls = vjps[item["vjp_at"]:item["vjp_at"] + len(item["us"])]
        extra = vjps[item["vjp_at"] + len(item["us"]):item["vjp_at"] + len(item["us"]) + len(expect.none_where_not_needed)]
        for call in [*calls, *extra]:
            _raise_student_error(call, label)
            _structure(call, case, label, expect)
        numerical_ones = _numerical_vjp(case, values, item["us"][-1])
        for u, call in zip(item["us"][:-1], calls[:-1]):
            numerical = _numerical_vjp(case, values, u)
            for position, leaf in enumerate(case.leaves):
                received = call.grads[position]
                name = expect.names[leaf]
                if received is None:
                    raise AssertionError(
                        f"{label}: 기울기가 None 값이에요 (입력: {name}). 이 입력은 기울기가 필요해요(requires_grad=True). "
                        "backward가 이 자리에 계산한 기울기를 돌려주는지 확인해 보세요.")
                others = {expect.names[other]: numerical[p] for p, other in enumerate(case.leaves) if other != leaf}
                if not _close(received, numerical[position]):
                    cause = likely_cause(received.double(), numerical[position], with_ones=numerical_ones[position],
                                         others=others, hint=expect.hint)
                    raise AssertionError(
                        f"{label}: 기울기가 달라요 (입력: {name}).\n"
                        f"기대(forward 값의 중앙 차분으로 구한 J^T u, float64): {_describe(numerical[position])}\n"
                        f"받은 값(backward 메서드의 결과): {_describe(received)}\n{cause}".rstrip())
        for needed, call in zip(expect.none_where_not_needed, extra):
            _expect_none_where_not_needed(call, needed, label, expect)
        backward_calls.extend(calls[:-1])
    if expect.second_order:
        check_second_order(fn, cases, what=what, expect=expect, seed=seed + 7, outputs=[item["out"] for item in plan])
    return backward_calls


def _unflatten(flat: torch.Tensor, like: Any) -> list[torch.Tensor]:
    """A grad_output per tensor output of the forward, cut from one flat vector."""
    outputs = [like] if isinstance(like, torch.Tensor) else list(like)
    pieces, start = [], 0
    for output in outputs:
        pieces.append(flat[start:start + output.numel()].reshape(output.shape))
        start += output.numel()
    return pieces


def _numerical_vjp(case: Case, values: dict, u: torch.Tensor) -> list[torch.Tensor]:
    """Central differences of <u, f> at every perturbed element: J^T u, per differentiated input."""
    result = []
    for leaf in case.leaves:
        column = torch.zeros(case.args[leaf].numel(), dtype=torch.float64)
        for index in range(case.args[leaf].numel()):
            plus, minus = values[(leaf, index)]
            column[index] = torch.dot(u, plus - minus) / (2 * EPS)
        result.append(column.reshape(case.args[leaf].shape))
    return result


def _structure(call: GradCall, case: Case, label: str, expect: Expectations) -> None:
    """Requirements besides the values: its own Function's node, no autograd inside, inputs untouched, raw returns."""
    if expect.custom is not None:
        graph = call.graph[0] if call.graph else {}
        if graph.get("custom") != expect.custom:
            received = graph.get("grad_fn") or "없음 (연산 그래프에 연결되지 않음)"
            raise AssertionError(
                f"{label}: 결과가 직접 만든 autograd.Function 클래스를 거치지 않았어요. 기대한 grad_fn: {expect.custom.split('.')[-1]}"
                f"Backward, 받은 값: {received}.\n클래스의 apply 메서드로 계산해야 역전파 때 직접 쓴 backward가 불려요.")
    if expect.no_autograd_in_backward and call.autograd_in_backward:
        raise AssertionError(
            f"{label}: backward 안에서 autograd를 다시 불렀어요 (torch.autograd.grad, .backward(), torch.autograd.functional, "
            f"torch.func 같은 함수, {call.autograd_in_backward}번).\n이 연습 문제는 도함수를 손으로 구해서 backward에 직접 쓰는 "
            "연습이라, autograd가 대신 미분한 backward에는 점수를 줄 수 없어요. 저장한 텐서로 도함수를 계산해 주세요.")
    for position, (before, after) in enumerate(zip(case.args, call.args_after)):
        if isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor):
            changed = after.shape != before.shape or not torch.equal(after.detach().double().nan_to_num(7.0),
                                                                     before.detach().double().nan_to_num(7.0))
            if changed or (position < len(call.versions_changed) and call.versions_changed[position]):
                raise AssertionError(
                    f"{label}: 입력의 값이 바뀌었어요 (입력: {expect.names[position]}). forward나 backward에서 입력이나 저장한 텐서에 "
                    "바꿔치기(in-place) 연산(add_, mul_, sigmoid_ 같은 밑줄로 끝나는 메서드나 x[...] = ... 대입)을 쓰면, "
                    "호출한 쪽의 텐서와 역전파에 필요한 값이 함께 바뀌어요. 새 텐서를 만들어 계산해 주세요.")
    if expect.raw and call.raw is not None:
        if not call.raw.get("custom"):
            return
        returned = call.raw["returned"]
        if len(returned) != len(case.args):
            raise AssertionError(
                f"{label}: backward가 돌려준 값의 개수가 달라요. 기대: forward의 입력마다 하나씩 {len(case.args)}개, "
                f"받은 값: {len(returned)}개. 기울기가 필요 없는 입력 자리에는 None을 돌려주세요.")
        for position, value in enumerate(returned):
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise AssertionError(
                    f"{label}: backward가 입력 {expect.names[position]} 자리에 텐서가 아닌 값을 돌려줬어요 "
                    f"(받은 값: {type(value).__name__} 객체).")
            expected_shape = _shape(case.args[position])
            if tuple(value.shape) != expected_shape:
                raise AssertionError(
                    f"{label}: backward가 돌려준 기울기의 모양(shape)이 입력과 달라요 (입력: {expect.names[position]}). "
                    f"기대: {expected_shape}, 받은 값: {tuple(value.shape)}.\n브로드캐스팅(broadcasting)된 입력의 기울기는 "
                    "늘어난 차원을 따라 더해서 입력의 모양으로 돌려줘야 해요. autograd가 대신 더해 주는 경우가 있어도, "
                    "기울기는 입력과 모양이 같아야 해요.")


def _expect_none_where_not_needed(call: GradCall, needed: tuple[int, ...], label: str, expect: Expectations) -> None:
    raw = call.raw or {}
    if not raw.get("custom"):
        return
    for position, value in enumerate(raw["returned"]):
        if position not in needed and value is not None:
            wanted = ", ".join(expect.names[i] for i in needed) or "없음"
            raise AssertionError(
                f"{label}: 기울기가 필요 없는 입력 {expect.names[position]} 자리에 None 대신 텐서를 돌려줬어요 "
                f"(기울기가 필요한 입력: {wanted}).\nctx.needs_input_grad 값을 보고, False인 입력의 기울기는 계산하지 말고 "
                "None을 돌려주세요. 쓰이지 않을 계산을 건너뛰는 것이 이 기능의 목적이에요.")


def check_second_order(fn: StudentFunction, cases: Sequence[Case], *, what: str, expect: Expectations, seed: int,
                       outputs: Sequence[Any]) -> None:
    """gradgradcheck's mathematics: the backward's own derivatives against central differences (one batch)."""
    requests: list[Request] = []
    plan = []
    for number, (case, out) in enumerate(zip(cases, outputs)):
        flat = _flat_outputs(out)
        u = random_vector(flat.shape, seed * 1000 + number)
        weights = [random_vector(case.args[leaf].shape, seed * 1000 + 100 + 10 * number + k)
                   for k, leaf in enumerate(case.leaves)]
        grad_outputs = _unflatten(u, out)
        entry = {"case": case, "u": u, "w": weights, "at": len(requests), "points": []}
        requests.append(fn.grad_request(*case.args, requires_grad=case.leaves, grad_outputs=grad_outputs,
                                        second=weights))
        for leaf in case.leaves:
            for index in range(case.args[leaf].numel()):
                for step in (EPS, -EPS):
                    requests.append(fn.grad_request(*_perturbed(case.args, leaf, index, step),
                                                    requires_grad=case.leaves, grad_outputs=grad_outputs))
                entry["points"].append((leaf, index))
        for step in (EPS, -EPS):
            requests.append(fn.call_request(*_along(case.args, case.leaves, weights, step)))
        plan.append(entry)
    replies = fn.batch(requests)
    for entry in plan:
        case, label = entry["case"], f"{what} ({entry['case'].label}), 기울기의 기울기"
        analytic = replies[entry["at"]]
        _raise_student_error(analytic, label)
        second = analytic.second or {}
        if any(second.get("detached", ())):
            raise AssertionError(
                f"{label}: backward의 결과가 연산 그래프에 연결되지 않아서 한 번 더 미분할 수 없어요.\n"
                "create_graph=True 인자를 주고 역전파하면 backward 안의 계산도 기록돼요. backward는 저장한 텐서로 torch 연산만 써서 "
                "계산해야 해요 (.detach(), .item(), NumPy 변환, torch.no_grad, @once_differentiable 데코레이터를 쓰면 끊겨요).")
        grads = second.get("grads", ())
        position = entry["at"] + 1
        for slot, leaf in enumerate(case.leaves):
            numeric = torch.zeros(case.args[leaf].numel(), dtype=torch.float64)
            for index in range(case.args[leaf].numel()):
                plus, minus = replies[position], replies[position + 1]
                position += 2
                _raise_student_error(plus, label)
                _raise_student_error(minus, label)
                numeric[index] = (_weighted(plus, entry["w"]) - _weighted(minus, entry["w"])) / (2 * EPS)
            received = grads[slot] if slot < len(grads) else None
            expected = numeric.reshape(case.args[leaf].shape)
            if received is None:
                received = torch.zeros_like(expected)
            if not _close(received, expected):
                raise AssertionError(
                    f"{label}: 기울기의 기울기가 달라요 (입력: {expect.names[leaf]}).\n"
                    f"기대(backward 결과의 중앙 차분, float64): {_describe(expected)}\n받은 값: {_describe(received)}\n"
                    "backward 식을 저장한 입력으로 계산했는지, 바꿔치기(in-place) 연산 없이 torch 연산만 썼는지 확인해 보세요.")
        plus, minus = replies[position], replies[position + 1]
        _raise_student_error(plus, label)
        _raise_student_error(minus, label)
        along = (_flat_outputs(plus.result) - _flat_outputs(minus.result)) / (2 * EPS)
        received_u = grads[len(case.leaves)] if len(grads) > len(case.leaves) else None
        received_u = torch.zeros_like(along) if received_u is None else received_u.reshape(-1)
        if not _close(received_u.double(), along):
            raise AssertionError(
                f"{label}: grad_output 인자에 대한 미분이 달라요.\n기대(순전파의 방향 미분 J w, float64): "
                f"{_describe(along)}\n받은 값: {_describe(received_u)}\n"
                "backward 결과는 grad_output 값에 비례해야 해요: grad_output 인자를 한 번만 곱했는지 확인해 보세요.")


def _weighted(call: GradCall, weights: Sequence[torch.Tensor]) -> float:
    total = 0.0
    for grad, weight in zip(call.grads, weights):
        if grad is not None:
            total += float((grad.double() * weight).sum())
    return total
