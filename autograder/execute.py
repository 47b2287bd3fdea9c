"""nbgrader's Execute preprocessor, contained: fast fork-server kernels, time and output limits, and recovery.

Configured in ``nbgrader_config.py`` as the first autograde preprocessor, so plain ``nbgrader autograde`` and
``python -m autograder.grade`` execute submissions identically. What changes against stock nbgrader:

- kernels come from :class:`autograder.kernels.ContainedKernelManager` (fork server, limits, no network);
- besides the per-cell timeout there is a per-notebook wall-clock budget;
- a cell that hangs even through KeyboardInterrupt, or that kills its kernel, gets an error output that says so;
  the kernel is restarted, the cells that had succeeded are replayed, and grading goes on, so the other tests
  still count (stock nbgrader fails the whole notebook);
- output beyond ``max_output_bytes`` per cell is dropped while it arrives (a flood cannot exhaust the grader);
- what happened is written next to the autograded notebook as ``<notebook>.grading.json`` for the run's summary.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.kernels import STOPPING, ContainedKernelManager

INCIDENTS_SUFFIX = ".grading.json"


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output as the kernel would have produced it."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class ContainedExecute(Execute):
    """Execute a submission in a contained kernel, within time and output budgets, recovering from dead kernels."""

    notebook_timeout = Integer(600, help="Wall-clock budget for running one whole notebook, in seconds.").tag(
        config=True
    )
    max_output_bytes = Integer(200_000, help="Output kept per cell; the rest is dropped while it arrives.").tag(
        config=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", ContainedKernelManager)
        super().__init__(*args, **kwargs)

    # -- notebook level -------------------------------------------------------------------------------------

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        """Run every cell; record incidents; always leave no process of the submission behind."""
        self._cell_timeout = self.timeout
        self._deadline = time.monotonic() + self.notebook_timeout
        self._succeeded: list[int] = []
        self._incidents: list[dict[str, Any]] = []
        self._output_sizes: dict[int, int] = {}
        self._sandbox: dict[str, Any] = {}
        self._strays = 0
        self._cell_seconds = 0.0
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            self._write_incidents(resources)

    def _write_incidents(self, resources: Any) -> None:
        path = (resources or {}).get("metadata", {}).get("path")
        notebook = (resources or {}).get("nbgrader", {}).get("notebook")
        if not path or not notebook:
            return
        if self._strays:
            self._incidents.append({"kind": "stray_processes", "cell": None, "detail": f"{self._strays} killed"})
        record = {"incidents": self._incidents, "sandbox": self._sandbox, "cell_seconds": round(self._cell_seconds, 3)}
        with open(os.path.join(path, notebook + INCIDENTS_SUFFIX), "w", encoding="utf-8") as handle:
            json.dump(record, handle, ensure_ascii=False, indent=1)

    async def _async_cleanup_kernel(self) -> None:
        km = self.km
        if isinstance(km, ContainedKernelManager):
            self._sandbox = km.sandbox_status()
        try:
            await super()._async_cleanup_kernel()
        finally:
            if isinstance(km, ContainedKernelManager):
                self._strays += getattr(km, "processes_killed", 0)

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # -- cell level -----------------------------------------------------------------------------------------

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        """Execute one cell within the remaining budget; on a hang or a dead kernel, record it and recover."""
        if cell.cell_type != "code":
            return cell, self.resources
        remaining = self._deadline - time.monotonic()
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        if remaining <= 1:
            cell.outputs = [error_output(
                "NotebookTimeoutError",
                f"노트북 전체 실행 시간 제한({self.notebook_timeout}초)을 넘어서 이 셀은 실행하지 못했어요.",
            )]
            self._incidents.append({"kind": "notebook_timeout", "cell": grade_id, "detail": ""})
            return cell, self.resources
        self.timeout = int(max(1, min(self._cell_timeout or remaining, remaining)))
        self._output_sizes[index] = 0
        started = time.monotonic()
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except (CellTimeoutError, DeadKernelError, RuntimeError) as error:
            hung = isinstance(error, CellTimeoutError)
            kind = "unresponsive_cell" if hung else "kernel_died"
            message = (
                f"이 셀이 {self.timeout}초 안에 끝나지 않았고 중단(KeyboardInterrupt)에도 응답하지 않아서 강제로 멈췄어요."
                if hung else
                "이 셀을 실행하다가 커널이 죽었어요 (메모리를 너무 많이 쓰거나 프로세스를 강제로 끝냈을 수 있어요)."
            )
            cell.outputs.append(error_output("CellTimeoutError" if hung else "DeadKernelError", message))
            self._incidents.append({"kind": kind, "cell": grade_id, "detail": str(error).strip().split("\n")[0][:200]})
            self._cell_seconds += time.monotonic() - started
            self._restart_and_replay()
            return cell, self.resources
        self._cell_seconds += time.monotonic() - started
        if self._output_sizes.get(index, 0) > self.max_output_bytes:
            cell.outputs.append(NotebookNode(
                output_type="stream", name="stdout",
                text=f"\n[출력이 너무 많아서 {self.max_output_bytes:,}바이트 이후는 잘랐어요]\n",
            ))
            self._incidents.append({"kind": "output_flood", "cell": grade_id,
                                    "detail": f"{self._output_sizes[index]:,} bytes"})
        if not any(output.get("output_type") == "error" for output in cell.outputs):
            self._succeeded.append(index)
        else:
            for output in cell.outputs:
                if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    self._incidents.append({"kind": "cell_timeout", "cell": grade_id, "detail": ""})
        return cell, self.resources

    def _restart_and_replay(self) -> None:
        """Start a fresh kernel and re-run the cells that had succeeded, so later cells find their definitions."""
        assert self.km is not None and self.kc is not None
        if STOPPING.is_set():
            raise KeyboardInterrupt("grading was interrupted")
        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        for index in list(self._succeeded):
            remaining = self._deadline - time.monotonic()
            if remaining <= 1:
                return
            replay = copy.deepcopy(self.nb.cells[index])
            self.timeout = int(max(1, min(self._cell_timeout or remaining, remaining)))
            try:
                self.execute_cell(replay, index, store_history=False)
            except (CellTimeoutError, DeadKernelError, RuntimeError):
                return

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        """Keep at most ``max_output_bytes`` of output per cell; count (and drop) the rest."""
        content = msg.get("content", {})
        size = len(content.get("text", "")) + len(json.dumps(content.get("data", {}))) if content else 0
        total = self._output_sizes.get(cell_index, 0) + size
        self._output_sizes[cell_index] = total
        if total > self.max_output_bytes and msg.get("msg_type") != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)
