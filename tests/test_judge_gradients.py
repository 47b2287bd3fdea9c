"""The judge grown for gradients and objects (issue 13): requests, replies and checks, on plain data only.

In-process (``LocalStudent``) for the requests, with a real unix socket pair and a probe thread for the channel rules
of ``ContainedExecute`` (one reply per request, bound to its nonce, bounded in size). Kernels and nbgrader are
exercised by ``tests/test_red_team_judge.py`` and ``tests/test_autograd_grading.py``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from autograder.engine import gradients, probe
from autograder.engine.gradients import Case, Expectations, check_gradients, likely_cause
from autograder.engine.judge import LocalStudent, StudentFunction, TrustedFunction, new_handle_id
from autograder.engine.nbgrader import execute
from autograder.engine.nbgrader.execute import ContainedExecute, IntegrityViolation, ProbeError
from autograder.hidden import autograd as hidden_autograd
from autograder.tools.korean_text import problems, template_problems


def _main(klass: type) -> type:
    """Mark a test-defined class as the notebook's own (student classes live in __main__)."""
    klass.__module__ = "__main__"
    return klass


@_main
class Softplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)


@_main
class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias not summed: autograd sums it silently


def _student(**namespace) -> tuple[StudentFunction, list]:
    name = next(iter(namespace))
    flags: list[str] = []
    return StudentFunction(name, LocalStudent(dict(namespace)).send, flags), flags


def _f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------------ gradients

def test_dotted_name_reaches_a_custom_functions_apply():
    """Can a check call ``Softplus.apply`` by its dotted name, and is the result's node the student's own?"""
    softplus, _ = _student(Softplus=Softplus)
    call = softplus.attribute("apply").grad(_f64(3), grad_outputs=[torch.ones(3, dtype=torch.float64)])
    assert call.graph[0]["custom"] == "__main__.Softplus" and call.graph[0]["grad_fn"] == "SoftplusBackward"
    assert torch.allclose(call.grads[0], torch.sigmoid(_f64(3)))


def test_private_attributes_cannot_be_named():
    """Are dotted names limited to public attributes (no ``Softplus._secret``, no ``__class__``)?"""
    softplus, _ = _student(Softplus=Softplus)
    with pytest.raises(ValueError):
        softplus.attribute("__class__")
    assert probe._lookup({"Softplus": Softplus}, "Softplus.__class__.__subclasses__") is None


def test_gradient_of_an_unused_input_is_none():
    """Does a gradient autograd does not produce come back as None, not as zeros?"""
    first, _ = _student(first=lambda a, b: a * 2)
    call = first.grad(_f64(2), _f64(2, seed=1), requires_grad=(0, 1), grad_outputs=[torch.ones(2, dtype=torch.float64)])
    assert torch.equal(call.grads[0], torch.full((2,), 2.0, dtype=torch.float64)) and call.grads[1] is None


def test_raw_backward_shows_what_autograd_would_hide():
    """Does the raw call show a bias gradient of shape (N, out) that autograd silently sums to (out,)?"""
    linear, _ = _student(Linear=Linear)
    args = (_f64(4, 3), _f64(2, 3, seed=1), _f64(2, seed=2))
    call = linear.attribute("apply").grad(*args, requires_grad=(0, 1, 2), grad_outputs=[_f64(4, 2, seed=3)],
                                          raw_backward=True)
    assert tuple(call.grads[2].shape) == (2,), "autograd reduced it"
    assert tuple(call.raw["returned"][2].shape) == (4, 2) and call.raw["needs_input_grad"] == [True, True, True]


@pytest.mark.parametrize("way", [
    "torch.autograd.grad(y, leaf, grad_output)[0]",
    "grad_alias(y, leaf, grad_output)[0]",
    "(y.backward(grad_output), leaf.grad)[1]",
    "torch.autograd.backward([y], [grad_output]) or leaf.grad",
    "torch.autograd.functional.vjp(torch.nn.functional.softplus, x.detach(), grad_output)[1]",
    "torch.func.vjp(torch.nn.functional.softplus, x.detach())[1](grad_output)[0]",
    "torch.func.grad(lambda t: (torch.nn.functional.softplus(t) * grad_output).sum())(x.detach())",
])
def test_autograd_inside_backward_is_counted(way):
    """Is autograd called from a hand-written backward counted, whichever public entry point and import it uses?"""
    namespace = {"torch": torch, "grad_alias": torch.autograd.grad}
    exec(  # noqa: S102 - the test's own code, as a notebook would define it
        "class Cheat(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        ctx.save_for_backward(x)\n"
        "        return torch.nn.functional.softplus(x)\n"
        "    @staticmethod\n"
        "    def backward(ctx, grad_output):\n"
        "        (x,) = ctx.saved_tensors\n"
        "        with torch.enable_grad():\n"
        "            leaf = x.detach().requires_grad_()\n"
        "            y = torch.nn.functional.softplus(leaf)\n"
        f"            return {way}\n", namespace)
    cheat, _ = _student(Cheat=namespace["Cheat"])
    call = cheat.attribute("apply").grad(_f64(3), grad_outputs=[_f64(3, seed=1)])
    assert call.error is None, call.error
    assert call.autograd_in_backward >= 1


def test_hand_written_backward_counts_no_autograd():
    """Does a backward written with tensor operations only count zero runs of autograd (and one backward run)?"""
    softplus, flags = _student(Softplus=Softplus)
    call = softplus.attribute("apply").grad(_f64(3), grad_outputs=[_f64(3, seed=1)], raw_backward=True)
    assert call.autograd_in_backward == 0 and call.backward_runs == ("__main__.Softplus", "__main__.Softplus")
    assert flags == []


def test_counting_leaves_torch_as_it_was():
    """After a judged call, are autograd's engine, BackwardCFunction.apply and Variable's metaclass untouched?"""
    from torch.autograd.function import BackwardCFunction
    from torch.autograd.variable import Variable

    before = (Variable._execution_engine, BackwardCFunction.__dict__["apply"], type(Variable).__dict__.get("__setattr__"))
    softplus, _ = _student(Softplus=Softplus)
    softplus.attribute("apply").grad(_f64(3), grad_outputs=[_f64(3, seed=1)], raw_backward=True, second=[_f64(3)])
    after = (Variable._execution_engine, BackwardCFunction.__dict__["apply"], type(Variable).__dict__.get("__setattr__"))
    assert after == before


def test_engine_swapped_for_a_moment_is_flagged():
    """Is a backward that puts another engine object in place (and back) flagged, and its check failed?"""
    namespace = {"torch": torch}
    exec(  # noqa: S102
        "class Sneaky(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        return x * 2\n"
        "    @staticmethod\n"
        "    def backward(ctx, grad_output):\n"
        "        from torch.autograd.variable import Variable\n"
        "        kept = Variable._execution_engine\n"
        "        Variable._execution_engine = torch._C._ImperativeEngine()\n"
        "        Variable._execution_engine = kept\n"
        "        return grad_output * 2\n", namespace)
    sneaky, flags = _student(Sneaky=namespace["Sneaky"])
    with pytest.raises(AssertionError, match="autograd의 엔진"):
        sneaky.attribute("apply").grad(_f64(2), grad_outputs=[_f64(2)])
    assert flags and "engine" in flags[0]


def test_second_order_of_a_differentiable_and_of_a_detached_backward():
    """Does the second backward give d<w, g>/dx and d<w, g>/du, and say when the backward cannot be differentiated?"""
    softplus, _ = _student(Softplus=Softplus)
    x, u, w = _f64(3), _f64(3, seed=1), _f64(3, seed=2)
    call = softplus.attribute("apply").grad(x, grad_outputs=[u], second=[w])
    sigmoid = torch.sigmoid(x)
    assert torch.allclose(call.second["grads"][0], w * u * sigmoid * (1 - sigmoid))
    assert torch.allclose(call.second["grads"][1], w * sigmoid) and call.second["detached"] == (False,)

    @_main
    class Detached(Softplus):
        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            with torch.no_grad():
                return grad_output * torch.sigmoid(x)

    detached, _ = _student(Detached=Detached)
    assert detached.attribute("apply").grad(x, grad_outputs=[u], second=[w]).second["detached"] == (True,)


def test_input_changed_in_place_is_reported():
    """Does a backward that changes its saved input in place show up in the version counters and the values?"""

    @_main
    class InPlace(Softplus):
        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * x.sigmoid_()

    in_place, _ = _student(InPlace=InPlace)
    x = _f64(3)
    call = in_place.attribute("apply").grad(x, grad_outputs=[_f64(3, seed=1)])
    assert call.versions_changed == (True,) and not torch.equal(call.args_after[0], x)


def test_uninitialized_memory_in_backward_is_caught_by_rounds():
    """Does a backward that reads torch.empty before writing it give different results across fill rounds?"""

    @_main
    class Garbage(Softplus):
        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            out = torch.empty_like(x)
            out[x > 0] = (grad_output * torch.sigmoid(x))[x > 0]
            return out

    garbage, _ = _student(Garbage=Garbage)
    rounds = garbage.attribute("apply").grad(torch.tensor([1.0, -1.0]), grad_outputs=[torch.ones(2)], rounds=True)
    with pytest.raises(AssertionError, match="초기화되지 않은 메모리"):
        hidden_autograd._expect_same_rounds(rounds, "Garbage.apply")
    softplus, _ = _student(Softplus=Softplus)
    clean = softplus.attribute("apply").grad(torch.tensor([1.0, -1.0]), grad_outputs=[torch.ones(2)], rounds=True)
    hidden_autograd._expect_same_rounds(clean, "Softplus.apply")


# ------------------------------------------------------------------------------------------------ trusted functions

def test_trusted_function_is_sent_by_name_and_rebuilt_from_the_table():
    """Does a trusted function travel as its name only, and reach the student's code as the table's function?"""
    seen = []
    fn, _ = _student(use=lambda f, x: (seen.append(f), f(x))[1])
    request = fn.call_request(TrustedFunction("cubic"), _f64(3))
    assert request.body["args"][0] == {"t": "fn", "name": "cubic"}
    call = fn.batch([request])[0]
    assert torch.allclose(call.result, (_f64(3) ** 3).sum() / 6) and seen[0].__name__ == "cubic"


def test_changing_the_wrapper_changes_no_later_call():
    """Does each request hand out a fresh wrapper, so that changing one changes nothing else?"""
    fn, _ = _student(spoil=lambda f, x: setattr(f.__closure__[0], "cell_contents", lambda t: t.sum() * 0) or f(x))
    assert float(fn.call(TrustedFunction("cubic"), torch.ones(2)).result) == 0.0
    assert probe._trusted("cubic")(torch.ones(2)).item() == pytest.approx(2 / 6)


def test_patching_a_trusted_function_changes_the_fingerprint():
    """Does rewriting the code of a trusted function show in the fingerprint that tampering is detected by?"""
    before = probe.fingerprint()
    impl = probe.TRUSTED_FUNCTIONS["cubic"]
    code = impl.__code__
    try:
        impl.__code__ = (lambda x: (x * 0).sum()).__code__
        changed = [name for name, value in probe.fingerprint().items() if before.get(name) != value]
    finally:
        impl.__code__ = code
    assert changed == ["probe.TRUSTED_FUNCTIONS['cubic']"]


def test_unknown_trusted_function_is_refused():
    """Is a request naming a function outside the fixed table refused (no code ever travels in a request)?"""
    reply = LocalStudent({"f": lambda g: g}).send_batch(
        [{"op": "call", "function": "f", "args": [{"t": "fn", "name": "os.system"}]}])[0]
    assert "refused" in reply


# ------------------------------------------------------------------------------------------------ objects

@_main
class Fit:
    def __init__(self, n):
        self.w = torch.zeros(n, requires_grad=True)

    def step(self, x):
        loss = (self.w * x).sum()
        loss.backward()
        with torch.no_grad():
            self.w -= 0.5 * self.w.grad
        return loss.item()


def test_kept_object_lives_between_calls_and_is_read_as_stored():
    """Does an object kept behind a handle keep its state between requests, read with grad, identity and version?"""
    fit_class, flags = _student(Fit=Fit)
    fit = fit_class.new(3)
    assert fit.run("step", torch.ones(3)).result == 0.0
    state = fit.get("w", "w.grad")
    assert torch.equal(state["w"].value, torch.full((3,), -0.5)) and torch.equal(state["w.grad"].value, torch.ones(3))
    assert state["w"].is_leaf and state["w"].requires_grad and state["w"].version == 1
    fit.run("step", torch.ones(3))
    again = fit.get("w")["w"]
    assert again.same_as_before is True and torch.equal(again.value, torch.full((3,), -1.5)) and flags == []


def test_handle_ids_are_drawn_by_the_grader():
    """Are handle ids 128 random bits drawn in the grader, and is an id used twice refused by the kernel?"""
    ids = {new_handle_id() for _ in range(100)}
    assert len(ids) == 100 and all(probe.HANDLE_ID.fullmatch(i) for i in ids)
    local = LocalStudent({"Fit": Fit})
    chosen = new_handle_id()
    first = local.send_batch([{"op": "new", "function": "Fit", "args": [{"t": "int", "v": "2"}], "as": chosen}])[0]
    second = local.send_batch([{"op": "new", "function": "Fit", "args": [{"t": "int", "v": "2"}], "as": chosen}])[0]
    assert "refused" not in first and "refused" in second


def test_state_is_read_without_running_the_objects_code():
    """Does a class property that shadows a stored attribute (a lie) neither fool the read nor go unflagged?"""

    @_main
    class Shadow:
        def __init__(self):
            self.__dict__["w"] = torch.zeros(2)

        @property
        def w(self):
            return torch.ones(2)

    shadow_class, flags = _student(Shadow=Shadow)
    shadow = shadow_class.new()
    with pytest.raises(AssertionError, match="다른 값을 보여"):
        shadow.get("w")
    assert flags and "shows another object" in flags[0]


def test_getattribute_override_is_refused_and_flagged():
    """Is a kept object whose class redefines __getattribute__ flagged as soon as it is made?"""

    @_main
    class Liar:
        def __getattribute__(self, name):
            return object.__getattribute__(self, name)

    liar_class, flags = _student(Liar=Liar)
    with pytest.raises(AssertionError):
        liar_class.new()
    assert flags and "__getattribute__" in flags[0]


def test_module_state_dict_set_and_load_use_torchs_own_code():
    """For an nn.Module: state_dict read from its stores, set in place (same tensor), load_state_dict by torch's code."""

    @_main
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)
            self.register_buffer("steps", torch.zeros(()))

    net_class, flags = _student(Net=Net)
    net = net_class.new()
    state = net.state_dict()
    assert set(state) == {"fc.weight", "fc.bias", "steps"}
    net.set("fc.weight", torch.tensor([[1.0, 2.0]]))
    weight = net.get("fc.weight")["fc.weight"]
    assert torch.equal(weight.value, torch.tensor([[1.0, 2.0]])) and weight.class_name == "torch.nn.parameter.Parameter"
    net.load_state_dict({**state, "fc.bias": torch.tensor([5.0])})
    assert torch.equal(net.get("fc.bias")["fc.bias"].value, torch.tensor([5.0]))
    assert net.get("fc.weight")["fc.weight"].same_as_before is True and flags == []


def test_module_whose_state_dict_lies_is_flagged():
    """Is a Module whose own state_dict() shows other values than its parameters flagged?"""

    @_main
    class Fake(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def state_dict(self, *args, **kwargs):
            return {"fc.weight": torch.zeros(1, 2), "fc.bias": torch.zeros(1)}

    fake_class, flags = _student(Fake=Fake)
    with pytest.raises(AssertionError, match="다른 값을 보여"):
        fake_class.new().state_dict()
    assert flags and "state_dict" in flags[0]


def test_optimizer_state_is_plain_data():
    """Can an optimizer kept in the kernel be stepped and its state_dict read as plain data?"""

    @_main
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))

    def make_optimizer(model):
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    local = LocalStudent({"Model": Model, "make_optimizer": make_optimizer})
    model = StudentFunction("Model", local.send, []).new()
    optimizer = StudentFunction("make_optimizer", local.send, []).new(model)
    state = optimizer.state_dict()
    assert state["param_groups"][0]["lr"] == 0.1 and state["param_groups"][0]["momentum"] == 0.9


# ------------------------------------------------------------------------------------------------ results

def test_disguised_results_are_described_never_decoded_and_flagged():
    """Are a tensor subclass and a proxy that lies about its class refused as results, and flagged?"""

    @_main
    class Quiet(torch.Tensor):
        pass

    @_main
    class Proxy:
        def __init__(self, tensor):
            object.__setattr__(self, "tensor", tensor)

        @property
        def __class__(self):
            return torch.Tensor

        def __getattr__(self, name):
            return getattr(object.__getattribute__(self, "tensor"), name)

    for result in (torch.zeros(2).as_subclass(Quiet), Proxy(torch.zeros(2))):
        fn, flags = _student(f=lambda value=result: value)
        with pytest.raises(AssertionError, match="척하는 객체"):
            fn.call()
        assert flags and "result of class" in flags[0]


def test_parameter_result_is_refused_but_not_flagged():
    """Is an nn.Parameter result (torch's own subclass) refused as a plain tensor would not be, yet never flagged?"""
    fn, flags = _student(f=lambda: torch.nn.Parameter(torch.zeros(2)))
    with pytest.raises(AssertionError, match="결과의 종류가 달라요"):
        fn.call()
    assert flags == []


# ------------------------------------------------------------------------------------------------ batches

class _CountingStudent(LocalStudent):
    def __init__(self, namespace: dict) -> None:
        super().__init__(namespace)
        self.batches = 0

    def send_batch(self, requests):
        self.batches += 1
        return super().send_batch(requests)


def test_a_gradient_check_is_one_or_two_round_trips():
    """Does a whole gradcheck (many shapes, every perturbed point) travel as two batches, plus one for second order?"""
    student = _CountingStudent({"Softplus": Softplus})
    fn = StudentFunction("Softplus", student.send, []).attribute("apply")
    cases = [Case((_f64(*shape, seed=seed),), (0,), f"모양 {shape} 입력") for seed, shape in enumerate([(3,), (2, 3)])]
    check_gradients(fn, cases, what="Softplus.apply", expect=Expectations(("x",), second_order=True))
    assert student.batches == 3


def test_a_channel_without_batches_still_works():
    """Where a channel has no batch sender, is each call sent as its own request, in order?"""
    local = LocalStudent({"f": lambda x: x + 1})
    fn = StudentFunction("f", lambda request: local.send(request), [])
    results = fn.batch([fn.call_request(torch.tensor(1.0)), fn.call_request(torch.tensor(2.0))])
    assert [float(r.result) for r in results] == [2.0, 3.0]


# ------------------------------------------------------------------------------------------------ messages

def test_likely_causes_are_read_from_the_numbers():
    """Does the message name an ignored grad_output, a factor 2, a flipped sign, swapped inputs and all zeros?"""
    expected, ones, other = (torch.tensor(values, dtype=torch.float64) for values in ([1.0, 2.0], [5.0, 7.0], [3.0, -1.0]))
    assert "곱하지 않은" in likely_cause(ones.clone(), expected, with_ones=ones)
    assert "2배" in likely_cause(2 * expected, expected)
    assert "부호" in likely_cause(-expected, expected)
    assert "순서" in likely_cause(other.clone(), expected, others={"weight": other})
    assert "영(0)" in likely_cause(torch.zeros(2, dtype=torch.float64), expected)
    assert "모양" in likely_cause(torch.zeros(3, dtype=torch.float64), expected)


@pytest.mark.parametrize("path", ["autograder/engine/gradients.py", "autograder/hidden/autograd.py"])
def test_message_templates_of_gradient_checks_read_well(path):
    """Do the message templates of the gradient checks put no particle after code or a value?"""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_korean_messages import _templates_in

    from autograder.course import REPO_ROOT

    templates = _templates_in((REPO_ROOT / path).read_text(encoding="utf-8"))
    assert len(templates) > 10
    assert {text[:60]: template_problems(text) for text in templates if template_problems(text)} == {}


def test_messages_of_failed_gradient_checks_read_well():
    """Do the messages that wrong backwards produce (values, shapes, None, in place, no grad) read as good Korean?"""
    linear, _ = _student(Linear=Linear)
    case = Case((_f64(4, 3), _f64(2, 3, seed=1), _f64(2, seed=2)), (0, 1, 2), "입력 크기 N=4")
    with pytest.raises(AssertionError) as failure:
        check_gradients(linear.attribute("apply"), [case], what="Linear.apply",
                        expect=Expectations(("x", "weight", "bias"), raw=True))
    message = str(failure.value)
    assert "모양(shape)" in message and problems(message) == []


# ------------------------------------------------------------------------------------------------ the channel

class _FakeKernel:
    """What ContainedExecute asks of a kernel manager while it reads a reply: alive, and can be interrupted."""

    async def is_alive(self) -> bool:
        return True

    async def interrupt_kernel(self) -> None:
        return None


def _channel(answer) -> tuple[ContainedExecute, socket.socket]:
    """A ContainedExecute wired to a socket pair whose other end answers with ``answer(line) -> list of lines``."""
    grader, kernel = socket.socketpair()
    executor = ContainedExecute.__new__(ContainedExecute)
    executor.__dict__.update(_probe_module="probe", _judge=grader, _judge_broken=False, _cell_timeout=5,
                             _deadline=time.monotonic() + 30, km=_FakeKernel(), kc=None, _judged_output_bytes=0)

    def serve() -> None:
        try:
            for line in kernel.makefile("rb"):
                for reply in answer(line):
                    kernel.sendall(reply)
        except OSError:  # the grader closed its end (it refused what it read)
            return

    threading.Thread(target=serve, daemon=True).start()
    return executor, kernel


def _genuine(line: bytes) -> bytes:
    return probe.handle({"f": lambda: 1}, line.decode()).encode() + b"\n"


def test_channel_accepts_one_genuine_reply_per_request():
    """(Baseline) Does an honest probe on the channel answer request after request?"""
    executor, _ = _channel(lambda line: [_genuine(line)])
    for _ in range(3):
        assert executor._probe_batch([{"function": "f", "args": []}])[0]["result"] == {"t": "int", "v": "1"}


def test_second_reply_to_a_request_is_integrity_violation():
    """When a request is answered twice (a forged reply first), is the genuine second one caught as tampering?"""
    forged = []

    def answer(line: bytes) -> list[bytes]:
        request = json.loads(line)
        if not forged and request["calls"]:
            forged.append(True)
            fake = json.dumps({"replies": [{"result": {"t": "int", "v": "42"}}], "nonce": request["nonce"]})
            return [fake.encode() + b"\n", _genuine(line)]
        return [_genuine(line)]

    executor, _ = _channel(answer)
    assert executor._probe_batch([{"function": "f", "args": []}])[0]["result"]["v"] == "42"  # accepted for now
    with pytest.raises(IntegrityViolation, match="second reply"):
        executor._probe_batch([])  # what _settle_judge_channel sends once the kernel is idle


def test_reply_under_a_wrong_nonce_is_refused():
    """Is a reply stamped with any nonce but the request's own refused?"""
    executor, _ = _channel(lambda line: [json.dumps({"replies": [{}], "nonce": "0" * 16}).encode() + b"\n"])
    with pytest.raises(ProbeError, match="요청의 것이 아니에요"):
        executor._probe_batch([{"function": "f", "args": []}])


def test_oversized_reply_is_refused_before_it_is_read_whole(monkeypatch):
    """Does the grader stop reading a reply at its cap (here lowered to 1 MiB) and refuse it?"""
    monkeypatch.setattr(execute, "MAX_REPLY_BYTES", 2**20)
    executor, _ = _channel(lambda line: [b'{"padding": "' + b"x" * (3 * 2**20)])
    with pytest.raises(ProbeError, match="너무 커요"):
        executor._probe_batch([{"function": "f", "args": []}])
    assert executor._judge_broken


def test_gradients_module_uses_gradchecks_tolerances():
    """(Guard) Are the tolerances the ones the notebook states (gradcheck's defaults: atol 1e-5, rtol 1e-3)?"""
    assert (gradients.ATOL, gradients.RTOL, gradients.EPS) == (1e-5, 1e-3, 1e-6)


def test_reply_written_right_behind_another_is_read_as_the_next_one():
    """When a forged reply and the genuine one arrive in one piece, is the second still caught as a second reply?"""

    def answer(line: bytes) -> list[bytes]:
        request = json.loads(line)
        if request["calls"]:
            fake = json.dumps({"replies": [{"result": {"t": "int", "v": "42"}}], "nonce": request["nonce"]}) + "\n"
            return [fake.encode() + _genuine(line)]  # one write: both lines reach the grader together
        return [_genuine(line)]

    executor, _ = _channel(answer)
    executor._probe_batch([{"function": "f", "args": []}])
    with pytest.raises(IntegrityViolation, match="second reply"):
        executor._probe_batch([])
