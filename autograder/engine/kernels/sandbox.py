"""Containment of one grading kernel: resource limits, no network, and killing its whole process tree.

Every layer is applied where this machine allows it and skipped (with the reason recorded) where it does not:
rlimits always on Linux; a network namespace when ``unshare(CLONE_NEWNET)`` is permitted (root, or unprivileged
user namespaces); a cgroup (pids + memory) when the cgroup filesystem is writable; as root, a clean room (mount,
IPC and cgroup namespaces, a read-only system with private scratch folders in a size-capped tmpfs, an unprivileged
uid). The kernel manager reports which layers were active, so a deployment can see what it gets.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CLONE_NEWNET = 0x40000000
_CGROUP_V1 = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use; the defaults of ``ContainedKernelManager``'s settings (one place)."""

    memory_mb: int = 3072
    max_processes: int = 64
    max_file_mb: int = 256
    isolate_network: bool = True
    disk_mb: int = 512


@dataclass
class SandboxReport:
    """Which containment layers were applied to a kernel, and why any was skipped."""

    applied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def apply_rlimits(limits: Limits, nproc: int | None = None) -> None:
    """Cap address space, file size, core dumps and processes (``nproc``, default the limit) of this process tree."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_size = limits.max_file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_NPROC counts per user and does not bind root; the pids cgroup below is the cap that holds for root.
    nproc = nproc or limits.max_processes
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def isolate_network() -> str | None:
    """Move this process into a new, empty network namespace; return why not when that is impossible."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return os.strerror(ctypes.get_errno())
    return None


class ProcessTree:
    """The processes of one kernel: a cgroup when available, otherwise its session and descendants."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self.cgroups: list[Path] = []
        self.report = SandboxReport()
        self.root_pid: int | None = None

    def create(self) -> None:
        """Create the cgroups (pids, memory) of this tree, where the cgroup filesystem lets us."""
        settings = {
            "pids": {"pids.max": str(self.limits.max_processes)},
            "memory": {"memory.limit_in_bytes": str(self.limits.memory_mb * 1024 * 1024)},
        }
        for controller, values in settings.items():
            path = _CGROUP_V1 / controller / "autograder" / self.name
            try:
                path.mkdir(parents=True, exist_ok=True)
                for key, value in values.items():
                    (path / key).write_text(value)
            except OSError as error:
                self.report.skipped[f"cgroup:{controller}"] = error.strerror or str(error)
                continue
            self.cgroups.append(path)
            self.report.applied.append(f"cgroup:{controller}")

    def enter(self, pid: int) -> None:
        """Put ``pid`` (a session leader, and so its future children) into this tree."""
        self.root_pid = pid
        for path in self.cgroups:
            try:
                (path / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass

    def members(self) -> set[int]:
        """Every live process that belongs to the tree now: its cgroups, the root's descendants and session."""
        pids: set[int] = set()
        for path in self.cgroups:
            try:
                pids.update(int(line) for line in (path / "cgroup.procs").read_text().split())
            except OSError:
                pass
        if self.root_pid is not None:
            try:
                root = psutil.Process(self.root_pid)
                if root.status() != psutil.STATUS_ZOMBIE:
                    pids.add(self.root_pid)
                pids.update(child.pid for child in root.children(recursive=True))
            except psutil.Error:
                pass
            if any("pids" in str(path) for path in self.cgroups):
                # The pids cgroup holds every descendant, even those that started their own session.
                pids.discard(os.getpid())
                return {pid for pid in pids if not _is_zombie(pid)}
            # Without a cgroup: the kernel is a session leader (it called setsid), so its session id is its pid.
            for process in psutil.process_iter(["status"]):
                if process.info["status"] != psutil.STATUS_ZOMBIE and _session_of(process.pid) == self.root_pid:
                    pids.add(process.pid)
        pids.discard(os.getpid())
        return pids

    def strays(self) -> set[int]:
        """The members a student started and left running: not the kernel, not Python's own multiprocessing helpers."""
        return {pid for pid in self.members() - {self.root_pid} if not _is_python_helper(pid)}

    def kill(self, wait: bool = True) -> int:
        """SIGKILL every member until none is left (bounded); return how many strays (see :meth:`strays`) it killed.

        ``wait=False``: one pass only (every member now gets SIGKILL, none can start another process after it), for a
        caller that comes back later with ``wait=True`` to see them gone.
        """
        killed = set()
        helpers = set()
        # Looked at again after 1 ms, then ever less often (20 ms at most), for a second in all: a killed kernel is
        # usually gone within a few milliseconds, and a fixed 20 ms wait cost every notebook that much.
        deadline, pause = time.monotonic() + 1.0, 0.001
        while time.monotonic() < deadline:
            members = self.members()
            if not members:
                break
            helpers.update(pid for pid in members - killed if _is_python_helper(pid))
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            if not wait:
                break
            time.sleep(pause)
            pause = min(0.02, pause * 2)
        killed.discard(self.root_pid)
        return len(killed - helpers)

    def process_cap_hits(self) -> int:
        """How many times a process of the tree was refused a new process by the pids cgroup's cap."""
        for path in self.cgroups:
            events = path / "pids.events"
            try:
                return int(dict(line.split() for line in events.read_text().splitlines()).get("max", 0))
            except (OSError, ValueError):
                continue
        return 0

    def remove(self) -> None:
        """Delete the (empty) cgroups: tried again after 1 ms, then ever less often (20 ms at most), for a second.

        A killed kernel leaves its cgroup a few milliseconds after it is gone from :meth:`members` (its memory is
        still being freed); a fixed 50 ms wait cost every notebook that much.
        """
        for path in self.cgroups:
            deadline, pause = time.monotonic() + 1.0, 0.001
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(pause)
                    pause = min(0.02, pause * 2)


_PYTHON_HELPERS = ("from multiprocessing.resource_tracker import main", "from multiprocessing.forkserver import main")
"""Command lines of the helper processes Python's multiprocessing starts on its own (shared memory, semaphores and
the forkserver start method) and keeps until the kernel ends: honest code leaves them, so they are not strays."""


def _is_python_helper(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            arguments = handle.read().split(b"\0")
    except OSError:
        return False
    # ``python [interpreter flags] -c "<command>"``, as multiprocessing.util.spawnv_passfds starts them.
    return any(flag == b"-c" and command.decode(errors="replace").startswith(_PYTHON_HELPERS)
               for flag, command in zip(arguments[1:], arguments[2:]))


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


# ----------------------------------------------------------------------------------------------------------------
# Filesystem and privileges (applied in the forked kernel, as root, before it runs any student code)
# ----------------------------------------------------------------------------------------------------------------

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SCRATCH_MOUNTS = ("/tmp", "/var/tmp", "/dev/shm")
"""World-writable scratch folders every kernel gets a private copy of (inside its disk quota)."""
_SYS_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    if _libc().mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def _set_read_only(path: str, read_only: bool, *, recursive: bool) -> None:
    """Make the mount at ``path`` (and every mount below it when ``recursive``) read-only, or writable again."""
    attr = _MountAttr(_MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else _MOUNT_ATTR_RDONLY, 0, 0)
    flags = _AT_RECURSIVE if recursive else 0
    libc = _libc()
    if libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)) == 0:
        return
    if ctypes.get_errno() != 38:  # ENOSYS: a kernel older than 5.12; remount one mount at a time instead
        raise OSError(ctypes.get_errno(), f"mount_setattr {path}: {os.strerror(ctypes.get_errno())}")
    points = [path]
    if recursive:
        points += [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if line.split()[4].startswith(path.rstrip("/") + "/")]
    for point in points:
        _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0))


def _cover(path: str, keep: list[str], staging: str, *, source: str | None = None) -> None:
    """Cover ``path`` with an empty read-only tmpfs, or with a bind of ``source``, re-exposing ``keep`` paths beneath.

    Kept paths (the Python installation, which may live under /tmp or a home folder) stay visible, read-only.
    """
    inner = [k for k in keep if k != path and k.startswith(path.rstrip("/") + "/")]
    parked = []
    for index, kept in enumerate(inner):
        spot = os.path.join(staging, f"keep-{os.getpid()}-{abs(hash(path))}-{index}")
        os.makedirs(spot, exist_ok=True)
        _mount(kept, spot, None, MS_BIND | MS_REC)
        parked.append((spot, kept))
    options = "size=64k,mode=755"
    if source is None:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
    else:
        _mount(source, path, None, MS_BIND)
    for spot, kept in parked:
        os.makedirs(kept, exist_ok=True)
        _mount(spot, kept, None, MS_MOVE)
        _mount(None, kept, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC)
    if source is None:
        _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, options)


def mount_room(folder: Path, size_mb: int, uid: int) -> None:
    """Mount a tmpfs of ``size_mb`` MiB at ``folder``, owned by ``uid``: everything one kernel may write.

    Mounted by the grader in its own namespace, so that the kernel's sockets there stay reachable from the grader.
    """
    _mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=0700,uid={uid},gid={uid}")


def isolate_ipc_and_cgroups() -> list[str]:
    """Enter a new IPC namespace (SysV shared memory, semaphores and message queues die with the kernel) and a new
    cgroup namespace (``/proc/self/cgroup`` names no kernel); return what could not be done."""
    libc = _libc()
    problems = []
    for flag, name in [(CLONE_NEWIPC, "IPC namespace"), (CLONE_NEWCGROUP, "cgroup namespace")]:
        if libc.unshare(flag) != 0:
            problems.append(f"{name}: {os.strerror(ctypes.get_errno())}")
    return problems


def isolate_filesystem(
    hide: list[str], keep: list[str], staging: str, *, scratch: dict[str, str] | None = None,
    writable: list[str] | None = None, cover: list[str] | None = None,
) -> list[str]:
    """In a new mount namespace: hide instructor paths, give private scratch mounts, make the rest read-only.

    ``hide`` are files or directories the kernel must not see (the course root's contents, other students'
    submissions, the gradebook, root's home); ``cover`` are system folders it has no business reading (the cgroup
    tree of every kernel); ``keep`` are paths beneath them it still needs (the Python installation). ``scratch``
    maps each world-writable scratch folder (/tmp, /var/tmp, /dev/shm) to a folder inside the kernel's own room,
    the tmpfs whose size is its disk quota; ``writable`` are the mounts that stay writable (that room). Everything
    else, every other world-writable folder included (/run/lock, /dev/mqueue...), becomes read-only. Returns what
    could not be done.
    """
    problems: list[str] = []
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        return [f"mount namespace: {os.strerror(ctypes.get_errno())}"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for path in sorted(set(hide) | set(cover or []), key=len):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                _cover(path, keep, staging)
            elif os.path.exists(path):
                _mount("/dev/null", path, None, MS_BIND)
                _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError as error:
            problems.append(str(error))
    for path, source in (scratch or {}).items():
        try:
            if os.path.isdir(path):
                _cover(path, keep, staging, source=source)
        except OSError as error:
            problems.append(str(error))
    try:
        for path in writable or []:
            if not os.path.ismount(path):  # a mount of its own, so that it alone can stay writable
                _mount(path, path, None, MS_BIND)
        _set_read_only("/", True, recursive=True)
        for path in [*(writable or []), *[p for p in (scratch or {}) if os.path.isdir(p)]]:
            _set_read_only(path, False, recursive=False)
    except OSError as error:
        problems.append(str(error))
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV, "hidepid=2")
    except OSError as error:
        problems.append(str(error))
    return problems


def drop_privileges(uid: int) -> None:
    """Become an unprivileged user (no capabilities left) that can never regain privileges."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def install_audit_hook(module_name: str, hidden: list[str], keep: list[str], private: list[str]) -> None:
    """Record attempts to reach what grading hides (an audit hook cannot be removed once added): files under
    ``hidden``, imports of the ``private`` packages (the course's hidden checks and mistake banks) and of nbgrader,
    connections, and signals to processes of another session.

    The records live in ``sys.modules[module_name].events``; the judge reads them through the probe and flags the
    submission. Reads under kept paths (the Python installation) and relative paths are never recorded.
    """
    import sys
    import types

    record = types.ModuleType(module_name)
    record.events = []
    sys.modules[module_name] = record
    hidden_roots = tuple(p.rstrip("/") + "/" for p in hidden)
    hidden_exact = frozenset(p.rstrip("/") for p in hidden)
    kept_roots = tuple(p.rstrip("/") + "/" for p in keep)
    private_modules = (*private, "nbgrader")
    session = os.getsid(0)
    events = record.events

    def hook(event: str, args: tuple) -> None:
        if len(events) > 50:
            return
        if event in ("open", "os.listdir", "os.scandir", "os.chdir"):
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str) and path.startswith("/") and not path.startswith(kept_roots) and (
                path.rstrip("/") in hidden_exact or path.startswith(hidden_roots)
            ):
                events.append(f"{event} {path}")
        elif event == "import" and str(args[0]).startswith(private_modules):
            events.append(f"import {args[0]}")
        elif event == "socket.connect" and isinstance(args[1], tuple):
            events.append(f"socket.connect {args[1]!r}")
        elif event == "os.kill" and args[0] not in (0, os.getpid()):
            try:
                foreign = os.getsid(args[0]) != session
            except OSError:
                foreign = True
            if foreign:
                events.append(f"os.kill {args[0]}")

    sys.addaudithook(hook)
