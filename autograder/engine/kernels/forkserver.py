"""A fork server for grading kernels: one process imports torch once, then forks a fresh kernel per submission.

A cold kernel costs ~0.7 s to start plus 2-3 s for ``import torch`` in every notebook. The server pays that once;
each child is forked from the same pristine state (no student code ever ran in the server), applies the
submission's containment (its own session, cgroups, rlimits, an empty network namespace), and becomes an ipykernel
serving the connection file it was given.

A clean room: the server starts from an allowlisted environment (no grader secret ever enters its memory, which
every kernel inherits), forks *before* it reads a launch request (so no kernel's memory holds another's request),
and the child drops its request before any student code runs. Its folder (``/tmp/autograder-forkserver-<owner>-*``)
is removed when it stops, or by the next run when its owner was killed (:mod:`autograder.engine.kernels.leftovers`).

The server must never run a parallel torch operation before forking: GNU OpenMP does not survive fork.

Run as ``python -m autograder.engine.kernels.forkserver SOCKET_PATH --preload torch,numpy``; talk to it with :class:`ForkServer`.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from autograder.engine.kernels.leftovers import owned_folder, remove_folder, remove_stale

DEFAULT_PRELOAD = (
    "numpy", "torch", "ipykernel.kernelapp", "autograder.engine.probe",
    # torch imports dynamo lazily (1.5 s) on the first optimizer step, dispatch mode or torch.compile of a process:
    # once here, so that no kernel pays it.
    "torch._dynamo",
    # What every kernel imports while it sets itself up (the shell, its history, the debugger) or while it is
    # judged: imported once here, never run. Importing them starts no thread, so forking stays safe.
    "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "IPython.core.interactiveshell",
    "IPython.core.completer", "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect",
    "IPython.core.history", "IPython.extensions.storemagic", "sqlite3", "pdb", "faulthandler", "tornado.ioloop",
    "tornado.platform.asyncio", "psutil", "numpy.testing",
)
_READY = "fork server ready"
_UNIX_PATH_MAX = 107


# ----------------------------------------------------------------------------------------------------------------
# Server side
# ----------------------------------------------------------------------------------------------------------------

def _warm_up() -> None:
    """Pay one-time costs of the grader's own checks here, once, instead of in every kernel."""
    if "autograder.engine.probe" in sys.modules:
        import torch

        from autograder.engine.probe import FillUninitialized

        # The first dispatch mode of a process sets up torch's dispatcher state; every forked kernel inherits it.
        with FillUninitialized(0):
            torch.zeros(1) + 1
    if "IPython.core.interactiveshell" in sys.modules:
        _format_one_traceback()


WARM_UP_CELL = "<autograder fork server warm-up>"
"""The file name of the one traceback the server formats: no cell, module or file of anyone's is ever named so."""


def _format_one_traceback() -> None:
    """Format a failing cell's traceback as a kernel's shell does, with a synthetic cell of the server's own.

    A process's first traceback imports pygments' lexers, formatters and styles and fills inspect's cache of which
    file belongs to which module: 60-80 ms measured, against 17 ms for each later one. Every submission with a
    failing cell paid it in its own kernel; forked kernels now inherit it. The cell's source leaves linecache again.
    """
    import linecache

    from IPython.core import ultratb
    from IPython.core.interactiveshell import InteractiveShell

    traits = InteractiveShell.class_traits()
    source = "def check(answer):\n    assert answer == 2, 'warm-up'\n\ncheck(1)\n"
    linecache.cache[WARM_UP_CELL] = (len(source), None, source.splitlines(True), WARM_UP_CELL)
    try:
        exec(compile(source, WARM_UP_CELL, "exec"), {"__name__": "__main__"})
    except AssertionError:
        formatter = ultratb.AutoFormattedTB(mode=traits["xmode"].default_value,
                                            theme_name=traits["colors"].default_value, tb_offset=0)
        formatter.structured_traceback(*sys.exc_info())
    finally:
        linecache.cache.pop(WARM_UP_CELL, None)


def _become_kernel(connection: socket.socket, server: int) -> None:
    """In the forked child: read this kernel's request, contain this process, then run an ipykernel until shut down."""
    kernel_args = _contain(connection, server)  # the request dies with that call's frame (a plain dict: no cycle keeps it)
    _run_kernel(kernel_args)


def _contain(connection: socket.socket, server: int) -> list[str]:
    """Apply the request's containment; return only the kernel's arguments (the request dies with this frame).

    ``server`` is the fork server's pid, read before the fork: a server that died in between must not be mistaken
    for a live one (``os.getppid()`` then names whoever adopted this process, which never dies).
    """
    from autograder.engine.kernels.sandbox import (
        Limits,
        apply_rlimits,
        drop_privileges,
        install_audit_hook,
        isolate_filesystem,
        isolate_ipc_and_cgroups,
        isolate_network,
    )

    server_cwd = os.getcwd()  # where the server runs: on its sys.path, so it must leave the kernel's
    request = json.loads(_read_line(connection))
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    connection.close()
    os.setsid()
    for name in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(name, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    in_pids_cgroup = False
    for cgroup in request.get("cgroups", []):
        try:
            Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
            in_pids_cgroup = in_pids_cgroup or "/pids/" in cgroup
        except OSError:
            pass
    status: dict[str, Any] = {"pid": os.getpid()}
    limits = Limits(**request["limits"])
    if limits.isolate_network:
        reason = isolate_network()
        status["network"] = "isolated" if reason is None else f"not isolated: {reason}"
    log = os.open(request.get("log_path") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    status_file = os.open(request.get("status_path") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if request.get("hide") is not None:
        problems = isolate_ipc_and_cgroups()
        status["ipc_and_cgroups"] = "private" if not problems else f"not private: {problems}"
        problems = isolate_filesystem(request["hide"], request.get("keep", []), request["staging"],
                                      scratch=request.get("scratch") or {}, writable=request.get("writable") or [],
                                      cover=request.get("cover") or [])
        status["filesystem"] = "hidden" if not problems else f"partly hidden: {problems}"
    os.chdir(request.get("workdir") or request["cwd"])
    threads = int(request.get("threads", 1))
    os.environ.clear()
    os.environ.update(_kernel_environment(request["env"], request.get("home") or os.getcwd(), threads))
    import torch

    torch.set_num_threads(threads)
    # Files the student submitted next to the notebook must not shadow installed packages.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd(), server_cwd)]
    # With a pids cgroup, the cgroup is the cap that binds (and counts what it refuses, for the process_cap flag);
    # RLIMIT_NPROC, which counts the same tasks, stays a looser backstop.
    apply_rlimits(limits, nproc=limits.max_processes * 2 if in_pids_cgroup else limits.max_processes)
    if request.get("uid") is not None:
        status["uid"] = request["uid"]
    os.write(status_file, json.dumps(status).encode())
    os.close(status_file)
    if request.get("audit_module"):
        install_audit_hook(request["audit_module"], request.get("audit_roots") or [], request.get("keep") or [],
                           request.get("private_packages") or [])
    if request.get("uid") is not None:
        drop_privileges(int(request["uid"]))
    # Die with the fork server (which dies with the grader), even after kill -9: set after the uid change,
    # which clears it. A server already gone means this kernel has nobody to serve.
    _exit_with_parent(signal.SIGKILL)
    if os.getppid() != server:
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    kernel_args = list(request["kernel_args"])
    request.clear()
    status.clear()
    return kernel_args


def _run_kernel(kernel_args: list[str]) -> None:
    """Become an ipykernel serving ``kernel_args`` (``-f connection_file``) until it is shut down."""
    sys.argv = ["ipykernel_launcher", *kernel_args]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["--IPKernelApp.ignore_cwd=True", "--HistoryManager.hist_file=:memory:", *kernel_args])
    app.start()


ALLOWED_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "PYTHONHASHSEED", "MPLBACKEND")
"""The only variables of the grader's environment that reach a kernel (and ``LC_*``): no secret, no grading hint."""


def allowed_environment(env: dict[str, str], extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The allowlisted part of ``env`` (:data:`ALLOWED_ENVIRONMENT`, ``LC_*`` and ``extra``)."""
    return {key: value for key, value in env.items()
            if key in ALLOWED_ENVIRONMENT or key in extra or key.startswith("LC_")}


def _kernel_environment(env: dict[str, str], home: str, threads: int) -> dict[str, str]:
    """A clean environment: no grader settings, secrets or detection hints, only what a laptop would have.

    ``home`` is a fresh, empty folder of the kernel's own (never its work folder): IPython and Jupyter find no
    profile, startup file or configuration there but what the kernel itself writes during this run.
    """
    clean = allowed_environment(env)
    clean.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    clean.update(
        HOME=home, OMP_NUM_THREADS=str(threads), MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        IPYTHONDIR=os.path.join(home, ".ipython"), JUPYTER_CONFIG_DIR=os.path.join(home, ".jupyter"),
        JUPYTER_DATA_DIR=os.path.join(home, ".local", "share", "jupyter"),
    )
    return clean


def _exit_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the OS to send ``signum`` to this process when its parent dies (even by kill -9)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signum, 0, 0, 0)


def _serve(socket_path: str, preload: list[str], parent: int) -> None:
    _exit_with_parent()
    if os.getppid() != parent:
        return
    for module in preload:
        importlib.import_module(module)
    _warm_up()
    exit_codes: dict[int, int] = {}

    def reap(_signum: int, _frame: Any) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            exit_codes[pid] = os.waitstatus_to_exitcode(status)

    signal.signal(signal.SIGCHLD, reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    print(_READY, flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            operation = _read_operation(connection)
            if operation == "launch":
                # Fork before reading the request: only the child that serves it ever holds it in memory.
                server = os.getpid()
                pid = os.fork()
                if pid == 0:
                    try:
                        listener.close()
                        exit_codes.clear()
                        _become_kernel(connection, server)
                    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
                        traceback.print_exc()
                    finally:
                        os._exit(1)
                continue  # the child answers with its pid itself
            if operation == "poll":
                reply: dict[str, Any] = {"returncode": exit_codes.get(json.loads(_read_line(connection))["pid"])}
            elif operation == "stop":
                connection.sendall(b'{"stopped": true}\n')
                connection.close()
                os._exit(0)  # nothing to flush: skip tearing down torch's interpreter state (about a second)
            else:
                reply = {"error": f"unknown operation {operation!r}"}
            connection.sendall(json.dumps(reply).encode() + b"\n")


def _read_operation(connection: socket.socket) -> str:
    """The first line of a request (its operation), read byte by byte so that nothing after it is consumed."""
    data = b""
    while len(data) < 32:
        byte = connection.recv(1)
        if not byte or byte == b"\n":
            break
        data += byte
    return data.decode(errors="replace")


def _read_line(connection: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


# ----------------------------------------------------------------------------------------------------------------
# Client side
# ----------------------------------------------------------------------------------------------------------------

class ForkServerError(RuntimeError):
    """The fork server could not be started or did not answer."""


class ForkServer:
    """Client of one fork server process, started on first use and stopped at exit."""

    FOLDER_PREFIX = "autograder-forkserver-"

    def __init__(self, preload: tuple[str, ...] = DEFAULT_PRELOAD, start_timeout: float = 120.0) -> None:
        self.preload = preload
        self.start_timeout = start_timeout
        self._dir: str | None = None
        self.socket_path = ""
        self._process: subprocess.Popen | None = None
        self._ready = False
        self._failed: ForkServerError | None = None  # why the last start failed (not retried until spawned again)
        self._lock = threading.Lock()

    def spawn(self) -> None:
        """Start the server process without waiting for it (it imports torch while the caller goes on)."""
        with self._lock:
            self._failed = None
            self._spawn()

    def start(self) -> None:
        """Start the server (unless spawned already) and wait until it has imported everything (``start_timeout``)."""
        with self._lock:
            if self._ready and self._process is not None and self._process.poll() is None:
                return
            if self._failed is not None:
                # Several workers wait for one server: one failed start is reported to each, not retried by each.
                raise self._failed
            self._spawn()
            assert self._process is not None and self._dir is not None
            deadline = time.monotonic() + self.start_timeout
            line = ""
            while time.monotonic() < deadline:
                line = self._process.stdout.readline() if self._process.stdout else ""
                if line.strip() == _READY or not line:
                    break
            if line.strip() != _READY:
                self._process.kill()
                log = Path(self._dir, "server.log").read_text(errors="replace")[-2000:]
                self._failed = ForkServerError(f"the fork server did not start: {log}")
                raise self._failed
            self._ready = True

    def _spawn(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._ready = False
        remove_stale(tempfile.gettempdir(), self.FOLDER_PREFIX, _legacy_server_gone)
        if self._dir is None or not os.path.isdir(self._dir):
            parent = tempfile.gettempdir()
            if len(parent) + 60 > _UNIX_PATH_MAX:  # a socket path must fit sun_path; /tmp always does
                parent = "/tmp"
            self._dir = str(owned_folder(parent, self.FOLDER_PREFIX))
        self.socket_path = os.path.join(self._dir, "server.sock")
        if os.path.lexists(self.socket_path):  # left by a server of this process that died
            os.unlink(self.socket_path)
        env = allowed_environment(dict(os.environ), extra=("PYTHONPATH",))
        # Keep torch single-threaded in the server: a parallel op before fork hangs the children (OpenMP).
        env.update(OMP_NUM_THREADS="1", HOME=self._dir)
        self._process = _popen_from_a_lasting_thread(
            [sys.executable, "-m", "autograder.engine.kernels.forkserver", self.socket_path, "--preload", ",".join(self.preload),
             "--parent", str(os.getpid())],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self._dir, "server.log"), "ab"), text=True, env=env,
        )

    def _request(self, operation: str, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self.start()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            try:
                connection.connect(self.socket_path)
                connection.sendall(operation.encode() + b"\n" + json.dumps(payload).encode() + b"\n")
                return json.loads(_read_line(connection))
            except (OSError, ValueError) as error:
                raise ForkServerError(f"the fork server did not answer {operation}: {error}") from error

    def launch(self, **request: Any) -> int:
        """Fork a contained kernel; return its pid (see :func:`_contain` for the request fields)."""
        return int(self._request("launch", request)["pid"])

    def returncode(self, pid: int) -> int | None:
        """The exit code of a kernel the server forked, or None while it runs."""
        return self._request("poll", {"pid": pid})["returncode"]

    def stop(self) -> None:
        """Stop the server process and remove its folder."""
        with self._lock:
            try:
                if self._process is not None and self._process.poll() is None:
                    try:
                        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                            connection.settimeout(5)
                            connection.connect(self.socket_path)
                            connection.sendall(b"stop\n")
                            _read_line(connection)
                        self._process.wait(timeout=5)
                    except (OSError, subprocess.TimeoutExpired):
                        self._process.kill()
                        self._process.wait(timeout=5)
            finally:
                self._process = None
                self._ready = False
                self._failed = None
                if self._dir is not None:
                    remove_folder(Path(self._dir))
                    self._dir = None


_SPAWN_REQUESTS: list[queue.SimpleQueue] = []
"""The queue of the one thread that starts servers for worker threads (made on first use)."""
_SPAWN_LOCK = threading.Lock()


def _popen_from_a_lasting_thread(*args: Any, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` run on the main thread or on one thread that lives as long as this process.

    The server asks Linux to end it when its parent dies (PR_SET_PDEATHSIG), and Linux means the parent *thread*. A
    server started from a worker thread (``asyncio.to_thread`` in a kernel launch, nbclient's loop, a thread pool) was
    ended with that thread: between two tests, between two notebooks of ``nbgrader autograde``, or while a launch
    was in flight ("the fork server did not answer launch: Connection reset by peer").
    """
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(*args, **kwargs)
    with _SPAWN_LOCK:
        if not _SPAWN_REQUESTS:
            _SPAWN_REQUESTS.append(queue.SimpleQueue())
            threading.Thread(target=_spawn_forever, args=(_SPAWN_REQUESTS[0],), name="autograder-forkserver-parent",
                             daemon=True).start()
    started: Future = Future()
    _SPAWN_REQUESTS[0].put((args, kwargs, started))
    return started.result()


def _spawn_forever(requests: queue.SimpleQueue) -> None:
    while True:
        args, kwargs, started = requests.get()
        try:
            started.set_result(subprocess.Popen(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised in its thread
            started.set_exception(error)


def _legacy_server_gone(folder: Path) -> bool:
    """Whether a server folder of an older layout (no owner in its name) is stale: nothing listens on its socket.

    Only the kernel's table of bound unix sockets is read (a connection would disturb a live server), and only
    folders older than ten minutes are judged, so that a server still importing torch is never taken for dead.
    """
    try:
        if time.time() - folder.stat().st_mtime < 600:
            return False
        listening = {line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()[1:]
                     if len(line.split()) >= 8}
    except OSError:
        return False
    return str(folder / "server.sock") not in listening


_shared: ForkServer | None = None
_shared_lock = threading.Lock()


def shared_fork_server(preload: tuple[str, ...] = DEFAULT_PRELOAD) -> ForkServer:
    """The fork server of this grading process (one per process, started on first use, stopped at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ForkServer(preload)
            atexit.register(_shared.stop)
        return _shared


def main(argv: list[str] | None = None) -> None:
    """Entry point of the server process."""
    parser = argparse.ArgumentParser(description="fork server for grading kernels")
    parser.add_argument("socket_path")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD))
    parser.add_argument("--parent", type=int, default=os.getppid(), help="pid of the grader; stop when it dies")
    args = parser.parse_args(argv)
    _serve(args.socket_path, [m for m in args.preload.split(",") if m], args.parent)


if __name__ == "__main__":
    main()
