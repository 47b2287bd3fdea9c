"""Kernel-side half of the judge: calls a student's function and reports what happened as plain JSON data.

The grader sends this file's *source* into the student's kernel with every request and runs it in a private
namespace (the kernel never imports the ``autograder`` package, which it cannot even see). ``handle`` looks up the
student's function, decodes the arguments (plain data: dtype, shape, strides and raw bytes; never pickles), calls
the function on fresh copies and encodes the result, the arguments afterwards, any exception, and side effects the
checks care about. The verdict is reached in the grader process from this data, so nothing the student's code
does to torch, numpy, builtins or IPython can change how results are compared.

Only the standard library, torch and numpy are used here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import random
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

MAX_BYTES = 16 * 1024 * 1024
FILL_ROUNDS = 4

# ------------------------------------------------------------------------------------------------ fill patterns

_aten = torch.ops.aten


def _overloads(*names: str) -> frozenset:
    """The overloads of ``aten`` ops that exist in this torch (name ``"op.overload"``; a bare name means all)."""
    found = []
    for name in names:
        packet_name, _, overload = name.partition(".")
        packet = getattr(_aten, packet_name, None)
        if packet is None:
            continue
        for each in ([overload] if overload else packet.overloads()):
            op = getattr(packet, each, None)
            if op is not None:
                found.append(op)
    return frozenset(found)


# Ops whose whole result is uninitialized memory (``.out`` overloads resize ``out`` and leave it unwritten).
ALLOCATING_OPS = _overloads(
    "empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided", "empty_permuted", "empty_quantized",
    "_empty_affine_quantized", "_empty_per_channel_affine_quantized",
)
# Ops that give a tensor more elements than it had and leave the new ones unwritten.
RESIZING_OPS = _overloads("resize_", "resize", "resize_as_", "resize_as", "_resize_output_", "_resize_output")
# Ops that point a tensor at a storage, growing that storage when the requested size does not fit.
STORAGE_SETTING_OPS = _overloads("set_", "set")
_QUANTIZED_DTYPES = frozenset(getattr(torch, name) for name in ("quint8", "qint8", "qint32", "quint4x2", "quint2x4")
                               if hasattr(torch, name))
STORAGE_BYTE_FILLS = (0xFF, 0x7F, 0xC0, 0x00)
"""Byte patterns of fresh storages: float NaN / huge positive / negative / zero; int -1 / huge / negative / 0."""


def fill_value(dtype: torch.dtype, round_index: int) -> Any:
    """The value that uninitialized memory of ``dtype`` holds in round ``round_index``."""
    if dtype == torch.bool:
        return (True, False)[round_index % 2]
    if dtype.is_floating_point or dtype.is_complex:
        big = min(1.0e30, torch.finfo(dtype).max / 4)
        return (math.nan, big, -big, 0.0)[round_index % FILL_ROUNDS]
    info = torch.iinfo(dtype)
    # Zero is what garbage most often looks like; unsigned types already have it as their minimum.
    fourth = info.max // 2 if info.min == 0 else 0
    return (info.max, info.min, info.max // 3 + 7, fourth)[round_index % FILL_ROUNDS]


def _fill(tensor: torch.Tensor, round_index: int) -> None:
    if tensor.numel() and not tensor.is_meta:
        with torch.no_grad():
            if tensor.is_quantized:  # quantized values saturate: these still give different integers per round
                tensor.fill_((1.0e30, -1.0e30, 0.0, 0.5)[round_index % FILL_ROUNDS])
            else:
                tensor.fill_(fill_value(tensor.dtype, round_index))


def _fill_storage(storage: Any, start: int, stop: int, dtype: torch.dtype | None, round_index: int) -> None:
    """Fill bytes ``[start, stop)`` of ``storage``: as ``dtype`` elements when they line up, else byte by byte."""
    if stop <= start:
        return
    with _disable_current_modes(), torch.no_grad():
        size = dtype.itemsize if dtype is not None and dtype not in _QUANTIZED_DTYPES else 0
        if size and start % size == stop % size == 0:
            _fill(torch.empty(0, dtype=dtype).set_(storage, start // size, ((stop - start) // size,)), round_index)
        else:
            bytes_view = torch.empty(0, dtype=torch.uint8).set_(storage, start, (stop - start,))
            bytes_view.fill_(STORAGE_BYTE_FILLS[round_index % FILL_ROUNDS])


def _storage_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.untyped_storage()
    if isinstance(value, torch.TypedStorage):
        return value.untyped_storage()
    return value if isinstance(value, torch.UntypedStorage) else None


class FillUninitialized(TorchDispatchMode):
    """Fills every uninitialized allocation with the pattern of one round.

    Intercepted at the ATen dispatcher: the ``empty`` family (:data:`ALLOCATING_OPS`), growth by ``resize_``,
    ``resize_as_`` and their relatives (:data:`RESIZING_OPS`), and storages grown by ``set_``
    (:data:`STORAGE_SETTING_OPS`). Storages made directly (``torch.UntypedStorage(n)``, ``torch.FloatStorage(n)``)
    and grown with ``storage.resize_`` never reach the dispatcher; while the mode is active those two Python entry
    points are wrapped as well.
    """

    def __init__(self, round_index: int) -> None:
        super().__init__()
        self.round_index = round_index
        self._saved: dict[str, Any] = {}

    def __enter__(self):  # noqa: ANN204
        round_index = self.round_index
        storage_class = torch.UntypedStorage
        self._saved = {name: storage_class.__dict__.get(name) for name in ("__new__", "resize_")}
        base_new, base_resize = torch._C.StorageBase.__new__, torch._C.StorageBase.resize_

        def fresh_storage(cls, *args, **kwargs):  # noqa: ANN001, ANN202
            storage = base_new(cls, *args, **kwargs)
            sized = (args and type(args[0]) is int) or type(kwargs.get("size")) is int
            if sized and storage.nbytes() and storage.device.type != "meta":
                _fill_storage(storage, 0, storage.nbytes(), None, round_index)
            return storage

        def growing_resize(storage, size):  # noqa: ANN001, ANN202
            before = storage.nbytes()
            result = base_resize(storage, size)
            _fill_storage(storage, before, storage.nbytes(), None, round_index)
            return result

        storage_class.__new__ = fresh_storage
        storage_class.resize_ = growing_resize
        return super().__enter__()

    def __exit__(self, *exc):  # noqa: ANN002, ANN204
        try:
            return super().__exit__(*exc)
        finally:
            for name, previous in self._saved.items():
                if previous is None:
                    if name in torch.UntypedStorage.__dict__:
                        delattr(torch.UntypedStorage, name)
                else:
                    setattr(torch.UntypedStorage, name, previous)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func in RESIZING_OPS:
            old_numel = args[0].numel()
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and out.numel() > old_numel:
                start = (out.storage_offset() + old_numel) * out.element_size()
                stop = (out.storage_offset() + out.numel()) * out.element_size()
                _fill_storage(out.untyped_storage(), start, stop, out.dtype, self.round_index)
            return out
        if func in STORAGE_SETTING_OPS:
            source = _storage_of(args[1]) if len(args) > 1 else None
            before = source.nbytes() if source is not None else 0
            out = func(*args, **kwargs)
            if source is not None and isinstance(out, torch.Tensor):
                storage = out.untyped_storage()
                if storage._cdata == source._cdata:
                    _fill_storage(storage, before, storage.nbytes(), out.dtype, self.round_index)
            return out
        out = func(*args, **kwargs)
        if func in ALLOCATING_OPS and isinstance(out, torch.Tensor):
            _fill(out, self.round_index)
        return out


# ------------------------------------------------------------------------------------------------ plain-data codec

def _qualified(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


_TRICK_METHODS = ("__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__", "__array_function__",
                  "__array_ufunc__", "__float__", "__index__")


def _impostor(value: Any) -> bool:
    """Whether a value's class, defined in the notebook, overrides comparisons or torch/numpy protocols."""
    return any(
        klass.__module__ == "__main__" and any(name in vars(klass) for name in _TRICK_METHODS)
        for klass in type(value).__mro__
    )


def encode(value: Any, budget: list[int] | None = None) -> Any:
    """Plain JSON-able data describing ``value`` (tensors and arrays as dtype, shape, strides and bytes)."""
    budget = budget if budget is not None else [MAX_BYTES]
    if _impostor(value):
        return {"t": "other", "class": _qualified(value), "repr": "(object of a class that redefines comparison)",
                "impostor": True}
    if isinstance(value, torch.Tensor):
        plain = value.detach().cpu()
        data = plain.contiguous().numpy().tobytes() if plain.dtype != torch.bfloat16 else \
            plain.contiguous().view(torch.int16).numpy().tobytes()
        budget[0] -= len(data)
        if budget[0] < 0:
            raise ValueError("result too large")
        return {"t": "tensor", "class": _qualified(value), "dtype": str(plain.dtype).removeprefix("torch."),
                "shape": list(plain.shape), "stride": list(plain.stride()), "requires_grad": value.requires_grad,
                "data": base64.b64encode(data).decode()}
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value).tobytes()
        budget[0] -= len(data)
        if budget[0] < 0:
            raise ValueError("result too large")
        return {"t": "ndarray", "class": _qualified(value), "dtype": value.dtype.str, "shape": list(value.shape),
                "fortran": bool(value.flags.f_contiguous and not value.flags.c_contiguous),
                "data": base64.b64encode(data).decode()}
    if isinstance(value, torch.device):
        return {"t": "device", "v": str(value)}
    if isinstance(value, torch.dtype):
        return {"t": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Size):
        return {"t": "size", "v": list(value)}
    if type(value) is bool or value is None or type(value) is str:
        return value
    if type(value) is int:
        return {"t": "int", "v": str(value)}
    if type(value) is float:
        return {"t": "float", "v": repr(value)}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "items": [encode(item, budget) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"t": "dict", "items": {key: encode(item, budget) for key, item in value.items()}}
    return {"t": "other", "class": _qualified(value), "repr": repr(value)[:200]}


def decode(data: Any) -> Any:
    """Rebuild plain Python, torch and numpy objects from :func:`encode` data (never pickles)."""
    if not isinstance(data, dict):
        return data
    kind = data["t"]
    if kind == "tensor":
        dtype = getattr(torch, data["dtype"])
        raw = base64.b64decode(data["data"])
        storage_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
        flat = torch.frombuffer(bytearray(raw), dtype=storage_dtype) if raw else torch.empty(0, dtype=storage_dtype)
        values = flat.view(dtype).reshape(data["shape"]).clone()
        if list(values.stride()) != data["stride"] and values.numel() > 1:
            shaped = torch.empty_strided(data["shape"], data["stride"], dtype=dtype)
            shaped.copy_(values)
            values = shaped
        return values.requires_grad_(data["requires_grad"]) if dtype.is_floating_point else values
    if kind == "ndarray":
        array = np.frombuffer(base64.b64decode(data["data"]), dtype=np.dtype(data["dtype"])).reshape(data["shape"])
        return np.asfortranarray(array) if data["fortran"] else array.copy()
    if kind == "device":
        return torch.device(data["v"])
    if kind == "dtype":
        return getattr(torch, data["v"])
    if kind == "size":
        return torch.Size(data["v"])
    if kind == "int":
        return int(data["v"])
    if kind == "float":
        return float(data["v"])
    if kind == "list":
        return [decode(item) for item in data["items"]]
    if kind == "tuple":
        return tuple(decode(item) for item in data["items"])
    if kind == "dict":
        return {key: decode(item) for key, item in data["items"].items()}
    return data


# ------------------------------------------------------------------------------------------------ requests

_MISSING = object()
_plain_calls = [0]


def _global_rng_states() -> tuple:
    """The global random states a student's function could change: torch's, NumPy's and Python's ``random``."""
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _set_global_rng_states(states: tuple) -> None:
    torch.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


def _starting_rng_states(seed: int) -> tuple:
    """Global random states to start a call from (the same seed gives the same states)."""
    return (torch.Generator().manual_seed(seed).get_state(), np.random.RandomState(seed % 2**32).get_state(),
            random.Random(seed).getstate())


def _changed_rng_states(start: tuple, end: tuple) -> list[str]:
    """Which of the global random states differ between ``start`` and ``end``."""
    changed = []
    if not torch.equal(start[0], end[0]):
        changed.append("torch")
    if start[1][0] != end[1][0] or not np.array_equal(start[1][1], end[1][1]) or start[1][2:] != end[1][2:]:
        changed.append("numpy")
    if start[2] != end[2]:
        changed.append("random")
    return changed


CUDA_SCENARIOS = {
    # name: (PyTorch built with CUDA, number of visible GPUs)
    "cpu_build": (False, 0),
    "no_gpu": (True, 0),
    "gpu": (True, 1),
}


@contextlib.contextmanager
def _simulated_cuda(scenario: str | None):
    """Make PyTorch report the machine of ``scenario`` at the level every availability query reaches.

    ``torch.cuda.is_available``, ``torch.cuda.device_count`` and ``torch.accelerator`` all end in
    ``torch._C._cuda_getDeviceCount`` (present only in CUDA builds), NVML's device count, and
    ``torch._C._accelerator_getAccelerator``; those are replaced, so a function that imported ``is_available``
    itself, counts devices, or asks ``torch.accelerator`` sees the same machine.
    """
    if scenario is None:
        yield
        return
    built, count = CUDA_SCENARIOS[scenario]
    saved: list[tuple[Any, str, Any]] = []

    def replace(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, getattr(owner, name, _MISSING)))
        if value is _MISSING:
            if hasattr(owner, name):
                delattr(owner, name)
        else:
            setattr(owner, name, value)

    def current_device() -> int:
        if not count:
            raise RuntimeError("No CUDA GPUs are available")
        return 0

    replace(torch._C, "_cuda_getDeviceCount", (lambda: count) if built else _MISSING)
    replace(torch._C, "_accelerator_getAccelerator", lambda: torch.device("cuda") if built else None)
    replace(torch._C, "_accelerator_getDeviceIndex", current_device)
    replace(torch.cuda, "_device_count_nvml", lambda: -1)
    replace(torch.cuda, "_device_count_amdsmi", lambda: -1)
    replace(torch.cuda, "_cached_device_count", None)
    replace(torch.cuda, "current_device", current_device)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is _MISSING:
                if hasattr(owner, name):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)


def _call(fn: Any, args: list, request: dict, round_index: int | None) -> dict:
    """One call on fresh copies of the arguments, reported as plain data.

    The global random states (torch, NumPy, ``random``) are set before the call and put back afterwards: in fill
    rounds to the same seed every round, so that random draws cannot look like garbage; in plain calls to a new
    seed each time, so ``global_rng_changed`` names every state the function changed, whatever state it found.
    """
    call_args = [decode(item) for item in args]
    report: dict[str, Any] = {}
    original_states = _global_rng_states()
    _plain_calls[0] += round_index is None
    # A seed chosen by the grader lets it replay the very same call on a banked mistake (autograder/diagnosis.py).
    seed = request.get("seed") if type(request.get("seed")) is int else 104_729 * _plain_calls[0]
    start_states = _starting_rng_states(0 if round_index is not None else seed)
    _set_global_rng_states(start_states)
    end_states = start_states
    try:
        with _simulated_cuda(request.get("cuda")):
            if round_index is not None:
                with FillUninitialized(round_index):
                    result = fn(*call_args)
            else:
                result = fn(*call_args)
        end_states = _global_rng_states()
        report["result"] = encode(result)
        report["args_after"] = [encode(item) for item in call_args]
        if request.get("mutate_args_after"):
            for item in call_args:
                if isinstance(item, (np.ndarray, torch.Tensor)):
                    item += 1
            report["result_after_arg_mutation"] = encode(result)
    except Exception as error:  # noqa: BLE001 - the student's error is data for the judge
        end_states = _global_rng_states()
        report["error"] = {"type": type(error).__name__, "message": str(error)[:500]}
    finally:
        _set_global_rng_states(original_states)
    report["global_rng_changed"] = _changed_rng_states(start_states, end_states) if round_index is None else []
    return report


def handle(namespace: dict, request_text: str) -> str:
    """Serve one judge request against the student's ``namespace``; return the JSON reply.

    A request with ``calls`` is a batch: each call is answered in order and the replies come back as ``replies``
    (the grader puts a fingerprint after every call, so a change made during the call is seen at once).
    """
    request = json.loads(request_text)
    if "calls" in request:
        reply: dict[str, Any] = {"replies": [_answer(namespace, call) for call in request["calls"]]}
    else:
        reply = _answer(namespace, request)
    reply["nonce"] = request.get("nonce")
    return json.dumps(reply)


_SHELL: Any = None
"""The kernel's IPython shell, captured by :func:`serve` (outside a cell, ``get_ipython`` is not a builtin)."""


def serve(socket_path: str, namespace: dict) -> None:
    """Answer the grader's requests over a unix socket, outside IPython (run once, before any student code).

    Requests and replies never pass through the shell: no input or AST transformer, event callback, custom
    exception handler or display formatter sees or edits them. A thread reads one JSON request per line and hands
    it to the kernel's main thread (the student's functions run there, interruptible by SIGINT as in a cell), then
    writes the reply line back. What the thread relies on is pinned in :func:`fingerprint`.
    """
    import asyncio
    import signal
    import socket
    import threading

    global _SHELL
    _SHELL = globals().get("get_ipython", namespace.get("get_ipython", lambda: None))()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.get_event_loop()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(socket_path)
    requests = connection.makefile("rb")

    def on_main_thread(line: bytes, box: dict, done: threading.Event) -> None:
        previous = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # idle kernels ignore SIGINT
            box["reply"] = handle(namespace, line.decode())
        except BaseException as error:  # noqa: BLE001 - interrupted or broken: the grader reads it as a failure
            try:
                nonce = json.loads(line).get("nonce")
            except ValueError:
                nonce = None
            box["reply"] = json.dumps({"error": {"type": type(error).__name__, "message": str(error)[:500]},
                                       "nonce": nonce, "interrupted": True})
        finally:
            signal.signal(signal.SIGINT, previous)
            done.set()

    def answer_requests() -> None:
        for line in requests:
            box: dict = {}
            done = threading.Event()
            loop.call_soon_threadsafe(on_main_thread, line, box, done)
            done.wait()
            connection.sendall(box["reply"].encode() + b"\n")

    threading.Thread(target=answer_requests, name="autograder-judge", daemon=True).start()


def _answer(namespace: dict, request: dict) -> dict:
    if request.get("op") == "fingerprint":
        entries: dict[str, Any] = fingerprint()
        record = __import__("sys").modules.get(request.get("audit") or "")
        entries["audit"] = json.dumps([str(event) for event in list(getattr(record, "events", []))[:50]])
        return entries
    name = request["function"]
    fn = namespace.get(name)
    if fn is None or not callable(fn):
        return {"missing": True, "function": name}
    if request.get("rounds"):
        return {"rounds": [_call(fn, request["args"], request, index) for index in range(FILL_ROUNDS)]}
    return _call(fn, request["args"], request, None)


# ------------------------------------------------------------------------------------------------ integrity

def _describe(obj: Any) -> str:
    return f"{type(obj).__name__}:{id(obj)}"


def fingerprint() -> dict[str, str]:
    """Identities of what grading relies on: compared with a snapshot taken before any student code ran."""
    import builtins
    import inspect
    import sys

    entries: dict[str, str] = {}
    for name in ("equal", "allclose", "isclose", "eq", "all", "any", "testing", "Tensor", "tensor", "is_tensor"):
        entries[f"torch.{name}"] = _describe(getattr(torch, name, None))
    entries["torch.testing.assert_close"] = _describe(torch.testing.assert_close)
    for name in ("__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__", "equal", "allclose",
                 "all", "item", "tolist", "__repr__"):
        entries[f"torch.Tensor.{name}"] = _describe(torch.Tensor.__dict__.get(name, torch._C.TensorBase.__dict__.get(name)))
    for name in ("allclose", "array_equal", "isclose", "testing"):
        entries[f"numpy.{name}"] = _describe(getattr(np, name, None))
    entries["numpy.ndarray.__eq__"] = _describe(np.ndarray.__dict__.get("__eq__"))
    for name in ("isinstance", "issubclass", "type", "AssertionError", "Exception", "BaseException", "exec", "eval",
                 "compile", "__import__", "getattr", "setattr", "id", "len", "repr", "str", "float", "int", "bool",
                 "print", "open", "callable", "globals", "hasattr"):
        entries[f"builtins.{name}"] = _describe(getattr(builtins, name, None))
    for name in ("torch", "numpy", "builtins", "json", "IPython", "ipykernel"):
        entries[f"sys.modules[{name!r}]"] = _describe(sys.modules.get(name))
    for name in ("handle", "_call", "encode", "decode", "fill_value", "_fill", "fingerprint", "FillUninitialized"):
        entries[f"probe.{name}"] = _describe(globals().get(name))
    entries["probe.FillUninitialized.__torch_dispatch__"] = _describe(FillUninitialized.__dict__["__torch_dispatch__"])
    for name in ("__enter__", "__exit__"):
        entries[f"TorchDispatchMode.{name}"] = _describe(TorchDispatchMode.__dict__.get(name))
    entries["torch.Tensor.fill_"] = _describe(torch._C.TensorBase.__dict__.get("fill_"))
    entries["torch.get_rng_state"] = _describe(torch.get_rng_state)
    entries["json.dumps"] = _describe(json.dumps)
    entries["json.loads"] = _describe(json.loads)
    import signal
    import socket
    import threading

    for name in ("sendall", "recv", "recv_into", "makefile", "send"):
        entries[f"socket.socket.{name}"] = _describe(inspect.getattr_static(socket.socket, name, None))
    for name in ("wait", "set"):
        entries[f"threading.Event.{name}"] = _describe(getattr(threading.Event, name, None))
    entries["signal.signal"] = _describe(signal.signal)
    import asyncio

    entries["asyncio.BaseEventLoop.call_soon_threadsafe"] = _describe(
        asyncio.BaseEventLoop.__dict__.get("call_soon_threadsafe"))
    entries["base64.b64encode"] = _describe(base64.b64encode)
    for name in ("serve", "_answer"):
        entries[f"probe.{name}"] = _describe(globals().get(name))
    entries["sys.gettrace()"] = _describe(sys.gettrace())
    entries["sys.getprofile()"] = _describe(sys.getprofile())
    shell = _SHELL or getattr(builtins, "get_ipython", lambda: None)()
    entries["probe._SHELL"] = _describe(_SHELL)
    if shell is not None:
        for name in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                     "transform_cell", "should_run_async", "showsyntaxerror", "get_exception_only"):
            entries[f"shell.{name}"] = _describe(shell.__dict__.get(name, inspect.getattr_static(type(shell), name, None)))
        entries["shell.custom_exceptions"] = repr(shell.custom_exceptions)
        entries["shell.input_transformers_cleanup"] = repr([_describe(t) for t in shell.input_transformers_cleanup])
        entries["shell.input_transformers_post"] = repr([_describe(t) for t in shell.input_transformers_post])
        entries["shell.ast_transformers"] = repr([_describe(t) for t in shell.ast_transformers])
        for event in ("pre_run_cell", "post_run_cell", "pre_execute"):
            callbacks = shell.events.callbacks.get(event, [])
            # Extensions (autoreload) register hooks innocently; hooks defined in the notebook itself are not.
            entries[f"shell.events.{event}"] = repr(sorted(
                getattr(c, "__qualname__", "?") for c in callbacks if getattr(c, "__module__", "") == "__main__"))
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            for name in ("do_execute", "execute_request", "send_response", "dispatch_shell"):
                entries[f"kernel.{name}"] = _describe(
                    kernel.__dict__.get(name, inspect.getattr_static(type(kernel), name, None)))
            entries["kernel.session.send"] = _describe(
                kernel.session.__dict__.get("send", inspect.getattr_static(type(kernel.session), "send", None)))
    return entries
