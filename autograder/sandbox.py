"""Containment of one grading kernel: resource limits, no network, and killing its whole process tree.

Every layer is applied where this machine allows it and skipped (with the reason recorded) where it does not:
rlimits always on Linux; a network namespace when ``unshare(CLONE_NEWNET)`` is permitted (root, or unprivileged
user namespaces); a cgroup (pids + memory) when the cgroup filesystem is writable. The kernel manager reports which
layers were active, so a deployment can see what it gets.
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
    """What one submission's kernel may use."""

    memory_mb: int = 3072
    max_processes: int = 64
    max_file_mb: int = 256
    isolate_network: bool = True


@dataclass
class SandboxReport:
    """Which containment layers were applied to a kernel, and why any was skipped."""

    applied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def apply_rlimits(limits: Limits) -> None:
    """Cap address space, file size and core dumps of this process (and so of everything it starts)."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_size = limits.max_file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_NPROC counts per user and does not bind root; the pids cgroup below is the cap that holds for root.
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


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
            # The kernel is a session leader (it called setsid), so its session id is its pid.
            for process in psutil.process_iter(["status"]):
                if process.info["status"] != psutil.STATUS_ZOMBIE and _session_of(process.pid) == self.root_pid:
                    pids.add(process.pid)
        pids.discard(os.getpid())
        return pids

    def kill(self) -> int:
        """SIGKILL every member until none is left (bounded); return how many processes were killed."""
        killed = 0
        for _ in range(50):
            members = self.members()
            if not members:
                break
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        return killed

    def remove(self) -> None:
        """Delete the (empty) cgroups."""
        for path in self.cgroups:
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
