"""Untrusted files are data, never links: look at a submission with lstat, copy it without following anything.

Grading reads submissions as root. A symbolic link in one (to the source notebook, the hidden checks, the
gradebook, a root-only file, ``/dev/zero``) would have root read, copy and even grade whatever it points to; a fifo
blocks its reader forever and a device node reads forever. So every entry of a submission must be a regular file or
a directory; folders are walked through file descriptors (``openat`` with ``O_NOFOLLOW``), every file is opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked to be regular before a byte is read, and what is staged is capped in number
and size. Intake (the grading command), the exporter of plain ``nbgrader autograde``
(:mod:`autograder.engine.nbgrader.submission_exporter`) and the copy into each kernel's work folder (:mod:`autograder.engine.kernels.manager`) all
go through here.

Not covered: a regular file with several hard links is read like any other file (a submission cannot carry hard
links through ``nbgrader collect`` or ``zip_collect``; only someone who can already write to ``submitted/`` can).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from traitlets import Integer
from traitlets.config import LoggingConfigurable

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# What an entry is, for the instructor (English) and for the student (Korean).
_KINDS = {
    stat.S_IFLNK: ("a symbolic link", "링크"),
    stat.S_IFIFO: ("a named pipe (fifo)", "파이프(fifo)"),
    stat.S_IFCHR: ("a device file", "장치 파일"),
    stat.S_IFBLK: ("a device file", "장치 파일"),
    stat.S_IFSOCK: ("a socket", "소켓"),
}


class RefusedSubmission(Exception):
    """A submission holds something grading must not read; the message says what, and what the student should do."""


class _OverBudget(Exception):
    """A file would take the copy over its byte cap."""


@dataclass
class Tally:
    """What a walk found: entries (files and folders) and bytes of regular files."""

    entries: int = 0
    bytes: int = 0


def shown(name: str) -> str:
    """A file name safe to print in a summary or a log: control characters are escaped, Hangul is kept."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def _refuse_kind(relative: str, mode: int) -> RefusedSubmission:
    english, korean = _KINDS.get(stat.S_IFMT(mode), ("not a regular file", "일반 파일이 아닌 것"))
    name = shown(relative)
    return RefusedSubmission(
        f"{name} is {english}, not a regular file or folder: nothing was graded. Ask the student to submit the file "
        f"itself (학생 안내: 제출 폴더에 일반 파일이 아닌 항목({korean})이 있어서 채점하지 않았어요: {name}. "
        "링크나 특수 파일 말고 실제 파일만 넣어서 다시 제출해 주세요.)"
    )


def _refuse_count(limit: int) -> RefusedSubmission:
    return RefusedSubmission(
        f"the submission holds more than {limit} files and folders: nothing was graded. Ask the student to leave out "
        f"what the notebook does not need (학생 안내: 제출물의 파일과 폴더가 {limit}개를 넘어서 채점하지 않았어요. "
        "노트북에 필요 없는 파일을 빼고 다시 제출해 주세요.)"
    )


def _refuse_size(limit: int) -> RefusedSubmission:
    mib = limit / (1 << 20)
    return RefusedSubmission(
        f"the submission holds more than {mib:g} MiB: nothing was graded. Ask the student to leave out large data or "
        f"model files (학생 안내: 제출물이 {mib:g} MiB를 넘어서 채점하지 않았어요. 큰 데이터나 모델 파일을 빼고 "
        "다시 제출해 주세요.)"
    )


def open_folder(folder: Path, below: Path | None = None) -> int:
    """A descriptor of ``folder``, refusing it when it, or any folder between ``below`` and it, is not a real folder.

    ``below`` is trusted (it may itself be a link an instructor made, such as ``submitted/``); everything under it
    is the student's.
    """
    if below is None:
        parts: list[str] = []
        start = str(folder)
    else:
        parts = list(Path(os.path.relpath(folder, below)).parts)
        if parts and parts[0] == os.pardir:
            raise ValueError(f"{folder} is not inside {below}")
        start = str(below)
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    walked = ""
    for part in [p for p in parts if p != os.curdir]:
        walked = os.path.join(walked, part)
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
            os.close(fd)
            raise _refuse_kind(walked, mode) from None
        os.close(fd)
        fd = child
    return fd


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file (not a link, fifo or device) of at most ``max_bytes``."""
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):  # never even open a device or a fifo
        raise _refuse_kind(path.name, mode)
    fd = os.open(path, _FILE_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_kind(path.name, info.st_mode)
        if info.st_size > max_bytes:
            raise _refuse_size(max_bytes)
        data = b""
        while len(data) <= max_bytes:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return data
            data += chunk
        raise _refuse_size(max_bytes)
    finally:
        os.close(fd)


def _copy_file(source_dir: int, destination_dir: int | None, name: str, relative: str, budget: int) -> int:
    """Copy one regular file between folder descriptors (or only read it when there is no destination)."""
    fd = os.open(name, _FILE_FLAGS, dir_fd=source_dir)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_kind(relative, info.st_mode)
        if info.st_size > budget:
            raise _OverBudget
        if destination_dir is None:
            return info.st_size
        mode = stat.S_IMODE(info.st_mode) & 0o755 | 0o600
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                      dir_fd=destination_dir)
        copied = 0
        try:
            while chunk := os.read(fd, _CHUNK):
                copied += len(chunk)
                if copied > budget:  # the file grew since it was looked at
                    raise _OverBudget
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
            os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(out)
        return copied
    finally:
        os.close(fd)


class SubmissionFiles(LoggingConfigurable):
    """Caps on what one submission may hold, and the only way grading looks at or copies a submission folder."""

    max_files = Integer(
        1000, help="Most files and folders one submission may hold; a submission with more is refused unread."
    ).tag(config=True)
    max_mb = Integer(
        100, help="Most MiB all files of one submission may hold together; a larger submission is refused."
    ).tag(config=True)

    def check(self, folder: Path, *, below: Path | None = None, skip: Iterable[str] = ()) -> Tally:
        """Walk ``folder`` without reading file contents; raise RefusedSubmission for anything grading must not read.

        ``skip`` names top-level entries that are left alone (not even looked at).
        """
        return self.copy(folder, None, below=below, skip=skip)

    def copy(
        self, source: Path, destination: Path | None, *, below: Path | None = None, skip: Iterable[str] = (),
        max_files: int | None = -1, max_bytes: int | None = -1, owner: int | None = None,
    ) -> Tally:
        """Copy ``source`` into the new folder ``destination``; refuse links, special files and what exceeds the caps.

        Caps default to this object's; ``None`` means no cap of that kind. ``owner`` (a uid, also used as gid)
        gets everything copied. Nothing is ever followed: a refusal leaves a partial copy for the caller to remove.
        """
        limit_files = self.max_files if max_files == -1 else max_files
        limit_bytes = self.max_mb << 20 if max_bytes == -1 else max_bytes
        tally = Tally()
        skipped = set(skip)
        root = open_folder(source, below)
        destination_fd = None
        try:
            if destination is not None:
                os.mkdir(destination, 0o755)
                destination_fd = os.open(destination, _DIR_FLAGS)
                if owner is not None:
                    os.fchown(destination_fd, owner, owner)
            self._walk(root, destination_fd, "", tally, limit_files, limit_bytes, owner,
                       lambda name: name in skipped)
        finally:
            os.close(root)
            if destination_fd is not None:
                os.close(destination_fd)
        return tally

    def _walk(
        self, source_dir: int, destination_dir: int | None, prefix: str, tally: Tally, max_files: int | None,
        max_bytes: int | None, owner: int | None, skipped: Callable[[str], bool],
    ) -> None:
        with os.scandir(source_dir) as found:
            names = sorted(entry.name for entry in found)
        for name in names:
            if not prefix and skipped(name):
                continue
            relative = f"{prefix}{name}"
            tally.entries += 1
            if max_files is not None and tally.entries > max_files:
                raise _refuse_count(max_files)
            mode = os.stat(name, dir_fd=source_dir, follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                child = os.open(name, _DIR_FLAGS, dir_fd=source_dir)
                child_destination = None
                try:
                    if destination_dir is not None:
                        os.mkdir(name, 0o755, dir_fd=destination_dir)
                        child_destination = os.open(name, _DIR_FLAGS, dir_fd=destination_dir)
                        if owner is not None:
                            os.fchown(child_destination, owner, owner)
                    self._walk(child, child_destination, f"{relative}/", tally, max_files, max_bytes, owner, skipped)
                finally:
                    os.close(child)
                    if child_destination is not None:
                        os.close(child_destination)
            elif stat.S_ISREG(mode):
                budget = (1 << 62) if max_bytes is None else max_bytes - tally.bytes
                try:
                    tally.bytes += _copy_file(source_dir, destination_dir, name, relative, budget)
                except _OverBudget:
                    raise _refuse_size(max_bytes or 0) from None
                if owner is not None and destination_dir is not None:
                    os.chown(name, owner, owner, dir_fd=destination_dir, follow_symlinks=False)
            else:
                raise _refuse_kind(relative, mode)
