"""Generate the student notebooks in ``release/`` from ``source/`` with nbgrader, or check that they are current.

Usage: ``python -m autograder release`` regenerates every published assignment;
``python -m autograder release --check`` exits 1 and names the stale notebooks when release/ differs from what
source/ generates.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from autograder.engine.layout import course_layout
from autograder.engine.nbgrader_commands import generate, nbgrader_env  # noqa: F401 - nbgrader_env re-exported

# Notebook-level metadata that tools add or change without changing what students see.
_VOLATILE_NOTEBOOK_METADATA = ("widgets", "toc", "vscode", "colab")


def normalized(path: Path) -> dict:
    """Notebook JSON without the metadata that does not change what students see."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for key in _VOLATILE_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def _fresh_releases(root: Path | None, prefix: str) -> Iterator[tuple[str, Path, Path]]:
    """For every published assignment of the course being graded (:func:`course_layout`, or the copy of it at
    ``root``): its name, a freshly generated release notebook (in a scratch folder) and the committed one's path."""
    layout = course_layout()
    root = root or layout.root
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        for assignment in layout.published(root):
            fresh = generate(assignment, Path(scratch) / "release", root)
            yield assignment, fresh, layout.release_notebook(assignment, root)


def stale_notebooks(root: Path | None = None) -> list[str]:
    """Assignments whose committed release notebook differs from a fresh generation."""
    return [assignment for assignment, fresh, committed in _fresh_releases(root, "release-check-")
            if not committed.exists() or normalized(committed) != normalized(fresh)]


def regenerate(root: Path | None = None) -> list[Path]:
    """Regenerate release/ for every published assignment; return the written notebooks."""
    written = []
    for _, fresh, target in _fresh_releases(root, "release-"):
        if target.parent.exists():
            shutil.rmtree(target.parent)
        shutil.copytree(fresh.parent, target.parent)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale release notebooks (exit 1 if any)")
    args = parser.parse_args(argv)
    layout = course_layout()
    if args.check:
        stale = stale_notebooks()
        for assignment in stale:
            print(f"stale: release/{assignment} differs from source/{assignment}; run `make release`")
        if not stale:
            print(f"release/ is up to date with source/ ({', '.join(layout.published())})")
        return 1 if stale else 0
    for path in regenerate():
        print(f"wrote {path.relative_to(layout.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
