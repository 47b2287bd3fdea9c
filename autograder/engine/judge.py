"""Grader-side half of the judge: hidden tests reach their verdict outside the student's kernel.

A test cell's hidden block holds one call, for example::

    ### BEGIN HIDDEN TESTS
    from autograder.engine.judge import judge
    judge("autograder.hidden.tensors.check_prefix_sums", prefix_sums)
    ### END HIDDEN TESTS

With the course's configuration the hidden block never reaches the kernel: ``ContainedExecute`` (and the
in-process grader of the test suite) strips it, runs the visible part, then calls ``check_prefix_sums`` itself with
a :class:`StudentFunction`: a handle that calls the student's ``prefix_sums`` in the kernel through
:mod:`autograder.engine.probe` and gets back plain data. Expected values, tolerances and comparisons live only here, in a
process the student's code never ran in. Under stock nbgrader the same lines run in the kernel (see :func:`judge`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from autograder.engine import probe
from autograder.engine.cells import hidden_region, strip_hidden_tests  # noqa: F401 - strip_hidden_tests re-exported
from autograder.engine.layout import course_layout

DIRECTIVE = re.compile(r'\bjudge\(\s*"([\w.]+)"\s*((?:,\s*\w+\s*)*)\)')
PROBE_SOURCE = Path(probe.__file__).read_text(encoding="utf-8")


class JudgeChannelError(RuntimeError):
    """The grader could not trust or reach the kernel while judging (raised through checks, never a verdict)."""


class StudentCodeError(AssertionError):
    """The student's function raised; the message says which exception, in Korean."""


@dataclass
class Call:
    """What one call of the student's function did: its result, its arguments afterwards, or its error."""

    result: Any = None
    args_after: tuple = ()
    error: dict | None = None
    global_rng_changed: tuple[str, ...] = ()
    """Which global random states the call changed: any of "torch", "numpy", "random"."""
    result_after_arg_mutation: Any = None

    def raise_if_error(self, what: str) -> None:
        """Turn the student's exception into a failing check that names it, in Korean (``what``: the call)."""
        if not self.error:
            return
        kind, message = self.error["type"], self.error["message"].strip()
        if kind == "NotImplementedError":
            raise StudentCodeError(
                f"{what}: 아직 작성하지 않은 함수예요 (NotImplementedError). "
                "raise NotImplementedError() 줄을 지우고 코드를 채워 주세요."
            )
        detail = f"{kind}: {message}" if message else f"{kind} (메시지 없음)"
        raise StudentCodeError(f"{what} 실행 중에 오류가 났어요.\n{detail}")


def _decode_result(data: Any) -> Any:
    """Decode, refusing anything that only pretends to be a tensor or an array."""
    if isinstance(data, dict) and data.get("t") == "tensor" and data["class"] != "torch.Tensor":
        raise AssertionError(
            f"결과의 종류가 달라요. 기대: torch.Tensor, 받은 값: {data['class']} 객체. "
            "torch.Tensor 하위 클래스(subclass)나 흉내 낸 객체는 받을 수 없어요."
        )
    if isinstance(data, dict) and data.get("t") == "other":
        return _Opaque(data["class"], data["repr"])
    if isinstance(data, dict) and data.get("t") in {"list", "tuple"}:
        items = [_decode_result(item) for item in data["items"]]
        return items if data["t"] == "list" else tuple(items)
    return probe.decode(data)


@dataclass(frozen=True)
class _Opaque:
    """A value the probe could only describe (an object of a class the judge does not rebuild)."""

    class_name: str
    text: str

    def __repr__(self) -> str:
        return f"<{self.class_name}: {self.text}>"


def _to_call(reply: dict) -> Call:
    if reply.get("error"):
        return Call(error=reply["error"], global_rng_changed=tuple(reply.get("global_rng_changed") or ()))
    return Call(
        result=_decode_result(reply["result"]),
        args_after=tuple(probe.decode(item) for item in reply["args_after"]),
        global_rng_changed=tuple(reply.get("global_rng_changed") or ()),
        result_after_arg_mutation=(
            _decode_result(reply["result_after_arg_mutation"]) if "result_after_arg_mutation" in reply else None
        ),
    )


class StudentFunction:
    """A function defined in the student's notebook, called through the probe with plain data."""

    def __init__(self, name: str, send: Callable[[dict], dict], flags: list[str] | None = None) -> None:
        self.__name__ = name
        self._send = send
        self.flags = flags if flags is not None else []

    def _request(self, args: tuple, **options: Any) -> dict:
        return self._checked_plain_reply(self._send(self.run_request(*args, **options).body))

    def _checked_plain_reply(self, reply: dict) -> dict:
        if '"impostor": true' in json.dumps(reply):
            self.flags.append(f"{self.__name__} returned an object whose class redefines comparison")
        if reply.get("missing"):
            raise AssertionError(f"{self.__name__} 함수를 찾을 수 없어요. 함수 이름을 바꾸거나 지우지 않았는지 확인해 보세요.")
        return reply

    def run_request(self, *args: Any, **options: Any) -> Request:
        """The call :meth:`run` makes (with ``rounds=True``, the calls :meth:`rounds` makes), for :meth:`batch`:
        its reply is read as :meth:`run` reads it (a list of calls for rounds)."""
        return Request({"function": self.__name__, "args": [probe.encode(a) for a in args], **options}, "plain")

    def run(self, *args: Any, **options: Any) -> Call:
        """Call once on copies of ``args``; the student's exception is reported, not raised."""
        return _to_call(self._request(args, **options))

    def __call__(self, *args: Any, **options: Any) -> Any:
        """Call once and return the result; the student's exception becomes a failing check."""
        call = self.run(*args, **options)
        call.raise_if_error(self.__name__)
        return call.result

    def rounds(self, *args: Any) -> list[Call]:
        """One call per fill pattern of uninitialized memory (see :mod:`autograder.checks.uninit`)."""
        return [_to_call(r) for r in self._request(args, rounds=True)["rounds"]]

    # -- gradients, batches and objects (issue 13) -------------------------------------------------------------

    def attribute(self, name: str) -> StudentFunction:
        """The student's ``<name>.<attribute>`` (for example ``Softplus.apply``), called the same way."""
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"not a public attribute name: {name!r}")
        return StudentFunction(f"{self.__name__}.{name}", self._send, self.flags)

    def call_request(self, *args: Any, rounds: bool = False, read: tuple[str, ...] | None = None,
                     **kwargs: Any) -> Request:
        """A call whose arguments may be trusted functions or kept objects (``read``: stored state of the result)."""
        channel = _channel(self._send)
        body: dict[str, Any] = {"op": "call", "function": self.__name__,
                                "args": [_encode_argument(a, channel) for a in args],
                                "kwargs": {k: _encode_argument(v, channel) for k, v in kwargs.items()}}
        if rounds:
            body["rounds"] = True
        if read is not None:
            body["read"] = list(read)
        return Request(body, "call")

    def grad_request(self, *args: Any, requires_grad: tuple[int, ...] = (0,),
                     grad_outputs: list | None = None, create_graph: bool = False, raw_backward: bool = False,
                     second: list | None = None, rounds: bool = False) -> Request:
        """Forward on ``args`` (those at ``requires_grad`` made leaves that require grad), then backward."""
        channel = _channel(self._send)
        body: dict[str, Any] = {
            "op": "grad", "function": self.__name__, "args": [_encode_argument(a, channel) for a in args],
            "requires_grad": list(requires_grad),
            "grad_outputs": None if grad_outputs is None else [None if g is None else probe.encode(g)
                                                               for g in grad_outputs],
            "create_graph": create_graph, "raw_backward": raw_backward,
            "second": None if second is None else [None if w is None else probe.encode(w) for w in second],
        }
        if rounds:
            body["rounds"] = True
        return Request(body, "grad")

    def batch(self, requests: list[Request], *, checked_after_each: bool = False) -> list[Any]:
        """Send ``requests`` as one batch (one round trip, run in order); return a Call or GradCall for each.

        A call that uses ``rounds`` gives a list (one per fill pattern of uninitialized memory).
        ``checked_after_each``: the kernel's channel checks what grading relies on after every call of the batch, as
        when the calls travel one by one (a change that a later call of the batch undoes is still seen); otherwise
        once, after the whole batch.
        """
        if not requests:
            return []
        options = {"checked_after_each": True} if checked_after_each else {}
        replies = batch_sender(self._send)([request.body for request in requests], **options)
        if not isinstance(replies, list) or len(replies) != len(requests):
            raise JudgeChannelError("the batch came back with another number of replies")
        return [self._read_reply(reply, request.kind) for reply, request in zip(replies, requests)]

    def _read_reply(self, reply: Any, kind: str) -> Any:
        if not isinstance(reply, dict):
            raise JudgeChannelError("a reply that is not an object")
        if kind == "get":
            return reply  # read by StudentObject.states
        if kind == "plain":
            reply = self._checked_plain_reply(reply)
            return [_to_call(item) for item in reply["rounds"]] if "rounds" in reply else _to_call(reply)
        flags = _flags_in(reply)
        for flag in flags:
            self.flags.append(f"{self.__name__}: {flag}")
        if flags:
            raise AssertionError(flagged_message(flags[0]))
        if '"impostor": true' in json.dumps(reply):
            self.flags.append(f"{self.__name__} returned an object whose class redefines comparison")
        if reply.get("refused"):
            self.flags.append(f"{self.__name__}: request refused by the kernel ({str(reply['refused'])[:100]})")
            raise AssertionError(REFUSED.format(reason=str(reply["refused"])[:100]))
        if reply.get("missing"):
            raise AssertionError(f"{self.__name__} 함수를 찾을 수 없어요. 함수 이름을 바꾸거나 지우지 않았는지 확인해 보세요.")
        parse = _to_grad_call if kind == "grad" else _to_plain_call
        if "rounds" in reply:
            return [parse(item) for item in reply["rounds"]]
        return parse(reply)

    def call(self, *args: Any, **kwargs: Any) -> Call:
        """One call (trusted functions and kept objects allowed among the arguments); errors are reported."""
        return self.batch([self.call_request(*args, **kwargs)])[0]

    def grad(self, *args: Any, **options: Any) -> Any:
        """One forward and backward (see :meth:`grad_request`)."""
        return self.batch([self.grad_request(*args, **options)])[0]

    def new(self, *args: Any, **kwargs: Any) -> StudentObject:
        """Construct an object of the student's class in their kernel and keep it there behind a handle."""
        handle_id = new_handle_id()
        channel = _channel(self._send)
        body = {"op": "new", "function": self.__name__, "as": handle_id,
                "args": [_encode_argument(a, channel) for a in args],
                "kwargs": {k: _encode_argument(v, channel) for k, v in kwargs.items()}}
        reply = batch_sender(self._send)([body])[0]
        call = self._read_reply(reply, "call")
        call.raise_if_error(f"{self.__name__}(...) 객체 만들기")
        kept = reply.get("kept") or {}
        return StudentObject(self, handle_id, str(kept.get("class", "?")))


class LocalStudent:
    """The student's namespace in this very process (the in-process grader of the test suite)."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace
        self.objects: dict = {}
        """Objects kept for this student only (in a kernel, the probe's own registry plays this part)."""

    def send(self, request: dict) -> dict:
        """Serve a request with the probe, through the same JSON the kernel path uses."""
        return json.loads(probe.handle(self.namespace, json.dumps(request), self.objects))

    def send_batch(self, requests: list[dict], checked_after_each: bool = False) -> list[dict]:
        """Serve several requests as one batch, in order, as the kernel path does (nothing here to check between
        calls: the grader's own process)."""
        return json.loads(probe.handle(self.namespace, json.dumps({"calls": requests}), self.objects))["replies"]


def local_function(fn: Callable, name: str | None = None) -> StudentFunction:
    """Wrap a plain callable (tests, reusable checks) as a :class:`StudentFunction`."""
    label = name or getattr(fn, "__name__", "function")
    return StudentFunction(label, LocalStudent({label: fn}).send)


def directives(source: str) -> list[tuple[str, list[str]]]:
    """The judge calls in a test cell's hidden region: (dotted check name, student function names)."""
    hidden = hidden_region(source)
    return [(m.group(1), [n.strip() for n in m.group(2).split(",") if n.strip()]) for m in DIRECTIVE.finditer(hidden)]


def judge(dotted: str, *functions: Callable) -> None:
    """Run a hidden check right here, on the notebook's own functions.

    This is what a hidden block does when the notebook is graded without this course's configuration (stock
    nbgrader): the check still runs, inside the kernel, where the student's code could interfere. With the
    course's configuration the hidden block never reaches the kernel; ``ContainedExecute`` reads the same call and
    runs the check outside it instead.
    """
    # One namespace for all of them, so that an object made by one can be passed to another (as in the kernel).
    names = [getattr(fn, "__name__", f"function{index}") for index, fn in enumerate(functions)]
    send = LocalStudent(dict(zip(names, functions))).send
    resolve(dotted)(*[StudentFunction(name, send) for name in names])


def resolve(dotted: str) -> Callable:
    """Import a check by its dotted name; only checks inside the course's checks package may be named."""
    package = course_layout().checks_package
    module_name, _, attribute = dotted.rpartition(".")
    if not module_name.startswith(package + "."):
        raise ValueError(f"judge checks must live in {package}, not {dotted!r}")
    return getattr(importlib.import_module(module_name), attribute)


def verdict(source: str, send: Callable[[dict], dict], flags: list[str] | None = None) -> str | None:
    """Run every judge directive of a cell; return the first failure message, or None when all pass.

    Suspicious replies (results whose class redefines comparison) are appended to ``flags``.
    """
    for dotted, names in directives(source):
        check = resolve(dotted)
        try:
            check(*[StudentFunction(name, send, flags) for name in names])
        except AssertionError as failure:
            return str(failure)
        except JudgeChannelError:
            raise
        except Exception as error:  # noqa: BLE001 - a broken reply or a check crash fails the cell, visibly
            return f"채점 중 확인할 수 없는 결과가 나왔어요 ({type(error).__name__}: {error})"
    return None


def same_values(first: Any, other: Any) -> bool:
    """Exact equality of decoded results, NaN equal to NaN."""
    if isinstance(first, torch.Tensor) and isinstance(other, torch.Tensor):
        if first.shape != other.shape or first.dtype != other.dtype:
            return False
        if first.dtype.is_floating_point or first.dtype.is_complex:
            return bool(((first == other) | (first.isnan() & other.isnan())).all())
        return bool((first == other).all())
    if isinstance(first, np.ndarray) and isinstance(other, np.ndarray):
        return first.shape == other.shape and first.dtype == other.dtype and bool(
            np.array_equal(first, other, equal_nan=first.dtype.kind in "fc"))
    if isinstance(first, (list, tuple)) and isinstance(other, (list, tuple)):
        return type(first) is type(other) and len(first) == len(other) and all(
            same_values(a, b) for a, b in zip(first, other))
    if isinstance(first, float) and isinstance(other, float) and math.isnan(first) and math.isnan(other):
        return True
    return type(first) is type(other) and first == other


# ------------------------------------------------------------------------------------------------ gradients, batches
# and objects (issue 13): what autograd checks and later modules' checks ask of the student's kernel, as plain data.
# Every expected value and comparison still lives in the grader; see the section comment in autograder/engine/probe.py.

class TrustedFunction:
    """A test function from the probe's fixed table: sent by name, never as code; callable here for expectations."""

    def __init__(self, name: str) -> None:
        if name not in probe.TRUSTED_FUNCTIONS:
            raise KeyError(f"no trusted function {name!r}")
        self.name = name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return probe.TRUSTED_FUNCTIONS[self.name](x)

    def __repr__(self) -> str:
        return f"f_{self.name}"


def _channel(send: Callable) -> Any:
    """What identifies a kernel's channel: the object whose send method it is (a kernel run, a LocalStudent)."""
    return getattr(send, "__self__", send)


def batch_sender(send: Callable[[dict], dict]) -> Callable[[list[dict]], list[dict]]:
    """The channel's batch sender (one request for many calls), or one request per call where it has none."""
    batch = getattr(_channel(send), "send_batch", None)
    return batch if callable(batch) else (lambda requests, **_: [send(request) for request in requests])


def new_handle_id() -> str:
    """A handle id: 128 random bits, drawn here, so that no kernel can choose or predict one."""
    return "h" + os.urandom(16).hex()


@dataclass
class GradCall:
    """What a forward and backward of the student's code did, as plain data (see ``probe._gradients``)."""

    result: Any = None
    grads: tuple = ()
    """Gradient of each input that required grad, in order; None where autograd gave none."""
    raw: dict | None = None
    """What a custom Function's backward itself returned: ``custom``, ``returned``, ``tuple``, ``needs_input_grad``."""
    second: dict | None = None
    graph: tuple = ()
    autograd_calls: int = 0
    """Runs of autograd's engine while the function itself ran (its forward)."""
    autograd_in_backward: int = 0
    """Runs of autograd's engine that started inside a custom Function's backward."""
    backward_runs: tuple = ()
    args_after: tuple = ()
    versions_changed: tuple = ()
    error: dict | None = None
    stage: str = ""
    global_rng_changed: tuple = ()

    def raise_if_error(self, what: str) -> None:
        """Turn the student's exception into a failing check that says where it happened, in Korean."""
        if not self.error:
            return
        where = {"backward": " 역전파(backward)", "raw_backward": " 역전파(backward)",
                 "second": " 이차 미분(기울기의 기울기)"}.get(self.stage, "")
        Call(error=self.error).raise_if_error(f"{what}{where}")


@dataclass
class State:
    """Stored state of a kept object at one path, read without running the object's code."""

    value: Any = None
    missing: bool = False
    class_name: str = ""
    requires_grad: bool = False
    is_leaf: bool = True
    version: int = 0
    grad: Any = None
    grad_fn: str | None = None
    same_as_before: bool | None = None


@dataclass
class Request:
    """One call for :meth:`StudentFunction.batch`: the plain request and how its reply is read."""

    body: dict
    kind: str  # "plain" (a call as StudentFunction.run makes it) | "call" | "grad" | "get"


def _encode_argument(value: Any, channel: Any) -> Any:
    """A request argument: plain data, a kept object of this channel (by handle), or a trusted function (by name)."""
    if isinstance(value, StudentObject):
        if value.channel is not channel:
            raise ForeignHandle(f"handle {value.handle_id[:9]}... belongs to another kernel")
        return {"t": "handle", "id": value.handle_id}
    if isinstance(value, TrustedFunction):
        return {"t": "fn", "name": value.name}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "items": [_encode_argument(item, channel) for item in value]}
    if type(value) is dict:
        return {"t": "dict", "items": {key: _encode_argument(item, channel) for key, item in value.items()}}
    return probe.encode(value)


class ForeignHandle(AssertionError):
    """A check passed a kept object to a kernel that does not hold it (a grading error, never the student's)."""


REFUSED = ("채점기의 요청을 커널이 처리하지 못했어요 ({reason}). 채점 통로가 바뀌었을 수 있어서 선생님이 직접 확인할 거예요.")
DISGUISED = ("결과가 다른 종류의 객체인 척하고 있어요. 기대: torch.Tensor 같은 보통 값, 받은 값: 노트북에서 정의한 {cls} 클래스의 "
             "객체. torch.Tensor 클래스를 상속하거나 흉내 내는 객체는 받을 수 없어요.")


def flagged_message(flag: str) -> str:
    """The Korean failure for a reply the probe flagged (the English flag itself goes to the instructor)."""
    if "engine" in flag or "BackwardCFunction" in flag:
        what = "autograd의 엔진이나 역전파 호출 장치(BackwardCFunction.apply)를 바꿨어요"
    elif "result of class" in flag:
        what = "결과가 노트북에서 정의한, 다른 종류인 척하는 객체예요 (torch.Tensor 하위 클래스나 흉내 낸 객체)"
    else:
        what = "객체가 저장한 값과 다른 값을 보여 주고 있어요 (속성을 읽는 방법을 바꾼 클래스)"
    return f"채점 중에 {what}. 이 셀의 점수를 줄 수 없고, 선생님이 직접 확인할 거예요."


def _read(data: Any) -> Any:
    """Decode reply data (tensors of exactly torch.Tensor only); a disguised object stays an opaque description."""
    if isinstance(data, dict) and data.get("disguised"):
        return _Opaque(data["class"], "(a disguised object)")
    if isinstance(data, dict) and data.get("t") in {"list", "tuple"}:
        items = [_read(item) for item in data["items"]]
        return items if data["t"] == "list" else tuple(items)
    if isinstance(data, dict) and data.get("t") == "dict":
        return {key: _read(item) for key, item in data["items"].items()}
    if isinstance(data, dict) and data.get("t") in ("handle", "fn"):
        raise AssertionError("커널의 응답에 채점기만 쓸 수 있는 이름(handle, fn)이 들어 있어요.")
    return _decode_result(data)


def _flags_in(reply: Any) -> list[str]:
    if isinstance(reply, dict):
        found = [str(flag)[:300] for flag in reply.get("flags") or []] if isinstance(reply.get("flags"), list) else []
        for item in reply.get("rounds") or []:
            found += _flags_in(item)
        kept = reply.get("kept")
        if isinstance(kept, dict) and kept.get("lies"):
            found.append(f"kept object of class {kept.get('class')}: {kept['lies']}")
        return found
    return []


def _to_grad_call(reply: dict) -> GradCall:
    if reply.get("error"):
        return GradCall(error=reply["error"], stage=reply.get("stage", ""),
                        autograd_in_backward=int(reply.get("autograd_in_backward") or 0),
                        global_rng_changed=tuple(reply.get("global_rng_changed") or ()))
    raw = reply.get("raw")
    if isinstance(raw, dict) and raw.get("custom"):
        raw = {**raw, "returned": tuple(None if item is None else _read(item) for item in raw["returned"])}
    second = reply.get("second")
    if isinstance(second, dict):
        second = {"detached": tuple(second.get("detached", ())),
                  "grads": tuple(None if item is None else _read(item) for item in second.get("grads", ()))}
    return GradCall(
        result=_read(reply["result"]),
        grads=tuple(None if item is None else _read(item) for item in reply.get("grads") or ()),
        raw=raw, second=second, graph=tuple(reply.get("graph") or ()),
        autograd_calls=int(reply.get("autograd_calls") or 0),
        autograd_in_backward=int(reply.get("autograd_in_backward") or 0),
        backward_runs=tuple(reply.get("backward_runs") or ()),
        args_after=tuple(_read(item) if not (isinstance(item, dict) and item.get("t") in ("handle", "fn")) else item
                         for item in reply.get("args_after") or ()),
        versions_changed=tuple(reply.get("versions_changed") or ()),
        global_rng_changed=tuple(reply.get("global_rng_changed") or ()),
    )


def _to_plain_call(reply: dict) -> Call:
    if reply.get("error"):
        return Call(error=reply["error"], global_rng_changed=tuple(reply.get("global_rng_changed") or ()))
    call = Call(
        result=_read(reply["result"]) if "result" in reply else None,
        args_after=tuple(_read(item) if not (isinstance(item, dict) and item.get("t") in ("handle", "fn")) else item
                         for item in reply.get("args_after") or ()),
        global_rng_changed=tuple(reply.get("global_rng_changed") or ()),
    )
    call.autograd_calls = int(reply.get("autograd_calls") or 0)  # type: ignore[attr-defined]
    return call


class StudentObject:
    """An object of the student's classes kept in their kernel behind a handle the grader chose."""

    def __init__(self, owner: StudentFunction, handle_id: str, class_name: str) -> None:
        self.owner = owner
        self.handle_id = handle_id
        self.class_name = class_name
        self.channel = _channel(owner._send)

    def __repr__(self) -> str:
        return f"<kept {self.class_name}>"

    def _send_one(self, body: dict, kind: str = "call") -> Any:
        reply = batch_sender(self.owner._send)([{**body, "handle": self.handle_id}])[0]
        return self.owner._read_reply(reply, kind)

    def method_request(self, method: str, *args: Any, **kwargs: Any) -> Request:
        """A call of one of the object's methods, for :meth:`StudentFunction.batch`."""
        body = self.owner.call_request(*args, **kwargs).body
        return Request({**body, "handle": self.handle_id, "method": method}, "call")

    def get_request(self, *paths: str) -> Request:
        """A read of stored state, for :meth:`StudentFunction.batch` (its reply is read by :meth:`states`)."""
        return Request({"op": "get", "handle": self.handle_id, "paths": list(paths)}, "get")

    def run(self, method: str, *args: Any, **kwargs: Any) -> Call:
        """Call a method once; the student's exception is reported, not raised."""
        return self._send_one(self.method_request(method, *args, **kwargs).body)

    def grad(self, method: str, *args: Any, **options: Any) -> Any:
        """Forward and backward through a method (for example ``__call__`` of a Module)."""
        body = self.owner.grad_request(*args, **options).body
        return self._send_one({**body, "method": method}, "grad")

    def get(self, *paths: str) -> dict[str, State]:
        """Stored state at dotted ``paths`` (``"w"``, ``"w.grad"``, ``"fc.weight"``), read without running its code."""
        reply = batch_sender(self.owner._send)([{"op": "get", "handle": self.handle_id, "paths": list(paths)}])[0]
        return self.states(reply)

    def states(self, reply: Any) -> dict[str, State]:
        """Read a reply to :meth:`get_request`."""
        if not isinstance(reply, dict):
            raise JudgeChannelError("a reply that is not an object")
        self._fail_if_flagged_or_refused(reply)
        found = {}
        for path, entry in (reply.get("state") or {}).items():
            if entry.get("missing"):
                found[path] = State(missing=True)
                continue
            found[path] = State(
                value=_read(entry["value"]), class_name=str(entry.get("class", "")),
                requires_grad=bool(entry.get("requires_grad")), is_leaf=bool(entry.get("is_leaf", True)),
                version=int(entry.get("version") or 0),
                grad=None if entry.get("grad") is None else _read(entry["grad"]), grad_fn=entry.get("grad_fn"),
                same_as_before=entry.get("same_as_before"))
        return found

    def set(self, path: str, value: Any) -> None:
        """Copy ``value`` into the stored tensor at ``path`` (in place: the object keeps the same tensor)."""
        self._checked({"op": "set", "handle": self.handle_id, "path": path, "value": probe.encode(value)})

    def load_state_dict(self, state: dict) -> None:
        """Load a state dict with torch's own implementation (Module or Optimizer), not the class's override."""
        self._checked({"op": "set", "handle": self.handle_id, "state_dict": probe.encode(state)})

    def state_dict(self) -> Any:
        """Parameters and persistent buffers read from the Module's stores (or an Optimizer's state_dict)."""
        reply = self._checked({"op": "state_dict", "handle": self.handle_id})
        return _read(reply["state"]) if isinstance(reply.get("state"), dict) and "t" in reply["state"] else {
            key: _read(value) for key, value in reply["state"].items()}

    def drop(self) -> None:
        """Let the kernel forget the object."""
        batch_sender(self.owner._send)([{"op": "drop", "handle": self.handle_id}])

    def _fail_if_flagged_or_refused(self, reply: dict) -> None:
        """Record the reply's flags and a refusal on the function's flags; either fails the check."""
        flags = _flags_in(reply)
        for flag in flags:
            self.owner.flags.append(f"{self.owner.__name__}: {flag}")
        if reply.get("refused"):
            reason = str(reply["refused"])[:100]
            self.owner.flags.append(f"{self.owner.__name__}: request refused by the kernel ({reason})")
            raise AssertionError(REFUSED.format(reason=reason))
        if flags:
            raise AssertionError(flagged_message(flags[0]))

    def _checked(self, body: dict) -> dict:
        reply = batch_sender(self.owner._send)([body])[0]
        self._fail_if_flagged_or_refused(reply)
        if reply.get("error"):
            Call(error=reply["error"]).raise_if_error(f"{self.class_name} 객체")
        return reply

