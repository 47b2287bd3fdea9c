"""Grader-side half of the judge: hidden tests reach their verdict outside the student's kernel.

A test cell's hidden block holds one call, for example::

    ### BEGIN HIDDEN TESTS
    from autograder.judge import judge
    judge("autograder.hidden.tensors.check_prefix_sums", prefix_sums)
    ### END HIDDEN TESTS

With the course's configuration the hidden block never reaches the kernel: ``ContainedExecute`` (and the
in-process grader of the test suite) strips it, runs the visible part, then calls ``check_prefix_sums`` itself with
a :class:`StudentFunction`: a handle that calls the student's ``prefix_sums`` in the kernel through
:mod:`autograder.probe` and gets back plain data. Expected values, tolerances and comparisons live only here, in a
process the student's code never ran in. Under stock nbgrader the same lines run in the kernel (see :func:`judge`).
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from autograder import probe
from autograder.cells import hidden_region, strip_hidden_tests  # noqa: F401 - strip_hidden_tests re-exported
from autograder.layout import course_layout

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
        reply = self._send({"function": self.__name__, "args": [probe.encode(a) for a in args], **options})
        if '"impostor": true' in json.dumps(reply):
            self.flags.append(f"{self.__name__} returned an object whose class redefines comparison")
        if reply.get("missing"):
            raise AssertionError(f"{self.__name__} 함수를 찾을 수 없어요. 함수 이름을 바꾸거나 지우지 않았는지 확인해 보세요.")
        return reply

    def run(self, *args: Any, **options: Any) -> Call:
        """Call once on copies of ``args``; the student's exception is reported, not raised."""
        return _to_call(self._request(args, **options))

    def __call__(self, *args: Any, **options: Any) -> Any:
        """Call once and return the result; the student's exception becomes a failing check."""
        call = self.run(*args, **options)
        call.raise_if_error(self.__name__)
        return call.result

    def rounds(self, *args: Any) -> list[Call]:
        """One call per fill pattern of uninitialized memory (see :mod:`autograder.uninit`)."""
        return [_to_call(r) for r in self._request(args, rounds=True)["rounds"]]


class LocalStudent:
    """The student's namespace in this very process (the in-process grader of the test suite)."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def send(self, request: dict) -> dict:
        """Serve a request with the probe, through the same JSON the kernel path uses."""
        return json.loads(probe.handle(self.namespace, json.dumps(request)))


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
    resolve(dotted)(*[local_function(fn) for fn in functions])


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
