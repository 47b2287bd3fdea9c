"""Temporary folders the grader makes carry their owner's identity; a new run removes those that a dead one left.

A grading process makes folders of its own: the fork server's socket folder (``/tmp/autograder-forkserver-*``) and
its kernels' folders (under ``/run/jupyter-kernels``, some of them tmpfs mounts). A run removes them when it ends;
a run that was killed (kill -9, the machine's OOM killer) cannot, so the next run removes every such folder whose
owner is gone. The owner's pid and start time are part of the folder's name, so a recycled pid is never taken for
the owner, and a folder of a live process (another grader running at the same time) is never touched.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

_MNT_DETACH = 2


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])  # field 22 of stat(5), counted after the command name
    except (OSError, IndexError, ValueError):
        try:
            import psutil

            return int(psutil.Process(pid).create_time() * 100)
        except Exception:  # noqa: BLE001 - psutil.NoSuchProcess, AccessDenied, or no psutil
            return None


def owner_tag(pid: int | None = None) -> str:
    """``<pid>-<start>`` of this process (or ``pid``): what names the folders it owns."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{process_start(pid) or 0}"


def owned_folder(parent: str | Path, prefix: str, *, unique: bool = True) -> Path:
    """A new folder ``<prefix><pid>-<start>[-random]`` in ``parent``, owned by this process (mode 0700)."""
    if unique:
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-", dir=parent))
    folder = Path(parent) / f"{prefix}{owner_tag()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _owner_alive(name: str, prefix: str) -> bool | None:
    """Whether the owner named in ``name`` still runs; None when the name carries no owner (an older layout)."""
    match = re.match(rf"{re.escape(prefix)}(\d+)-(\d+)(?:-|$)", name)
    if match is None:
        return None
    pid, start = int(match.group(1)), int(match.group(2))
    return process_start(pid) == start


def unmount_below(folder: Path) -> None:
    """Detach every mount at or under ``folder`` (deepest first), so that it can be removed."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    root = str(folder).rstrip("/")
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == root or point.startswith(root + "/"):
                points.append(point)
    libc = ctypes.CDLL(None, use_errno=True)
    for point in sorted(set(points), key=len, reverse=True):
        libc.umount2(point.encode(), _MNT_DETACH)


def remove_folder(folder: Path) -> None:
    """Remove a folder this process made, unmounting what is mounted inside it first."""
    if os.path.lexists(folder):
        unmount_below(folder)
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale(
    parent: str | Path, prefix: str, legacy_stale: Callable[[Path], bool] | None = None
) -> list[Path]:
    """Remove the folders ``<prefix>*`` in ``parent`` whose owner process is gone; return what was removed.

    Folders named in an older layout (no owner in the name) are removed only when ``legacy_stale`` says so.
    """
    removed = []
    try:
        candidates = [entry for entry in os.scandir(parent) if entry.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in candidates:
        if not entry.is_dir(follow_symlinks=False):
            continue
        alive = _owner_alive(entry.name, prefix)
        path = Path(entry.path)
        if alive is False or (alive is None and legacy_stale is not None and legacy_stale(path)):
            remove_folder(path)
            removed.append(path)
    return removed
