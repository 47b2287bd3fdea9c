"""Run a notebook in a real Jupyter kernel, optionally as a student would have it: without the grader installed."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

# Installed into the kernel through PYTHONPATH: makes importing the named packages fail as if they were absent.
_BLOCKER = '''
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
'''

GRADER_PACKAGES = ("autograder", "nbgrader")


def run_notebook(
    nb: nbformat.NotebookNode, workdir: Path, *, without: tuple[str, ...] = (), timeout: int = 120,
    like_run_all: bool = False,
) -> tuple[nbformat.NotebookNode, float]:
    """Execute every cell in a fresh kernel; return the notebook and Run All seconds.

    Errors are recorded, not raised, unless ``like_run_all``: then, as JupyterLab's "Run All Cells" does, an error
    in a cell that is not tagged ``raises-exception`` stops the run (nbclient raises ``CellExecutionError``).
    Packages named in ``without`` cannot be imported in the kernel. The seconds exclude the kernel start.
    """
    executed = nbformat.from_dict(nb)
    with tempfile.TemporaryDirectory(prefix="kernel-site-") as site:
        env = dict(os.environ)
        if without:
            Path(site, "sitecustomize.py").write_text(_BLOCKER.format(blocked=set(without)), encoding="utf-8")
            env["PYTHONPATH"] = site + os.pathsep + env.get("PYTHONPATH", "")
        client = NotebookClient(
            executed, timeout=timeout, kernel_name="python3", allow_errors=not like_run_all,
            resources={"metadata": {"path": str(workdir)}},
        )
        with client.setup_kernel(env=env):
            start = time.perf_counter()
            for index, cell in enumerate(executed.cells):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
    return executed, seconds


def errors(nb: nbformat.NotebookNode) -> list[str]:
    """'ename: evalue' of every error output in an executed notebook."""
    return [
        f"{output['ename']}: {output['evalue']}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def stderr_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook wrote to stderr."""
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    )


def error_outputs(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    """(cell index, output) of every error output in an executed notebook."""
    return [
        (index, output)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
