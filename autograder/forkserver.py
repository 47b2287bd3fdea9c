"""A fork server for grading kernels: one process imports torch once, then forks a fresh kernel per submission.

A cold kernel costs ~0.7 s to start plus 2-3 s for ``import torch`` in every notebook. The server pays that once;
each child is forked from the same pristine state (no student code ever ran in the server), applies the
submission's containment (its own session, cgroups, rlimits, an empty network namespace), and becomes an ipykernel
serving the connection file it was given.

The server must never run a parallel torch operation before forking: GNU OpenMP does not survive fork.

Run as ``python -m autograder.forkserver SOCKET_PATH --preload torch,numpy``; talk to it with :class:`ForkServer`.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

DEFAULT_PRELOAD = ("numpy", "torch", "ipykernel.kernelapp", "autograder.probe")
_READY = "fork server ready"


# ----------------------------------------------------------------------------------------------------------------
# Server side
# ----------------------------------------------------------------------------------------------------------------

def _warm_up() -> None:
    """Pay one-time costs of the grader's own checks here, once, instead of in every kernel."""
    if "autograder.probe" in sys.modules:
        import torch

        from autograder.probe import FillUninitialized

        # The first TorchDispatchMode of a process costs ~1.5 s; every forked kernel inherits the warm state.
        with FillUninitialized(0):
            torch.zeros(1) + 1


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: contain this process, then run an ipykernel until it is shut down."""
    from autograder.sandbox import (
        Limits, apply_rlimits, drop_privileges, install_audit_hook, isolate_filesystem, isolate_network,
    )

    os.setsid()
    for name in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(name, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for cgroup in request.get("cgroups", []):
        try:
            Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            pass
    status: dict[str, Any] = {"pid": os.getpid()}
    limits = Limits(**request["limits"])
    if limits.isolate_network:
        reason = isolate_network()
        status["network"] = "isolated" if reason is None else f"not isolated: {reason}"
    log = os.open(request.get("log_path") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if request.get("hide") is not None:
        problems = isolate_filesystem(request["hide"], request.get("keep", []), request["staging"])
        status["filesystem"] = "hidden" if not problems else f"partly hidden: {problems}"
    os.chdir(request.get("workdir") or request["cwd"])
    threads = int(request.get("threads", 1))
    os.environ.clear()
    os.environ.update(_kernel_environment(request["env"], os.getcwd(), threads))
    import torch

    torch.set_num_threads(threads)
    # Files the student submitted next to the notebook must not shadow installed packages.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd(), request.get("server_cwd"))]
    apply_rlimits(limits)
    if request.get("uid") is not None:
        status["uid"] = request["uid"]
    if request.get("status_path"):
        Path(request["status_path"]).write_text(json.dumps(status))
    if request.get("audit_module"):
        install_audit_hook(request["audit_module"], request.get("audit_roots") or [], request.get("keep") or [])
    if request.get("uid") is not None:
        drop_privileges(int(request["uid"]))
    # Die with the fork server (which dies with the grader), even after kill -9: set after the uid change,
    # which clears it. A server already gone means this kernel has nobody to serve.
    server = os.getppid()
    _exit_with_parent(signal.SIGKILL)
    if os.getppid() != server:
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.argv = ["ipykernel_launcher", *request["kernel_args"]]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["--IPKernelApp.ignore_cwd=True", "--HistoryManager.hist_file=:memory:", *request["kernel_args"]])
    app.start()


_KERNEL_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "PYTHONHASHSEED", "MPLBACKEND")


def _kernel_environment(env: dict[str, str], home: str, threads: int) -> dict[str, str]:
    """A clean environment: no grader settings, secrets or detection hints, only what a laptop would have."""
    clean = {key: value for key, value in env.items() if key in _KERNEL_ENV or key.startswith("LC_")}
    clean.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    clean.update(HOME=home, OMP_NUM_THREADS=str(threads), MPLCONFIGDIR=os.path.join(home, ".matplotlib"))
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
    server_cwd = os.getcwd()
    print(_READY, flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            request = json.loads(_read_line(connection))
            operation = request["op"]
            if operation == "launch":
                request["server_cwd"] = server_cwd
                pid = os.fork()
                if pid == 0:
                    try:
                        listener.close()
                        connection.close()
                        _become_kernel(request)
                    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
                        traceback.print_exc()
                    finally:
                        os._exit(1)
                reply: dict[str, Any] = {"pid": pid}
            elif operation == "poll":
                reply = {"returncode": exit_codes.get(request["pid"])}
            elif operation == "stop":
                connection.sendall(b'{"stopped": true}\n')
                return
            else:
                reply = {"error": f"unknown operation {operation!r}"}
            connection.sendall(json.dumps(reply).encode() + b"\n")


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

    def __init__(self, preload: tuple[str, ...] = DEFAULT_PRELOAD, start_timeout: float = 120.0) -> None:
        self.preload = preload
        self.start_timeout = start_timeout
        self._dir = tempfile.mkdtemp(prefix="autograder-forkserver-")
        self.socket_path = os.path.join(self._dir, "server.sock")
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the server and wait until it has imported everything (bounded by ``start_timeout``)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            env = dict(os.environ)
            # Keep torch single-threaded in the server: a parallel op before fork hangs the children (OpenMP).
            env["OMP_NUM_THREADS"] = "1"
            self._process = subprocess.Popen(
                [sys.executable, "-m", "autograder.forkserver", self.socket_path, "--preload", ",".join(self.preload),
                 "--parent", str(os.getpid())],
                stdout=subprocess.PIPE, stderr=open(os.path.join(self._dir, "server.log"), "ab"), text=True, env=env,
            )
            deadline = time.monotonic() + self.start_timeout
            line = ""
            while time.monotonic() < deadline:
                line = self._process.stdout.readline() if self._process.stdout else ""
                if line.strip() == _READY or not line:
                    break
            if line.strip() != _READY:
                self._process.kill()
                log = Path(self._dir, "server.log").read_text(errors="replace")[-2000:]
                raise ForkServerError(f"the fork server did not start: {log}")

    def _request(self, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self.start()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            try:
                connection.connect(self.socket_path)
                connection.sendall(json.dumps(payload).encode() + b"\n")
                return json.loads(_read_line(connection))
            except (OSError, ValueError) as error:
                raise ForkServerError(f"the fork server did not answer {payload['op']}: {error}") from error

    def launch(self, **request: Any) -> int:
        """Fork a contained kernel; return its pid (see :func:`_become_kernel` for the request fields)."""
        return int(self._request({"op": "launch", **request})["pid"])

    def returncode(self, pid: int) -> int | None:
        """The exit code of a kernel the server forked, or None while it runs."""
        return self._request({"op": "poll", "pid": pid})["returncode"]

    def stop(self) -> None:
        """Stop the server process."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                return
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                    connection.settimeout(5)
                    connection.connect(self.socket_path)
                    connection.sendall(b'{"op": "stop"}\n')
                    _read_line(connection)
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
            finally:
                self._process = None


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
