"""Read a submission defensively and stage a clean copy for nbgrader, never touching the student's original.

A submission that stock nbgrader would choke on is repaired where the student's work can still be graded (old
nbformat, a file saved in cp949 by a Windows editor, cells whose nbgrader metadata lost its grade_id) and refused
with a clear reason where it cannot (not a notebook at all). Files next to the notebook that would shadow a package
the grader imports (a ``torch.py``) are not staged.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.notebook import nbgrader_meta

_FALLBACK_ENCODINGS = ("utf-8-sig", "cp949", "euc-kr", "latin-1")


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


def read_submission(path: Path, repairs: list[str]) -> nbformat.NotebookNode:
    """Decode, parse and upgrade a submitted notebook; raise ValueError with a clear reason if impossible."""
    raw = path.read_bytes()
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
    submitted: Path, staged: Path, student: str, assignment: str, source_notebooks: dict[str, dict[str, dict]]
) -> Intake:
    """Copy ``submitted`` to ``staged`` with every notebook read defensively; report repairs or the fatal error.

    ``source_notebooks`` maps each notebook name of the assignment to {grade_id: released nbgrader metadata}.
    """
    intake = Intake(student, assignment)
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for path in sorted(submitted.iterdir()):
        if path.suffix == ".ipynb" and path.stem in source_notebooks:
            try:
                nb = read_submission(path, intake.repairs)
            except (ValueError, OSError) as error:
                intake.error = str(error)
                return intake
            repair_metadata(nb, source_notebooks[path.stem], intake.repairs)
            nbformat.write(nb, str(staged / path.name))
        elif path.name.startswith("."):
            continue
        elif _module_name(path) in SHADOWABLE:
            intake.repairs.append(f"{path.name} would shadow the installed module {_module_name(path)!r}; not copied")
        elif path.is_dir():
            shutil.copytree(path, staged / path.name, symlinks=False, ignore_dangling_symlinks=True)
        elif path.is_file():
            shutil.copy2(path, staged / path.name)
    return intake


def fingerprint(folder: Path) -> str:
    """A hash of every file under ``folder`` (names and bytes): grading is redone only when it changes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
