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
import sys
import threading
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



def _dispatch_without_importing_dynamo(mode_class: type) -> None:
    """Let ``mode_class.__torch_dispatch__`` run without importing ``torch._dynamo`` where nothing imported it yet.

    torch wraps every dispatch mode's ``__torch_dispatch__`` so that dynamo never traces into it, importing
    ``torch._dynamo`` (about 800 modules, 1.5 s) on the first call. Where dynamo is not loaded nothing can be tracing,
    so the plain function runs; once it is loaded (the fork server preloads it, so in every kernel), the call goes
    through ``torch._dynamo.disable`` exactly as torch's own wrapper does.
    """
    wrapped = mode_class.__dict__["__torch_dispatch__"]
    raw = getattr(wrapped, "__wrapped__", None)
    if raw is None:  # a torch without the wrapper: nothing to do
        return

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        dynamo = sys.modules.get("torch._dynamo")
        if dynamo is None:
            return raw(*args, **kwargs)
        disabled = dynamo.disable(raw, recursive=True, wrapping=False)
        setattr(raw, "__dynamo_disable", disabled)
        return disabled(*args, **kwargs)

    setattr(raw, "__dynamo_disable", dispatch)


_dispatch_without_importing_dynamo(FillUninitialized)

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


_STARTING_STATES: dict[int, tuple] = {}
"""States already made, by seed: the grader's seeds repeat from cell to cell, and a diagnosis replays each of them on
every banked mistake. Only read: setting a global state copies it."""


def _starting_rng_states(seed: int) -> tuple:
    """Global random states to start a call from (the same seed gives the same states; 0.1 ms to make)."""
    states = _STARTING_STATES.get(seed)
    if states is None:
        states = (torch.Generator().manual_seed(seed).get_state(), np.random.RandomState(seed % 2**32).get_state(),
                  random.Random(seed).getstate())
        if len(_STARTING_STATES) < 512:
            _STARTING_STATES[seed] = states
    return states


_ROUND_START: list[tuple] = []


def _round_starting_rng_states() -> tuple:
    """:func:`_starting_rng_states` of seed 0, where every round of every call starts: made once (0.15 ms a call).

    Only read: setting a global state copies it, and the comparison after a call is made for plain calls only.
    """
    if not _ROUND_START:
        _ROUND_START.append(_starting_rng_states(0))
    return _ROUND_START[0]


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

    The global random states (torch, NumPy, ``random``) are set before the call (:func:`handle` puts the kernel's
    own back after the request): in fill rounds to the same seed every round, so that random draws cannot look like
    garbage; in plain calls to a new seed each time, so ``global_rng_changed`` names every state the function
    changed, whatever state it found.
    """
    call_args = [decode(item) for item in args]
    report: dict[str, Any] = {}
    _plain_calls[0] += round_index is None
    # A seed chosen by the grader lets it replay the very same call on a banked mistake (autograder/diagnosis.py).
    seed = request.get("seed") if type(request.get("seed")) is int else 104_729 * _plain_calls[0]
    start_states = _round_starting_rng_states() if round_index is not None else _starting_rng_states(seed)
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
    report["global_rng_changed"] = _changed_rng_states(start_states, end_states) if round_index is None else []
    return report


def handle(namespace: dict, request_text: str, objects: dict | None = None) -> str:
    """Serve one judge request against the student's ``namespace``; return the JSON reply.

    A request with ``calls`` is a batch: each call is answered in order and the replies come back as ``replies``
    (the grader puts a fingerprint after every call, or after every batch of calls, so a change made while the
    student's code ran is seen before any of its data is trusted). ``objects`` holds the objects the grader asked
    to keep (see :func:`_new_op`); in a kernel it is this probe's own registry, one per kernel.
    """
    request = json.loads(request_text)
    # Every call starts from global random states of its own (:func:`_call`, :func:`_fresh_global_rng`); the
    # kernel's own are put back once, after the whole request (for each call, that cost 60 microseconds).
    kernel_states = _global_rng_states()
    try:
        if "calls" in request:
            reply: dict[str, Any] = {"replies": [_answer(namespace, call, objects) for call in request["calls"]]}
        else:
            reply = _answer(namespace, request, objects)
    finally:
        _set_global_rng_states(kernel_states)
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


def _answer(namespace: dict, request: dict, objects: dict | None = None) -> dict:
    if request.get("op") == "fingerprint":
        entries: dict[str, Any] = fingerprint()
        record = __import__("sys").modules.get(request.get("audit") or "")
        entries["audit"] = json.dumps([str(event) for event in list(getattr(record, "events", []))[:50]])
        return entries
    if request.get("op") in _JUDGE_OPS:
        return _JUDGE_OPS[request["op"]](namespace, request, _OBJECTS if objects is None else objects)
    name = request["function"]
    fn = _lookup(namespace, name)
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
    entries.update(_gradient_fingerprint())
    return entries


# ------------------------------------------------------------------------------------------------ gradients and objects
#
# Requests that autograd checks and later modules' checks need (issue 13), all plain data both ways:
#
# - ``op: grad`` runs a function on inputs the grader supplies with ``requires_grad``, runs backward with the grader's
#   ``grad_outputs`` (``create_graph`` for double backward), calls a custom ``torch.autograd.Function``'s backward
#   directly to see what it returned, and reports gradients (or that they are None), the graph the result carries,
#   whether an input changed, and how often autograd itself ran inside the student's backward;
# - ``op: call`` calls a function (dotted names such as ``Softplus.apply`` too) or a method of a kept object, with
#   arguments that may name kept objects (``{"t": "handle"}``) or trusted test functions (``{"t": "fn"}``);
# - ``op: new`` / ``get`` / ``set`` / ``state_dict`` / ``load_state_dict`` / ``drop`` keep an object of the student's
#   classes in this kernel under an id the grader chose, and read or write its state without running its code.
#
# Replies never create handles or functions: only requests name them, and only this probe resolves them.

import re as _re
import types as _types

HANDLE_ID = _re.compile(r"h[0-9a-f]{32}")
"""What a handle id looks like: the grader draws 128 random bits for every object it asks a kernel to keep."""
MAX_KEPT_OBJECTS = 256
_OBJECTS: dict[str, dict] = {}
"""This kernel's kept objects by handle id: ``{"obj": object, "seen": {path: tensor last read there}}``."""

_PROXY_METHODS = ("__getattr__", "__getattribute__", "__class__", "__instancecheck__", "__eq__", "__ne__", "__bool__",
                  "__torch_function__", "__torch_dispatch__", "__array__", "__array_function__", "__array_ufunc__",
                  "__float__", "__index__")
"""Methods through which a result defined in the notebook can pass for something it is not."""
_STATE_LIES = ("__getattribute__", "__dict__", "__class__")
"""Members through which a kept object defined in the notebook could show the grader a state that is not its own."""


class _Refused(Exception):
    """A request this probe will not serve (an unknown handle, a malformed name): reported, never raised to the grader."""


# -- trusted test functions: the only functions a request can hand to the student's code --------------------------

def _trusted_cubic(x: torch.Tensor) -> torch.Tensor:
    return (x ** 3).sum() / 6


def _trusted_softplus_sum(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.softplus(x).sum()


def _trusted_logsumexp(x: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(x.reshape(-1), dim=0)


def _trusted_squared_norm_squared(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum() ** 2


def _trusted_coupled(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1)
    return (flat[:-1] * flat[1:]).sum() + torch.cos(x).sum()


TRUSTED_FUNCTIONS = {
    "cubic": _trusted_cubic,
    "softplus_sum": _trusted_softplus_sum,
    "logsumexp": _trusted_logsumexp,
    "squared_norm_squared": _trusted_squared_norm_squared,
    "coupled": _trusted_coupled,
}
"""Scalar test functions of a tensor of any shape, twice differentiable. A request names one (``{"t": "fn"}``) and
the student's code gets a fresh wrapper around it; the grader imports this same table to compute what it expects."""


def _trusted(name: Any) -> Any:
    impl = TRUSTED_FUNCTIONS.get(name) if isinstance(name, str) else None
    if impl is None:
        raise _Refused(f"unknown trusted function {str(name)[:40]!r}")

    def trusted_function(x):  # noqa: ANN001, ANN202 - a fresh wrapper: changing it changes no other call
        return impl(x)

    trusted_function.__name__ = trusted_function.__qualname__ = name
    return trusted_function


# -- names, arguments and results ------------------------------------------------------------------------------------

def _lookup(namespace: dict, name: Any) -> Any:
    """The student's object named ``name``; a dotted name (``Softplus.apply``) follows public attributes."""
    if not isinstance(name, str):
        return None
    if name in namespace:  # a plain name, exactly as the notebook (or a test's wrapped lambda) defined it
        return namespace[name]
    head, *rest = name.split(".")
    if not head.isidentifier() or any(not part.isidentifier() or part.startswith("_") for part in rest):
        return None
    value = namespace.get(head)
    for part in rest:
        value = getattr(value, part, None)
    return value


def _decode_argument(data: Any, objects: dict) -> Any:
    """Decode one request argument: plain data, a kept object (``handle``) or a trusted test function (``fn``)."""
    if isinstance(data, dict):
        kind = data.get("t")
        if kind == "handle":
            return _kept(objects, data.get("id"))["obj"]
        if kind == "fn":
            return _trusted(data.get("name"))
        if kind in ("list", "tuple"):
            items = [_decode_argument(item, objects) for item in data["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {key: _decode_argument(item, objects) for key, item in data["items"].items()}
    return decode(data)


def _encode_after(original: Any, value: Any) -> Any:
    """An argument after the call: kept objects and trusted functions are named as the request named them."""
    if isinstance(original, dict) and original.get("t") in ("handle", "fn"):
        return original
    return encode(value)


def _kept(objects: dict, handle_id: Any) -> dict:
    if not isinstance(handle_id, str) or not HANDLE_ID.fullmatch(handle_id) or handle_id not in objects:
        raise _Refused("unknown handle: this kernel keeps no object under that id")
    return objects[handle_id]


def _notebook_classes(value: Any) -> list[type]:
    return [klass for klass in type(value).__mro__ if klass.__module__ == "__main__"]


def _disguise(value: Any) -> str:
    """Why a result defined in the notebook could pass for something it is not ('' when it cannot)."""
    for klass in _notebook_classes(value):
        if issubclass(klass, torch.Tensor):
            return "a torch.Tensor subclass defined in the notebook"
        found = [name for name in _PROXY_METHODS if name in vars(klass)]
        if found:
            return "its class redefines " + ", ".join(found)
    if any(name in vars(type(type(value))) for name in ("__instancecheck__", "__subclasscheck__")) and \
            type(type(value)).__module__ == "__main__":
        return "its metaclass redefines isinstance"
    return ""


def _encode_checked(value: Any, flags: list) -> Any:
    """:func:`encode`, except that a disguised result is only described, and reported in ``flags``."""
    reason = _disguise(value)
    if reason:
        flags.append(f"result of class {_qualified(value)}: {reason}")
        return {"t": "other", "class": _qualified(value), "repr": "(a disguised object)", "disguised": reason}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "items": [_encode_checked(item, flags) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"t": "dict", "items": {key: _encode_checked(item, flags) for key, item in value.items()}}
    return encode(value)


def _error(error: BaseException) -> dict:
    return {"type": type(error).__name__, "message": str(error)[:500]}


# -- counting autograd ------------------------------------------------------------------------------------------------

_THREADS_COUNTING_ONLY_THEMSELVES: set[int] = set()
"""Threads inside :func:`count_autograd_in_this_thread_only`; always empty in a kernel (the fingerprint shows it)."""


@contextlib.contextmanager
def count_autograd_in_this_thread_only():
    """Calls handled by this thread in this context count only the autograd this thread runs.

    For the grader, which replays bank code (autograder/diagnosis.py) while its other threads run hidden checks that
    use autograd themselves: the engine is swapped process-wide, and without this their runs would be counted as the
    replayed function's. On the CPU a backward runs on the thread that started it. A kernel never enters this
    context: there every thread's autograd counts, so student code cannot hide a backward in a thread of its own (a
    kernel whose set is not empty changes the fingerprint: tampering).
    """
    me = threading.get_ident()
    _THREADS_COUNTING_ONLY_THEMSELVES.add(me)
    try:
        yield
    finally:
        _THREADS_COUNTING_ONLY_THEMSELVES.discard(me)


class _AutogradCounter:
    """While active, counts every run of the autograd engine and every custom ``backward`` that runs.

    Every public way into autograd (``torch.autograd.grad``, ``Tensor.backward``, ``torch.autograd.backward``,
    ``torch.autograd.functional``, ``torch.func``), however it was imported, ends in
    ``Variable._execution_engine.run_backward``; the engine calls a custom Function's backward through
    ``BackwardCFunction.apply``. Both are replaced while the counter is active: an engine run that starts while a
    custom backward is running is autograd called from inside a "hand-written" backward. A student's code that puts
    another engine object in place, even for a moment, or replaces ``BackwardCFunction.apply``, is reported
    (``replaced``); one that calls the engine's private entry points directly is not seen.
    """

    def __init__(self) -> None:
        self.engine_runs = 0
        self.in_backward = 0
        self.depth = 0
        self.backward_runs: list[str] = []
        self.replaced = False
        me = threading.get_ident()
        self.thread = me if me in _THREADS_COUNTING_ONLY_THEMSELVES else None
        """Only this thread's autograd is counted (see :func:`count_autograd_in_this_thread_only`); None: every thread's."""

    def counts_here(self) -> bool:
        """Whether autograd run by the current thread is counted."""
        return self.thread is None or threading.get_ident() == self.thread

    def __enter__(self) -> "_AutogradCounter":
        from torch.autograd.function import BackwardCFunction
        from torch.autograd.variable import Variable

        counter = self
        self._engine = Variable._execution_engine
        self._apply = BackwardCFunction.__dict__["apply"]
        original_engine, original_apply = self._engine, self._apply

        class CountingEngine:
            def run_backward(self, *args: Any, **kwargs: Any) -> Any:
                if counter.counts_here():
                    counter.engine_runs += 1
                    if counter.depth:
                        counter.in_backward += 1
                return original_engine.run_backward(*args, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(original_engine, name)

        def counted_apply(node: Any, *args: Any) -> Any:
            if not counter.counts_here():
                return original_apply(node, *args)
            counter.depth += 1
            forward = getattr(type(node), "_forward_cls", None)
            counter.backward_runs.append(f"{getattr(forward, '__module__', '?')}.{getattr(forward, '__qualname__', '?')}")
            try:
                return original_apply(node, *args)
            finally:
                counter.depth -= 1

        def watched_setattr(cls: type, name: str, value: Any) -> None:
            # Putting another engine object in place (and back again before anyone looks) is seen here.
            if name == "_execution_engine":
                counter.replaced = True
            type.__setattr__(cls, name, value)

        self._wrapper, self._counted_apply = CountingEngine(), counted_apply
        Variable._execution_engine = self._wrapper
        BackwardCFunction.apply = counted_apply
        self._meta = type(Variable)
        self._meta_setattr = self._meta.__dict__.get("__setattr__", _MISSING)
        self._meta.__setattr__ = watched_setattr
        return self

    def __exit__(self, *exc: Any) -> None:
        from torch.autograd.function import BackwardCFunction
        from torch.autograd.variable import Variable

        if self._meta_setattr is _MISSING:
            type.__delattr__(self._meta, "__setattr__")
        else:
            type.__setattr__(self._meta, "__setattr__", self._meta_setattr)
        self.replaced = self.replaced or (Variable._execution_engine is not self._wrapper
                                          or BackwardCFunction.__dict__.get("apply") is not self._counted_apply)
        type.__setattr__(Variable, "_execution_engine", self._engine)
        BackwardCFunction.apply = self._apply


def _counts(counter: _AutogradCounter, report: dict) -> None:
    report["autograd_in_backward"] = counter.in_backward
    report["backward_runs"] = counter.backward_runs[:50]
    if counter.replaced:
        report.setdefault("flags", []).append("autograd's engine or BackwardCFunction.apply was replaced during the call")


# -- one call of the student's code -----------------------------------------------------------------------------------

@contextlib.contextmanager
def _fresh_global_rng(report: dict, round_index: int | None, request: dict):
    """As in :func:`_call`: fresh global random states for the call (from the grader's seed when the request has one,
    so that a diagnosis replays it exactly), the changed ones reported; :func:`handle` puts the kernel's own back."""
    _plain_calls[0] += round_index is None
    seed = request.get("seed") if type(request.get("seed")) is int else 104_729 * _plain_calls[0]
    start = _round_starting_rng_states() if round_index is not None else _starting_rng_states(seed)
    _set_global_rng_states(start)
    try:
        yield
    finally:
        end = _global_rng_states()
        report["global_rng_changed"] = _changed_rng_states(start, end) if round_index is None else []


def _target(namespace: dict, request: dict, objects: dict) -> Any:
    """What a request calls: a function of the notebook (dotted names too) or a method of a kept object."""
    if "handle" in request:
        method = request.get("method")
        if not isinstance(method, str) or not method.isidentifier() or (
                method.startswith("_") and method != "__call__"):
            raise _Refused("malformed method name")
        return getattr(_kept(objects, request["handle"])["obj"], method)
    return _lookup(namespace, request.get("function"))


def _call_op(namespace: dict, request: dict, objects: dict) -> dict:
    """Call a function or a method with request arguments; optionally keep the result behind a new handle."""
    try:
        fn = _target(namespace, request, objects)
        keep = request.get("keep")
        if keep is not None and (not isinstance(keep, str) or not HANDLE_ID.fullmatch(keep) or keep in objects):
            raise _Refused("handle id already used or malformed")
    except _Refused as refused:
        return {"refused": str(refused)}
    return _run_target(_invoke, fn, request, objects)


def _run_target(run: Any, fn: Any, request: dict, objects: dict) -> dict:
    """``run`` (:func:`_invoke` or :func:`_gradients`) on the request's target: once, or in every fill round."""
    if fn is None or not callable(fn):
        return {"missing": True, "function": request.get("function") or request.get("method")}
    if request.get("rounds"):
        return {"rounds": [run(fn, request, objects, index) for index in range(FILL_ROUNDS)]}
    return run(fn, request, objects, None)


def _invoke(fn: Any, request: dict, objects: dict, round_index: int | None) -> dict:
    report: dict[str, Any] = {"flags": []}
    raw_args, raw_kwargs = request.get("args", []), request.get("kwargs", {})
    try:
        args = [_decode_argument(item, objects) for item in raw_args]
        kwargs = {key: _decode_argument(item, objects) for key, item in raw_kwargs.items()}
    except _Refused as refused:
        return {"refused": str(refused)}
    counter = _AutogradCounter()
    try:
        with _fresh_global_rng(report, round_index, request), counter, contextlib.ExitStack() as stack:
            if round_index is not None:
                stack.enter_context(FillUninitialized(round_index))
            result = fn(*args, **kwargs)
        report["autograd_calls"] = counter.engine_runs
        _counts(counter, report)
        keep = request.get("keep")
        if request.get("read") is not None:
            # Stored state of the result (read without running its code), instead of the result itself.
            report["result"] = {"t": "dict", "items": {
                str(path): _read_stored(result, path, report["flags"]) for path in request["read"]}}
        elif keep is not None:
            if len(objects) >= MAX_KEPT_OBJECTS:
                return {"refused": "too many kept objects"}
            objects[keep] = {"obj": result, "seen": {}}
            report["kept"] = {"class": _qualified(result), "lies": _state_lie(result)}
        else:
            report["result"] = _encode_checked(result, report["flags"])
        report["args_after"] = [_encode_after(raw, value) for raw, value in zip(raw_args, args)]
    except Exception as error:  # noqa: BLE001 - the student's error is data for the judge
        _counts(counter, report)
        report["error"] = _error(error)
    return report


def _new_op(namespace: dict, request: dict, objects: dict) -> dict:
    """Construct an object of the student's class (``function`` names the class) and keep it under ``as``."""
    return _call_op(namespace, {**request, "keep": request.get("as")}, objects)


# -- gradients ----------------------------------------------------------------------------------------------------

def _graph(output: Any) -> dict:
    from torch.autograd.function import BackwardCFunction

    if not isinstance(output, torch.Tensor):
        return {"tensor": False}
    node = output.grad_fn
    forward = getattr(type(node), "_forward_cls", None) if isinstance(node, BackwardCFunction) else None
    return {"tensor": True, "requires_grad": bool(output.requires_grad), "is_leaf": bool(output.is_leaf),
            "grad_fn": type(node).__name__ if node is not None else None,
            "custom": f"{forward.__module__}.{forward.__qualname__}" if forward is not None else None}


def _tensor_outputs(result: Any) -> list:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [item for item in result if isinstance(item, torch.Tensor)]
    return []


def _grad_op(namespace: dict, request: dict, objects: dict) -> dict:
    """Forward on grader inputs, then backward with grader grad_outputs; see the section comment above."""
    try:
        fn = _target(namespace, request, objects)
    except _Refused as refused:
        return {"refused": str(refused)}
    return _run_target(_gradients, fn, request, objects)


def _gradients(fn: Any, request: dict, objects: dict, round_index: int | None) -> dict:
    report: dict[str, Any] = {"flags": []}
    raw_args = request.get("args", [])
    try:
        args = [_decode_argument(item, objects) for item in raw_args]
        kwargs = {key: _decode_argument(item, objects) for key, item in request.get("kwargs", {}).items()}
        leaves = [int(index) for index in request.get("requires_grad", [])]
        for index in leaves:
            if not isinstance(args[index], torch.Tensor) or not args[index].dtype.is_floating_point:
                raise _Refused("requires_grad names an argument that is not a floating-point tensor")
            args[index].requires_grad_(True)
        grad_outputs = None if request.get("grad_outputs") is None else [
            None if item is None else decode(item) for item in request["grad_outputs"]]
    except (_Refused, IndexError, ValueError, TypeError) as refused:
        return {"refused": str(refused)[:200]}
    versions = [item._version if isinstance(item, torch.Tensor) else None for item in args]
    second = request.get("second")
    if second is not None and grad_outputs is not None:
        grad_outputs = [None if g is None else g.requires_grad_(True) for g in grad_outputs]
    counter = _AutogradCounter()
    stage = "forward"
    try:
        with _fresh_global_rng(report, round_index, request), counter, contextlib.ExitStack() as stack:
            if round_index is not None:
                stack.enter_context(FillUninitialized(round_index))
            result = fn(*args, **kwargs)
            report["autograd_calls"] = counter.engine_runs
            if _disguise(result):  # never differentiate, nor ask anything of, an object that passes for another
                raise _Disguised(result)
            outputs = _tensor_outputs(result)
            report["graph"] = [_graph(output) for output in outputs]
            if request.get("raw_backward") and grad_outputs is not None:
                stage = "raw_backward"
                report["raw"] = _raw_backward(outputs, grad_outputs, report["flags"])
            if grad_outputs is not None:
                stage = "backward"
                differentiable = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad and g is not None]
                grads: tuple = (None,) * len(leaves)
                if differentiable and leaves:
                    grads = torch.autograd.grad([o for o, _ in differentiable], [args[i] for i in leaves],
                                                [g for _, g in differentiable], allow_unused=True,
                                                create_graph=bool(request.get("create_graph") or second is not None))
                report["grads"] = [None if g is None else _encode_checked(g.detach(), report["flags"]) for g in grads]
                if second is not None:
                    stage = "second"
                    report["second"] = _second_order(grads, second, [args[i] for i in leaves], grad_outputs,
                                                     report["flags"])
        _counts(counter, report)
        report["result"] = _encode_checked(
            result.detach() if type(result) is torch.Tensor else result, report["flags"])
        report["args_after"] = [_encode_after(raw, value.detach() if isinstance(value, torch.Tensor) else value)
                                for raw, value in zip(raw_args, args)]
        report["versions_changed"] = [
            before is not None and isinstance(value, torch.Tensor) and value._version != before
            for before, value in zip(versions, args)]
    except _Disguised as disguised:
        _counts(counter, report)
        report["result"] = _encode_checked(disguised.value, report["flags"])
        report["args_after"], report["versions_changed"] = [], []
    except Exception as error:  # noqa: BLE001 - the student's error is data for the judge
        _counts(counter, report)
        report["error"] = _error(error)
        report["stage"] = stage
    return report


class _Disguised(Exception):
    """The forward returned an object that passes for something it is not (see :func:`_disguise`)."""

    def __init__(self, value: Any) -> None:
        super().__init__("disguised result")
        self.value = value


def _raw_backward(outputs: list, grad_outputs: list, flags: list) -> dict:
    """Call the custom Function's backward directly, as the engine would, and report exactly what it returned."""
    from torch.autograd.function import BackwardCFunction

    if len(outputs) != 1 or not isinstance(outputs[0].grad_fn, BackwardCFunction):
        return {"custom": False}
    node = outputs[0].grad_fn
    with torch.no_grad():
        returned = node.apply(*[g for g in grad_outputs[:1]])
    items = returned if isinstance(returned, tuple) else (returned,)
    encoded = [None if item is None else _encode_checked(item.detach() if type(item) is torch.Tensor else item, flags)
               for item in items]
    return {"custom": True, "returned": encoded, "tuple": isinstance(returned, tuple),
            "needs_input_grad": [bool(flag) for flag in node.needs_input_grad]}


def _second_order(grads: tuple, weights: list, leaves: list, grad_outputs: list, flags: list) -> dict:
    """d<w, grads>/d(inputs, grad_outputs): what gradgradcheck compares with finite differences."""
    pairs = [(g, decode(w)) for g, w in zip(grads, weights) if g is not None and w is not None]
    detached = [g is not None and not g.requires_grad for g in grads]
    live = [(g, w) for g, w in pairs if g.requires_grad]
    wrt = list(leaves) + [g for g in grad_outputs if g is not None]
    if not live:
        return {"detached": detached, "grads": [None] * len(wrt)}
    found = torch.autograd.grad([g for g, _ in live], wrt, [w for _, w in live], allow_unused=True)
    return {"detached": detached,
            "grads": [None if g is None else _encode_checked(g.detach(), flags) for g in found]}


# -- state of kept objects --------------------------------------------------------------------------------------

class _NotState(Exception):
    """A path that does not name stored state (an attribute computed by code, or nothing at all)."""


def _state_lie(obj: Any) -> str:
    """Why a kept object defined in the notebook could show a state that is not its own ('' when it cannot)."""
    for klass in _notebook_classes(obj):
        # Every class has its own __dict__ slot descriptor; only something else under that name can lie.
        found = [name for name in _STATE_LIES if name in vars(klass)
                 and not (name == "__dict__" and type(vars(klass)[name]) is _types.GetSetDescriptorType)]
        if found:
            return "its class redefines " + ", ".join(found)
    return ""


def _stored(obj: Any, name: str) -> Any:
    """The attribute ``name`` as stored (instance dict, slots, a Module's parameters, buffers and submodules)."""
    if isinstance(obj, torch.Tensor):
        if name == "grad":
            return torch._C.TensorBase.grad.__get__(obj)
        raise _NotState(name)
    try:
        stored = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        stored = {}
    if name in stored:
        return stored[name]
    for store in ("_parameters", "_buffers", "_modules"):
        inner = stored.get(store)
        if type(inner) is dict and name in inner:
            return inner[name]
    for klass in type(obj).__mro__:
        member = vars(klass).get(name)
        if type(member) is _types.MemberDescriptorType:
            try:
                return member.__get__(obj, type(obj))
            except AttributeError:
                raise _NotState(name) from None
    raise _NotState(name)


def _read_stored(obj: Any, path: Any, flags: list) -> Any:
    """The stored value at a dotted ``path`` of ``obj``, encoded; None when nothing is stored there."""
    if _state_lie(obj):
        flags.append(f"object of class {_qualified(obj)}: {_state_lie(obj)}")
        return None
    value = obj
    try:
        for part in str(path).split("."):
            value = _stored(value, part)
    except _NotState:
        return None
    return _encode_checked(value.detach() if type(value) in (torch.Tensor, torch.nn.Parameter) else value, flags)


def _describe_state(value: Any, entry: dict, path: str, flags: list) -> dict:
    if isinstance(value, torch.Tensor) and type(value) in (torch.Tensor, torch.nn.Parameter):
        previous = entry["seen"].get(path)
        entry["seen"][path] = value
        grad = torch._C.TensorBase.grad.__get__(value)
        return {"value": encode(value.detach()), "class": _qualified(value), "requires_grad": bool(value.requires_grad),
                "is_leaf": bool(value.is_leaf), "version": int(value._version),
                "grad_fn": type(value.grad_fn).__name__ if value.grad_fn is not None else None,
                "grad": None if grad is None else _encode_checked(grad.detach(), flags),
                "same_as_before": None if previous is None else previous is value}
    return {"value": _encode_checked(value, flags)}


def _get_op(namespace: dict, request: dict, objects: dict) -> dict:
    """Read stored state of a kept object without running its code; a view its own code shows that differs is a lie."""
    try:
        entry = _kept(objects, request.get("handle"))
    except _Refused as refused:
        return {"refused": str(refused)}
    obj, flags, state = entry["obj"], [], {}
    lie = _state_lie(obj)
    if lie:
        return {"flags": [f"kept object of class {_qualified(obj)}: {lie}"], "lies": lie, "state": {}}
    for path in request.get("paths", []):
        parts = path.split(".") if isinstance(path, str) else []
        if not parts or any(not part.isidentifier() for part in parts):
            state[str(path)[:80]] = {"missing": True}
            continue
        try:
            value = obj
            for part in parts:
                value = _stored(value, part)
        except _NotState:
            state[path] = {"missing": True}
            continue
        try:
            shown = obj
            for part in parts:
                shown = getattr(shown, part)
        except Exception:  # noqa: BLE001 - its own view failing is not a lie about the stored value
            shown = value
        if shown is not value:
            flags.append(f"{_qualified(obj)}.{path}: its own attribute access shows another object than the one stored")
        state[path] = _describe_state(value, entry, path, flags)
    return {"state": state, "flags": flags}


def _module_state(module: Any, prefix: str = "") -> dict:
    """A Module's parameters and persistent buffers by dotted name, read from its own stores."""
    stored = object.__getattribute__(module, "__dict__")
    found: dict[str, Any] = {}
    for name, value in stored.get("_parameters", {}).items():
        if value is not None:
            found[prefix + name] = value
    skipped = stored.get("_non_persistent_buffers_set", set())
    for name, value in stored.get("_buffers", {}).items():
        if value is not None and name not in skipped:
            found[prefix + name] = value
    for name, child in stored.get("_modules", {}).items():
        if child is not None:
            found.update(_module_state(child, f"{prefix}{name}."))
    return found


def _state_dict_op(namespace: dict, request: dict, objects: dict) -> dict:
    """A Module's state read from its stores (compared with its own ``state_dict()``), or an Optimizer's."""
    try:
        obj = _kept(objects, request.get("handle"))["obj"]
    except _Refused as refused:
        return {"refused": str(refused)}
    flags: list[str] = []
    lie = _state_lie(obj)
    if lie:
        return {"flags": [f"kept object of class {_qualified(obj)}: {lie}"], "lies": lie}
    try:
        if isinstance(obj, torch.nn.Module):
            stored = _module_state(obj)
            try:
                shown = obj.state_dict()
                same = list(shown) == list(stored) and all(
                    shown[k].data_ptr() == stored[k].data_ptr() and torch.equal(shown[k], stored[k].detach())
                    for k in stored)
            except Exception:  # noqa: BLE001 - its own state_dict failing is reported by the check
                same = True
            if not same:
                flags.append(f"{_qualified(obj)}.state_dict(): differs from the parameters and buffers it stores")
            return {"state": {k: encode(v.detach()) for k, v in stored.items()}, "flags": flags}
        if isinstance(obj, torch.optim.Optimizer):
            return {"state": _encode_checked(torch.optim.Optimizer.state_dict(obj), flags), "flags": flags}
    except Exception as error:  # noqa: BLE001 - the student's object failed: data for the judge
        return {"error": _error(error), "flags": flags}
    return {"refused": "not a torch.nn.Module or torch.optim.Optimizer"}


def _set_op(namespace: dict, request: dict, objects: dict) -> dict:
    """Write stored state: copy into a stored tensor in place (identity kept), or load a state dict."""
    try:
        entry = _kept(objects, request.get("handle"))
    except _Refused as refused:
        return {"refused": str(refused)}
    obj = entry["obj"]
    try:
        if "state_dict" in request:
            loaded = decode(request["state_dict"])
            if isinstance(obj, torch.nn.Module):
                torch.nn.Module.load_state_dict(obj, loaded)
            elif isinstance(obj, torch.optim.Optimizer):
                torch.optim.Optimizer.load_state_dict(obj, loaded)
            else:
                return {"refused": "not a torch.nn.Module or torch.optim.Optimizer"}
            return {"done": True}
        parts = str(request.get("path", "")).split(".")
        target = obj
        for part in parts:
            target = _stored(target, part)
        if not isinstance(target, torch.Tensor):
            return {"refused": "only stored tensors can be set"}
        with torch.no_grad():
            target.copy_(decode(request["value"]))
        return {"done": True}
    except _NotState:
        return {"refused": "no stored state under that path"}
    except Exception as error:  # noqa: BLE001 - the student's object failed: data for the judge
        return {"error": _error(error)}


def _drop_op(namespace: dict, request: dict, objects: dict) -> dict:
    objects.pop(request.get("handle"), None)
    return {"done": True}


_JUDGE_OPS = {"grad": _grad_op, "call": _call_op, "new": _new_op, "get": _get_op, "state_dict": _state_dict_op,
              "set": _set_op, "drop": _drop_op}


def _gradient_fingerprint() -> dict[str, str]:
    """What the requests above rely on: autograd's entry points and the code of every trusted function."""
    from torch.autograd.function import BackwardCFunction, Function
    from torch.autograd.variable import Variable

    entries = {
        "torch.autograd.Variable._execution_engine": _describe(Variable._execution_engine),
        "torch.autograd.BackwardCFunction.apply": _describe(BackwardCFunction.__dict__.get("apply")),
        "torch.autograd.Function.apply": _describe(Function.__dict__.get("apply")),
        "torch.autograd.grad": _describe(torch.autograd.grad),
        "torch.autograd.graph._engine_run_backward": _describe(torch.autograd.graph._engine_run_backward),
        "torch._C.TensorBase.grad": _describe(torch._C.TensorBase.__dict__.get("grad")),
    }
    for name, impl in TRUSTED_FUNCTIONS.items():
        entries[f"probe.TRUSTED_FUNCTIONS[{name!r}]"] = f"{_describe(impl)}:{_describe(impl.__code__)}"
    for name in ("_trusted", "_AutogradCounter", "_gradients", "_invoke", "_run_target", "_get_op", "_stored",
                 "_state_lie", "_disguise", "_encode_checked", "_raw_backward", "_decode_argument"):
        entries[f"probe.{name}"] = _describe(globals().get(name))
    for name in ("torch", "np", "json", "encode", "decode"):
        entries[f"probe.globals[{name!r}]"] = _describe(globals().get(name))
    for name in ("__init__", "__enter__", "__exit__", "counts_here"):
        member = getattr(_AutogradCounter, name, None)
        entries[f"probe._AutogradCounter.{name}"] = f"{_describe(member)}:{_describe(getattr(member, '__code__', None))}"
    entries["probe._THREADS_COUNTING_ONLY_THEMSELVES"] = (
        f"{_describe(globals().get('_THREADS_COUNTING_ONLY_THEMSELVES'))}:{sorted(_THREADS_COUNTING_ONLY_THEMSELVES)}")
    entries["probe._JUDGE_OPS"] = repr({op: _describe(fn) for op, fn in _JUDGE_OPS.items()})
    return entries
