"""Read a submission defensively and stage a clean copy for nbgrader, never touching the student's original.

A submission that stock nbgrader would choke on is repaired where the student's work can still be graded (old
nbformat, a file saved in cp949 by a Windows editor, cells whose nbgrader metadata lost its grade_id) and refused
with a clear reason where it cannot (not a notebook at all). Files next to the notebook that would shadow a package
the grader imports (a ``torch.py``) are not staged, nor are hidden files and IPython/Jupyter settings folders. A
submission holding a link, a fifo, a device file, or more than the caps allow is refused before anything in it is
read (:mod:`autograder.engine.submission_files`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.engine.cells import nbgrader_meta
from autograder.engine.submission_files import RefusedSubmission, SubmissionFiles, read_regular

_FALLBACK_ENCODINGS = ("utf-8-sig", "cp949", "euc-kr", "latin-1")
PROFILE_FOLDERS = frozenset({".ipython", ".jupyter"})
"""Settings folders that would configure the kernel if they reached its home: never staged."""


@dataclass
class Intake:
    """What staging one student's submission found."""

    student: str
    assignment: str
    repairs: list[str] = field(default_factory=list)
    error: str | None = None


def _shadowable_names() -> set[str]:
    names = set(sys.stdlib_module_names)
    names.update(importlib.metadata.packages_distributions())
    return names


SHADOWABLE = frozenset(_shadowable_names())


def _module_name(path: Path) -> str | None:
    if path.is_dir():
        return path.name if (path / "__init__.py").exists() else None
    if path.suffix in {".py", ".pyc", ".so", ".pyd"}:
        return path.name.split(".")[0]
    return None


def read_submission(path: Path, repairs: list[str], max_bytes: int = 100 << 20) -> nbformat.NotebookNode:
    """Decode, parse and upgrade a submitted notebook; raise ValueError with a clear reason if impossible.

    The notebook must be a regular file (never a link) of at most ``max_bytes`` (else RefusedSubmission).
    """
    raw = read_regular(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        for encoding in _FALLBACK_ENCODINGS:
            try:
                text = raw.decode(encoding)
                json.loads(text)
            except (UnicodeDecodeError, ValueError):
                continue
            repairs.append(f"{path.name} was not UTF-8; read it as {encoding}")
            break
        else:
            raise ValueError(f"{path.name} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path.name} is not valid notebook JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise ValueError(f"{path.name} is JSON but not a Jupyter notebook")
    version = data.get("nbformat")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for malformed notebooks
        raise ValueError(f"{path.name} is not a readable notebook ({type(error).__name__}: {error})") from None
    if version != 4:
        repairs.append(f"{path.name} used nbformat {version}; upgraded to 4")
    return nb


def repair_metadata(nb: nbformat.NotebookNode, released: dict[str, dict], repairs: list[str]) -> None:
    """Make nbgrader metadata what the release handed out; drop what nbgrader cannot use.

    ``released`` maps every grade_id of the notebook to its nbgrader metadata in release/. A known cell whose
    metadata was edited (points, flags, schema version) gets the released metadata back; metadata that is empty,
    has no grade_id, an unknown one, or a repeated one is dropped. Of a repeated grade_id (a copied cell) the last
    copy keeps its metadata, as nbgrader's DeduplicateIds would; DeduplicateIds itself would leave
    ``"nbgrader": {}`` behind, which fails validation (nbgrader #1083).
    """
    known_ids = set(released)
    last = {nbgrader_meta(cell).get("grade_id"): index for index, cell in enumerate(nb.cells)}
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not meta:
            cell.metadata.pop("nbgrader")
        elif not grade_id:
            cell.metadata.pop("nbgrader")
            repairs.append("a cell's nbgrader metadata has no grade_id; graded as an ordinary cell")
        elif grade_id not in known_ids:
            cell.metadata.pop("nbgrader")
            repairs.append(f"cell with grade_id {grade_id!r} is not part of the assignment; graded as an ordinary cell")
        elif last[grade_id] != index:
            cell.metadata.pop("nbgrader")
            repairs.append(f"cell with grade_id {grade_id!r} appears more than once; the last copy is graded, "
                           "the others run as ordinary cells")
        elif dict(meta) != released[grade_id]:
            cell.metadata["nbgrader"] = nbformat.from_dict(copy.deepcopy(released[grade_id]))
            repairs.append(f"nbgrader metadata of {grade_id!r} was edited; restored as released")


def stage(
    submitted: Path, staged: Path, student: str, assignment: str, source_notebooks: dict[str, dict[str, dict]],
    files: SubmissionFiles | None = None, below: Path | None = None,
) -> Intake:
    """Copy ``submitted`` to ``staged`` with every notebook read defensively; report repairs or the fatal error.

    ``source_notebooks`` maps each notebook name of the assignment to {grade_id: released nbgrader metadata};
    ``files`` holds the caps; ``below`` is the trusted folder above the student's (``submitted/``): no folder
    between it and ``submitted`` may be a link.
    """
    files = files or SubmissionFiles()
    intake = Intake(student, assignment)
    if staged.exists():
        shutil.rmtree(staged)
    staged.parent.mkdir(parents=True, exist_ok=True)
    try:
        files.check(submitted, below=below)
    except RefusedSubmission as refusal:
        intake.error = str(refusal)
        return intake
    notebooks, skip = [], set()
    for name in sorted(os.listdir(submitted)):
        path = submitted / name
        if path.suffix == ".ipynb" and path.stem in source_notebooks:
            notebooks.append(path)
            skip.add(name)
        elif name.startswith("."):
            skip.add(name)
            if name in PROFILE_FOLDERS:
                intake.repairs.append(f"{name} (IPython/Jupyter settings) was not copied: a submission never "
                                      "configures its kernel")
        elif _module_name(path) in SHADOWABLE:
            skip.add(name)
            intake.repairs.append(f"{name} would shadow the installed module {_module_name(path)!r}; not copied")
    try:
        files.copy(submitted, staged, below=below, skip=skip)
        for path in notebooks:
            nb = read_submission(path, intake.repairs, files.max_mb << 20)
            repair_metadata(nb, source_notebooks[path.stem], intake.repairs)
            nbformat.write(nb, str(staged / path.name))
    except (RefusedSubmission, ValueError, OSError) as error:
        intake.error = str(error)
    return intake


def submission_digest(folder: Path) -> str:
    """A hash of every file under ``folder`` (names and bytes): grading is redone only when it changes.

    Links and special files are hashed by name and kind only, never followed or read.
    """
    found = []
    for directory, folders, names in os.walk(folder):
        for name in names + [f for f in folders if os.path.islink(os.path.join(directory, f))]:
            found.append(Path(directory, name).relative_to(folder))
    digest = hashlib.sha256()
    for relative in sorted(found):
        path = folder / relative
        mode = os.lstat(path).st_mode
        digest.update(str(relative).encode(errors="surrogateescape"))
        if not stat.S_ISREG(mode):
            digest.update(f"<not a regular file: {stat.S_IFMT(mode)}>".encode())
            continue
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
