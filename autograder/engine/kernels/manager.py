"""A jupyter_client kernel manager that starts contained grading kernels, fast, from the fork server.

nbgrader's Execute preprocessor uses it through :class:`autograder.engine.nbgrader.execute.ContainedExecute`, so plain
``nbgrader autograde`` and ``python -m autograder.engine.grade`` start kernels the same way. Where the fork server cannot
be used (not Linux, or ``use_fork_server = False``), kernels start the ordinary way, with timeouts only.

Each kernel gets a folder of its own inside its grading process's run folder
(``/run/jupyter-kernels/autograder-kernels-<pid>-<start>/k-<id>``). As root that folder is a tmpfs whose size is
the kernel's disk quota: its work folder (a copy of the submission that never follows a link), its home, its
private /tmp, /var/tmp and /dev/shm, its log and its sockets all live there, so one cap holds for everything the
kernel can write. The folder is unmounted and removed when the kernel is cleaned up; a run folder whose grading
process is gone (kill -9) is removed by the next run (:mod:`autograder.engine.kernels.leftovers`).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from queue import Empty
from typing import Any, Callable

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo, channel_socket_types
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Bool, DottedObjectName, Integer, List, Type, Unicode, default

from autograder.engine.kernels.forkserver import ForkServer, allowed_environment, shared_fork_server
from autograder.engine.kernels.leftovers import owned_folder, remove_folder, remove_stale
from autograder.engine.kernels.sandbox import SCRATCH_MOUNTS, Limits, ProcessTree, mount_room
from autograder.engine.layout import course_layout
from autograder.engine.submission_files import SubmissionFiles

_live_managers: "weakref.WeakSet[ContainedKernelManager]" = weakref.WeakSet()
STOPPING = threading.Event()
"""Set when the grader is being interrupted: kernels are not restarted any more."""


def kill_all_kernels() -> int:
    """Kill the process trees of every kernel this process started (Ctrl-C); return how many processes died."""
    STOPPING.set()
    killed = sum(manager.kill_process_tree() for manager in list(_live_managers))
    finish_teardowns(every_thread=True)
    return killed


_PENDING_TEARDOWNS: dict[int, list[Callable[[], None]]] = {}
"""Ends of kernel teardowns left for later, by thread: the kernel got SIGKILL, its cgroups and folders wait."""
_PENDING_LOCK = threading.Lock()


def finish_teardowns(every_thread: bool = False) -> None:
    """Finish the kernel teardowns this thread (or every thread) left for later: see the killed processes gone, then
    remove their cgroups and folders and free their uid.

    A kernel killed at the end of its notebook takes some milliseconds to die (its memory is freed) and more to be
    reaped; the grading command finishes its teardown once nbgrader has saved the notebook's grades, by when it is
    long gone, instead of waiting for it (0.02 s a notebook). Also run before this thread starts its next kernel and
    when the process exits, so no teardown is ever left unfinished.
    """
    with _PENDING_LOCK:
        if every_thread:
            pending = [finish for finishes in _PENDING_TEARDOWNS.values() for finish in finishes]
            _PENDING_TEARDOWNS.clear()
        else:
            pending = _PENDING_TEARDOWNS.pop(threading.get_ident(), [])
    for finish in pending:
        try:
            finish()
        except Exception:  # noqa: BLE001 - one kernel's leftovers must not stop the others' (the next run removes them)
            pass


atexit.register(finish_teardowns, every_thread=True)


class ForkedProcess:
    """A Popen-like handle on a kernel the fork server forked (it is the server's child, not ours)."""

    stdin = stdout = stderr = None

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code, or None while the kernel runs."""
        if self.returncode is None:
            self.returncode = self.server.returncode(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait (bounded by ``timeout``) until the kernel has exited."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel; like Popen, do nothing once it has exited."""
        if self.poll() is not None:
            return
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the kernel."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the kernel."""
        self.send_signal(signal.SIGTERM)


class ForkServerProvisioner(LocalProvisioner):
    """Launches the kernel by asking the fork server instead of running the kernelspec's command."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Fork a contained kernel serving this manager's connection file."""
        manager: ContainedKernelManager = self.parent  # type: ignore[assignment]
        server = shared_fork_server()
        # Only the allowlist leaves the grader: no secret or grading hint is ever sent to (or kept in) a kernel.
        env = allowed_environment(dict(kwargs.get("env") or os.environ))
        request = {
            "kernel_args": ["-f", manager.connection_file],
            "cwd": str(kwargs.get("cwd") or os.getcwd()),
            "env": env,
            "limits": manager.limits().__dict__,
            "cgroups": [str(path) for path in manager.tree.cgroups],
            "threads": manager.kernel_threads,
            "status_path": manager.status_path,
            "log_path": manager.log_path,
            **manager.isolation_request(kwargs.get("cwd") or os.getcwd()),
        }
        pid = await asyncio.to_thread(server.launch, **request)
        self.process = ForkedProcess(server, pid)  # type: ignore[assignment]
        self.pid = self.pgid = pid
        manager.tree.enter(pid)
        return self.connection_info


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse oversized messages and keep short queues, so a kernel cannot swell the grader.

    ``max_message_bytes`` caps every inbound message (libzmq drops the connection instead of allocating it); the
    iopub queue holds at most ``iopub_queue`` messages. Each drop is counted (a socket monitor sees the
    disconnection) and :meth:`take_dropped_connections` reports it, so grading can flag the kernel.
    """

    max_message_bytes = Integer(8 * 2**20, help="Largest message accepted from a kernel, in bytes.").tag(config=True)
    iopub_queue = Integer(32, help="Most iopub messages queued in the grader before the kernel's are dropped.").tag(
        config=True)

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> zmq.Socket:
        """jupyter_client's version (8.10), with the bounds set before connecting and a monitor attached."""
        url = self._make_url(channel)
        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.setsockopt(zmq.RECONNECT_IVL, 10)  # a restarted kernel is reached in milliseconds, not 100 ms
        if channel == "iopub":
            sock.setsockopt(zmq.RCVHWM, self.iopub_queue)
        if identity:
            sock.identity = identity
        monitor_url = f"inproc://autograder-monitor-{uuid.uuid4().hex}"
        sock.monitor(monitor_url, zmq.EVENT_DISCONNECTED)
        watcher = zmq.Context.shadow(self.context.underlying).socket(zmq.PAIR)
        watcher.connect(monitor_url)
        self.__dict__.setdefault("_monitors", []).append(watcher)
        sock.connect(url)
        return sock

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        """Return as soon as the kernel says it is ready: its kernel_info reply, then that request's idle on iopub.

        jupyter_client waits instead until iopub has been silent for 0.2 s, a fixed wait in every kernel start. The
        idle status proves that iopub is connected too. A kernel that published it before this client subscribed
        is asked again: at once when its iopub welcome shows that the subscription has just arrived, otherwise
        after 0.1 s without it once the kernel has replied (1 s while it has not replied yet).
        """
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        asked: set[str] = set()
        reply = None
        while True:
            asked.add(self.kernel_info())
            wait_until = min(deadline, time.monotonic() + (1.0 if reply is None else 0.1))
            try:
                while reply is None:
                    message = await self.shell_channel.get_msg(timeout=max(0.0, wait_until - time.monotonic()))
                    if message.get("parent_header", {}).get("msg_id") in asked:
                        reply = message
                        wait_until = min(deadline, time.monotonic() + 0.1)
                while True:
                    message = await self.iopub_channel.get_msg(timeout=max(0.0, wait_until - time.monotonic()))
                    if (message.get("msg_type") == "status" and message["content"].get("execution_state") == "idle"
                            and message.get("parent_header", {}).get("msg_id") in asked):
                        self._handle_kernel_info_reply(reply)
                        return
                    if message.get("msg_type") == "iopub_welcome":
                        break  # subscribed only now: the idle of a request asked before it is lost
            except Empty:
                pass
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    # AsyncKernelClient binds wait_for_ready to jupyter_client's own coroutine (``wait_for_ready =
    # KernelClient._async_wait_for_ready``), so overriding the underscore name alone changed nothing: bind ours.
    wait_for_ready = _async_wait_for_ready

    def stop_channels(self) -> None:
        """Close the monitors first: the context cannot terminate while a socket of it is open."""
        for watcher in self.__dict__.pop("_monitors", []):
            watcher.close(linger=0)
        super().stop_channels()

    def take_dropped_connections(self) -> int:
        """How many times a kernel socket was disconnected (an oversized message) since the last call."""
        dropped = 0
        for watcher in self.__dict__.get("_monitors", []):
            while True:
                try:
                    watcher.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                dropped += 1
        return dropped


class ContainedKernelManager(AsyncKernelManager):
    """Starts each kernel contained (limits, no network, own process tree) and kills the whole tree at shutdown."""

    use_fork_server = Bool(
        sys.platform.startswith("linux"),
        help="Fork kernels from a server that has already imported torch (Linux only; much faster).",
    ).tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="Address-space and cgroup memory cap of one kernel, in MiB.").tag(config=True)
    max_processes = Integer(Limits.max_processes, help="Most processes one kernel may run at once (pids cgroup / RLIMIT_NPROC).").tag(
        config=True
    )
    max_file_mb = Integer(Limits.max_file_mb, help="Largest file a kernel may write, in MiB.").tag(config=True)
    disk_mb = Integer(
        Limits.disk_mb, help="Everything one kernel may write, in MiB, all places together: its work folder, home, /tmp, /var/tmp "
        "and /dev/shm share one tmpfs of this size (as root; the submission's copy counts too)."
    ).tag(config=True)
    isolate_network = Bool(Limits.isolate_network, help="Run kernels in an empty network namespace (needs root or user namespaces).").tag(
        config=True
    )
    kernel_threads = Integer(1, help="torch/OpenMP threads per kernel (grading runs several kernels at once).").tag(
        config=True
    )
    sandbox_dir = Unicode(
        "", help="Where per-kernel folders go (default: /run/jupyter-kernels as root, else a temporary directory)."
    ).tag(config=True)
    isolate_filesystem = Bool(
        True, help="Hide the course, other submissions and the gradebook from kernels and run them as an "
        "unprivileged user (needs root; skipped otherwise)."
    ).tag(config=True)
    hidden_paths = List(Unicode(), help="More files or folders kernels must not see (e.g. a gradebook elsewhere).").tag(
        config=True
    )
    first_sandbox_uid = Integer(61000, help="Kernels run as uids from here on, one per running kernel.").tag(config=True)
    client_class = DottedObjectName("autograder.engine.kernels.manager.BoundedKernelClient")
    client_factory = Type(BoundedKernelClient, klass=AsyncKernelClient)

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        """jupyter_client's context, whose sockets (the control socket too) reconnect in milliseconds, not 100 ms."""
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.RECONNECT_IVL, 10)
        return context

    def limits(self) -> Limits:
        """The resource limits of this manager's kernels."""
        return Limits(self.memory_mb, self.max_processes, self.max_file_mb, self.isolate_network)

    def _isolating(self) -> bool:
        return self.isolate_filesystem and os.geteuid() == 0

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        finish_teardowns()  # this thread's earlier kernels are gone before the next one (a restart reuses the folder)
        if self.use_fork_server:
            self.kernel_id = self.kernel_id or str(uuid.uuid4())
            kernels_root = Path(self.sandbox_dir or ("/run/jupyter-kernels" if os.geteuid() == 0 else tempfile.gettempdir()))
            kernels_root.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                kernels_root.chmod(0o711)  # kernels may pass through, never list their neighbours
            run = _run_folder(kernels_root)
            folder = run / f"k-{self.kernel_id}"
            remove_folder(folder)
            folder.mkdir(mode=0o700)
            self.folder = folder
            self.sandbox_uid = _allocate_uid(self.first_sandbox_uid, kernels_root) if self._isolating() else None
            self.room_problem = None
            if self.sandbox_uid is not None:
                # The kernel's room: one tmpfs for everything it may write, so one size caps all of it.
                try:
                    mount_room(folder, self.disk_mb, self.sandbox_uid)
                except OSError as error:
                    self.room_problem = str(error)
            # Written by the grader side only: root-owned, outside the kernel's own folder.
            self.status_path = str(run / f"k-{self.kernel_id}.status.json")
            self.log_path = str(folder / "kernel.log")
            self.connection_file = str(folder / "connection.json")
            if self.isolate_network:
                # Unix sockets still connect across network namespaces; TCP on loopback would not.
                self.transport = "ipc"
                self.ip = str(folder / "k")
            self.tree = ProcessTree(f"kernel-{self.kernel_id}", self.limits())
            self.tree.create()
            _live_managers.add(self)
            if self.provisioner is None:
                self.provisioner = ForkServerProvisioner(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
                )
        return await super()._async_pre_start_kernel(**kw)

    def sandbox_status(self) -> dict[str, Any]:
        """What the kernel reported about its containment (network namespace), plus the cgroups used."""
        status: dict[str, Any] = {}
        if getattr(self, "status_path", None) and os.path.exists(self.status_path):
            try:
                status = json.loads(Path(self.status_path).read_text())
            except ValueError:  # the kernel died while it was being contained, before it could report
                status = {"containment": "not reported"}
        if getattr(self, "tree", None) is not None:
            status["cgroups"] = self.tree.report.applied
            status["skipped"] = self.tree.report.skipped
            if getattr(self, "room_problem", None):
                status["skipped"] = {**status["skipped"], "disk quota": self.room_problem}
        return status

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            self.kill_process_tree()

    # AsyncKernelManager binds its public coroutine names to the base implementations; point this one at ours.
    # Every shutdown, restart and cleanup after a dead kernel ends here.
    cleanup_resources = _async_cleanup_resources

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """Kill a forked kernel's whole tree at once (its cgroup) instead of asking it to exit and polling.

        jupyter_client sends a shutdown request, then polls every 0.1 s until the kernel has gone (or kills it after
        ``shutdown_wait_time``); nothing a grading kernel does at exit matters, its folder goes with it. The kernel
        itself is not counted among the processes killed (:meth:`ProcessTree.kill`); a kernel started the ordinary
        way (no fork server) shuts down as jupyter_client does.
        """
        process = getattr(self.provisioner, "process", None)
        if not isinstance(process, ForkedProcess) or getattr(self, "tree", None) is None:
            await super()._async_shutdown_kernel(now=now, restart=restart)
            return
        self.shutting_down = True
        self.stop_restarter()
        # Killed now; the rest of its teardown waits until the kernel has died (unless a restart follows at once).
        self.kill_process_tree(finish_later=not restart)
        if process.returncode is None:
            process.returncode = -signal.SIGKILL  # reaped by the fork server; nobody here waits for it
        self.provisioner.process = None  # type: ignore[union-attr]
        await self._async_cleanup_resources(restart=restart)

    shutdown_kernel = _async_shutdown_kernel

    def isolation_request(self, cwd: str) -> dict[str, Any]:
        """The fork-server fields that hide the filesystem and drop privileges, with a copy of ``cwd`` as workdir.

        The copy never follows a link and must fit the disk quota. The kernel's home is a fresh folder of its own,
        never the work folder: IPython and Jupyter settings a submission carries are never read.
        """
        work, home = self.folder / "work", self.folder / "home"
        for path in (work, home):
            remove_folder(path)
        SubmissionFiles(parent=self).copy(Path(cwd), work, max_files=None, max_bytes=self.disk_mb << 20,
                                          owner=self.sandbox_uid)
        home.mkdir(mode=0o700)
        self.audit_module = f"_nbaudit_{os.urandom(6).hex()}"
        layout = course_layout()
        hide = hidden_paths(cwd, list(self.hidden_paths), layout.root)
        # Reaching for anything in the course folder is recorded, also where nothing is mounted over it.
        audit_roots = sorted({*hide, str(layout.root)})
        audit = {"audit_module": self.audit_module, "audit_roots": audit_roots,
                 "private_packages": list(layout.private_packages)}
        if self.sandbox_uid is None:
            return {"workdir": str(work), "home": str(home), **audit, "hide": None, "keep": kept_paths()}
        scratch = {}
        for mount in SCRATCH_MOUNTS:
            inside = self.folder / mount.strip("/").replace("/", "_")
            inside.mkdir(mode=0o1777)
            inside.chmod(0o1777)
            scratch[mount] = str(inside)
        for path in [self.folder, *self.folder.iterdir()]:
            if path.name != "kernel.log":
                os.lchown(path, self.sandbox_uid, self.sandbox_uid)
        staging = self.folder.parent / f"k-{self.kernel_id}.staging"
        staging.mkdir(mode=0o700, exist_ok=True)
        return {
            "workdir": str(work), "home": str(home), "uid": self.sandbox_uid, "staging": str(staging),
            **audit, "hide": hide, "keep": kept_paths(),
            "scratch": scratch, "writable": [str(self.folder)],
            # Other kernels' cgroups (and so their names and status) are no business of this one.
            "cover": [path for path in ("/sys/fs/cgroup",) if os.path.isdir(path)],
        }

    def processes_besides_kernel(self) -> int:
        """How many processes the student left running in this kernel's tree now (:meth:`ProcessTree.strays`)."""
        tree = getattr(self, "tree", None)
        return len(tree.strays()) if tree is not None else 0

    def kill_process_tree(self, finish_later: bool = False) -> int:
        """Kill every process the kernel left behind (idempotent); return how many were still running.

        ``finish_later``: every process gets SIGKILL now; seeing them gone, removing the cgroups and folders and freeing
        the uid are left to :func:`finish_teardowns` (this thread, before its next kernel or when asked).
        """
        tree = getattr(self, "tree", None)
        if tree is None:
            return 0
        killed = tree.kill(wait=not finish_later)
        cap_hits = tree.process_cap_hits()  # read before the cgroup goes away
        self.tree = None
        self.processes_killed = getattr(self, "processes_killed", 0) + killed
        self.process_cap_hits = getattr(self, "process_cap_hits", 0) + cap_hits
        folder = getattr(self, "folder", None)
        staging = folder.parent / f"k-{self.kernel_id}.staging" if folder is not None else None
        uid, self.sandbox_uid = getattr(self, "sandbox_uid", None), None
        finish = functools.partial(_finish_teardown, tree, folder, staging, getattr(self, "status_path", None), uid)
        if finish_later:
            with _PENDING_LOCK:
                _PENDING_TEARDOWNS.setdefault(threading.get_ident(), []).append(finish)
        else:
            finish()
        return killed


def _finish_teardown(tree: ProcessTree, folder: Path | None, staging: Path | None, status_path: str | None,
                     uid: int | None) -> None:
    """The end of a kernel's teardown: its processes gone, then its cgroups, folders and uid given back."""
    tree.kill()
    tree.remove()
    if folder is not None:
        remove_folder(folder)
        shutil.rmtree(staging, ignore_errors=True)
        if status_path:
            Path(status_path).unlink(missing_ok=True)
    if uid is not None:
        _release_uid(uid)


_RUN_PREFIX = "autograder-kernels-"
_runs: dict[Path, Path] = {}
_runs_lock = threading.Lock()


def _run_folder(kernels_root: Path) -> Path:
    """This process's folder for its kernels in ``kernels_root``, made on first use (stale ones removed then)."""
    with _runs_lock:
        if kernels_root not in _runs:
            remove_stale(kernels_root, _RUN_PREFIX)
            run = owned_folder(kernels_root, _RUN_PREFIX, unique=False)
            run.chmod(0o711)
            _runs[kernels_root] = run
            atexit.register(remove_folder, run)
        return _runs[kernels_root]


_uid_locks: dict[int, int] = {}
_uid_lock = threading.Lock()


def _allocate_uid(first: int, locks: Path) -> int:
    """A sandbox uid that no other kernel on this machine uses, held by a lock file until released.

    The lock (``flock`` on ``locks``/uid-N.lock) makes the choice safe across grading processes
    running at the same time. A uid's processes are all killed when its kernel is cleaned up (cgroup), before the
    lock is released.
    """
    import fcntl

    with _uid_lock:
        for uid in range(first, first + 10_000):
            if uid in _uid_locks:
                continue
            handle = os.open(locks / f"uid-{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(handle)
                continue
            _uid_locks[uid] = handle
            return uid
    raise RuntimeError("no free sandbox uid")


def _release_uid(uid: int) -> None:
    with _uid_lock:
        handle = _uid_locks.pop(uid, None)
    if handle is not None:
        os.close(handle)  # closing releases the flock


def kept_paths() -> list[str]:
    """What a kernel needs to see even under hidden folders: the Python installation it runs on."""
    import site
    import sysconfig

    paths = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"],
                                                   *site.getsitepackages()) if os.path.isdir(p)})
    # Only the outermost: a path inside another kept path comes along with it.
    return [p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)]


def hidden_paths(cwd: str, extra: list[str], course_root: Path) -> list[str]:
    """What a kernel must not see: the course folder, the folder of every graded submission, the home folder."""
    keep = kept_paths()
    hide = set()
    for entry in course_root.iterdir():
        real = os.path.realpath(entry)
        if not any(k == real or k.startswith(real + os.sep) for k in keep):
            hide.add(real)
    # cwd is <autograded>/<student>/<assignment>: hide every student's folder.
    hide.add(os.path.realpath(os.path.join(cwd, os.pardir, os.pardir)))
    hide.add(os.path.realpath(os.path.expanduser("~")))
    hide.update(os.path.realpath(p) for p in extra)
    return sorted(p for p in hide if os.path.exists(p) and p != "/")
