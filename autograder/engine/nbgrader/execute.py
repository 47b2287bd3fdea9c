"""nbgrader's Execute preprocessor, contained: fast fork-server kernels, time and output limits, and recovery.

Configured in ``nbgrader_config.py`` as the first autograde preprocessor, so plain ``nbgrader autograde`` and
``python -m autograder.engine.grade`` execute submissions identically. What changes against stock nbgrader:

- kernels come from :class:`autograder.engine.kernels.manager.ContainedKernelManager` (fork server, limits, no network);
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
import marshal
import os
import select
import shutil
import socket
import tempfile
import time
from typing import Any

import zmq
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from autograder.engine.cells import is_test_cell, strip_hidden_tests
from autograder.engine.incidents import RECORD_SUFFIX as INCIDENTS_SUFFIX
from autograder.engine.judge import PROBE_SOURCE, JudgeChannelError, directives, verdict
from autograder.engine.kernels.manager import STOPPING, ContainedKernelManager, ForkedProcess
from autograder.engine.layout import course_layout

TAMPERED = (
    "채점에 쓰이는 환경(torch, numpy, 내장 함수, IPython의 실행 장치 중 {names})이 바뀐 것이 감지되어 이 셀의 점수를 줄 수 "
    "없어요. 선생님이 직접 확인할 거예요."
)


MAX_REPLY_BYTES = 256 * 2**20
"""Largest judge reply the grader reads (results are capped at 16 MiB of tensor data per call in the probe)."""
INTERRUPT_GRACE_S = 5.0
"""How long a judged call that ran out of time gets to answer after SIGINT before its channel is given up."""


OVERSIZED = (
    "커널이 한 번에 너무 큰 메시지(8 MiB 초과)를 보내서 채점기가 받지 않았어요. 아주 큰 값을 출력하거나 화면에 표시하지 "
    "않았는지 확인해 보세요. 선생님이 직접 확인할 거예요."
)


PHASES = ("kernel_start", "judge", "teardown")
"""Phases of a notebook's execution timed in ``<notebook>.grading.json`` (``seconds``, with ``cells``)."""


class ProbeError(JudgeChannelError):
    """The judge could not get an answer from the kernel."""


class IntegrityViolation(JudgeChannelError):
    """What grading relies on changed while the student's function was being judged."""

    def __init__(self, changed: list[str]) -> None:
        super().__init__(", ".join(changed))
        self.changed = changed


_PROBE_CODE: list[bytes] = []


def _probe_code() -> bytes:
    """The probe's source compiled as ``exec(PROBE_SOURCE)`` in a kernel would compile it, marshalled, once per run."""
    if not _PROBE_CODE:
        _PROBE_CODE.append(marshal.dumps(compile(PROBE_SOURCE, "<string>", "exec", dont_inherit=True)))
    return _PROBE_CODE[0]


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
    diagnose = Bool(
        True, help="Add to a failing hidden check the banked mistake it recognises (autograder/diagnosis.py)."
    ).tag(config=True)

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
        self._process_cap_hits = 0
        self._cell_seconds = 0.0
        self._baseline: dict[str, str] | None = None
        self._probe_module: str | None = None
        self._judge: socket.socket | None = None
        self._judge_broken = False
        self._judged_cell: str | None = None
        self._judged_output_bytes = 0
        self._tampered: list[str] = []
        self._diagnoses: dict[str, list[str]] = {}
        self._diagnosis_seconds = 0.0
        self._answered_nonces: set[str] = set()
        self._timings = dict.fromkeys(PHASES, 0.0)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            self._close_judge_channel()
            self._write_incidents(resources)

    def _write_incidents(self, resources: Any) -> None:
        path = (resources or {}).get("metadata", {}).get("path")
        notebook = (resources or {}).get("nbgrader", {}).get("notebook")
        if not path or not notebook:
            return
        if self._strays:
            self._incidents.append({"kind": "stray_processes", "cell": None, "detail": f"{self._strays} killed"})
        if self._process_cap_hits:
            self._incidents.append({"kind": "process_cap", "cell": None,
                                    "detail": f"a new process was refused {self._process_cap_hits} times"})
        if resources is not None:
            # For the preprocessors after this one (RecordFlags marks the gradebook), without reading a file back.
            resources["autograder_incidents"] = list(self._incidents)
        record = {"incidents": self._incidents, "sandbox": self._sandbox, "cell_seconds": round(self._cell_seconds, 3),
                  "flags": sorted(set(self._tampered)), "diagnoses": self._diagnoses,
                  "diagnosis_seconds": round(self._diagnosis_seconds, 4),
                  "seconds": {**{k: round(v, 3) for k, v in self._timings.items()},
                              "cells": round(self._cell_seconds, 3)}}
        with open(os.path.join(path, notebook + INCIDENTS_SUFFIX), "w", encoding="utf-8") as handle:
            json.dump(record, handle, ensure_ascii=False, indent=1)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """nbclient's kernel start, timed (``make bench`` shows where a notebook's time goes)."""
        started = time.monotonic()
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            self._add_time("kernel_start", started)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_start_new_kernel_client(self) -> Any:
        """nbclient's client start (until the kernel says it is ready), timed."""
        started = time.monotonic()
        try:
            return await super().async_start_new_kernel_client()
        finally:
            self._add_time("kernel_start", started)

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _add_time(self, phase: str, started: float) -> None:
        timings = getattr(self, "_timings", None)
        if timings is not None:
            timings[phase] += time.monotonic() - started

    async def _async_cleanup_kernel(self) -> None:
        started = time.monotonic()
        try:
            await self._cleanup_and_count()
        finally:
            self._add_time("teardown", started)

    async def _cleanup_and_count(self) -> None:
        km = self.km
        left_running = 0
        if isinstance(km, ContainedKernelManager):
            self._sandbox = km.sandbox_status()
            # Counted now, while the notebook has just ended: shutting the kernel down kills its process group.
            left_running = km.processes_besides_kernel()
        try:
            await super()._async_cleanup_kernel()
        finally:
            if isinstance(km, ContainedKernelManager):
                self._strays += max(left_running, getattr(km, "processes_killed", 0))
                self._process_cap_hits += getattr(km, "process_cap_hits", 0)

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # -- cell level -----------------------------------------------------------------------------------------

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        """Execute one cell within the remaining budget; on a hang or a dead kernel, record it and recover."""
        if cell.cell_type != "code":
            return cell, self.resources
        remaining = self._deadline - time.monotonic()
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        if self._tampered:
            # Nothing more can be earned once grading was tampered with; stop spending time on the kernel.
            if is_test_cell(cell):
                cell.outputs = [error_output("GradingIntegrityError", TAMPERED.format(names="앞에서 보고한 항목"))]
            return cell, self.resources
        if remaining <= 1:
            cell.outputs = [error_output(
                "NotebookTimeoutError",
                f"노트북 전체 실행 시간 제한({self.notebook_timeout}초)을 넘어서 이 셀은 실행하지 못했어요.",
            )]
            self._incidents.append({"kind": "notebook_timeout", "cell": grade_id, "detail": ""})
            return cell, self.resources
        self.timeout = int(max(1, min(self._cell_timeout or remaining, remaining)))
        if self._baseline is None:
            judge_started = time.monotonic()
            self._baseline = self._fingerprint()
            self._add_time("judge", judge_started)
        self._output_sizes[index] = 0
        started = time.monotonic()
        full_source = cell.source
        # The hidden block never reaches the kernel: its judge calls run here, outside it (see _judge_cell).
        cell.source = strip_hidden_tests(full_source)
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except (CellTimeoutError, DeadKernelError, RuntimeError) as error:
            cell.source = full_source
            self._recover(cell, grade_id, error, started)
            return cell, self.resources
        except Exception as error:  # noqa: BLE001 - the kernel answered with messages the client cannot read
            cell.source = full_source
            detail = f"{type(error).__name__}: {error}"[:200]
            self._tampered.append("kernel messages")
            self._incidents.append({"kind": "tampering", "cell": grade_id,
                                    "detail": f"the kernel sent messages the grader cannot read ({detail})"})
            cell.outputs.append(error_output("GradingIntegrityError", TAMPERED.format(names="커널의 메시지")))
            self._cell_seconds += time.monotonic() - started
            return cell, self.resources
        cell.source = full_source
        self._cell_seconds += time.monotonic() - started
        if self._output_sizes.get(index, 0) > self.max_output_bytes:
            cell.outputs.append(NotebookNode(
                output_type="stream", name="stdout",
                text=f"\n[출력이 너무 많아서 {self.max_output_bytes:,}바이트 이후는 잘랐어요]\n",
            ))
            self._incidents.append({"kind": "output_flood", "cell": grade_id,
                                    "detail": f"{self._output_sizes[index]:,} bytes"})
        if self._dropped_oversized():
            cell.outputs.append(error_output("OutputTooLargeError", OVERSIZED))
            self._incidents.append({"kind": "oversized_message", "cell": grade_id, "detail": "while the cell ran"})
        if not any(output.get("output_type") == "error" for output in cell.outputs):
            self._succeeded.append(index)
        if directives(cell.source) or is_test_cell(cell):
            judge_started = time.monotonic()
            self._judge_cell(cell, grade_id)
            self._add_time("judge", judge_started)
        else:
            for output in cell.outputs:
                if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    self._incidents.append({"kind": "cell_timeout", "cell": grade_id, "detail": ""})
        return cell, self.resources

    def _recover(self, cell: NotebookNode, grade_id: str, error: Exception, started: float) -> None:
        """A cell hung through KeyboardInterrupt or killed its kernel: say so in the cell, restart, replay."""
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

    # -- the judge --------------------------------------------------------------------------------------------

    def _judge_cell(self, cell: NotebookNode, grade_id: str) -> None:
        """Check for tampering, then reach the hidden tests' verdict outside the kernel; a failure becomes an error."""
        self._judged_cell = grade_id
        changed = self._changed_since_baseline(grade_id)
        if changed:
            self._tampered.extend(changed)
            self._incidents.append({"kind": "tampering", "cell": grade_id, "detail": ", ".join(changed)})
            cell.outputs.append(error_output("GradingIntegrityError", TAMPERED.format(names=", ".join(changed[:5]))))
            return
        if not directives(cell.source):
            return
        suspicious: list[str] = []
        self._judged_output_bytes = 0
        course_diagnosis = course_layout().diagnosis() if self.diagnose else None
        recorder = course_diagnosis.Recorder(self._send) if course_diagnosis else None
        try:
            failure = verdict(cell.source, recorder.send if recorder else self._send, suspicious)
            self._settle_judge_channel()
            if failure and recorder:
                # Which banked mistake behaves like this answer, from the replies already in hand (the course's
                # diagnosis, autograder/diagnosis.py for this course).
                diagnosis = course_diagnosis.diagnose(cell.source, grade_id, recorder.observations)
                failure = course_diagnosis.with_hint(failure, diagnosis)
                self._diagnosis_seconds += diagnosis.seconds
                if diagnosis.names:
                    self._diagnoses[grade_id] = diagnosis.names
        except IntegrityViolation as violation:
            self._tampered.extend(violation.changed)
            self._incidents.append({"kind": "tampering", "cell": grade_id,
                                    "detail": "while judged: " + ", ".join(violation.changed)})
            failure = TAMPERED.format(names=", ".join(violation.changed[:5]))
        except ProbeError as error:
            failure = f"숨겨진 테스트가 함수를 실행하지 못했어요: {error}"
            self._incidents.append({"kind": "probe_failed", "cell": grade_id, "detail": str(error)[:200]})
        oversized = self._dropped_oversized()
        if oversized:
            failure = OVERSIZED
            self._incidents.append({"kind": "oversized_message", "cell": grade_id, "detail": "while judged"})
        if self._judge_broken or oversized:
            # The judged call ignored even SIGINT, or the kernel is still flooding: the cells after get a fresh one.
            self._restart_and_replay()
        if self._judged_output_bytes > self.max_output_bytes:
            self._incidents.append({"kind": "output_flood", "cell": grade_id,
                                    "detail": f"{self._judged_output_bytes:,} bytes while judged (dropped)"})
        for detail in suspicious:
            self._tampered.append("impostor result")
            self._incidents.append({"kind": "impostor_result", "cell": grade_id, "detail": detail})
        if failure:
            cell.outputs.append(error_output("AssertionError", failure))

    def _fingerprint(self) -> dict[str, str] | None:
        try:
            return self._probe_batch([self._fingerprint_request()])[0]
        except ProbeError:
            return None
        except IntegrityViolation as violation:
            # A second reply to an earlier request came back: no fingerprint from this channel can be trusted.
            self._incidents.append({"kind": "tampering", "cell": self._judged_cell,
                                    "detail": ", ".join(violation.changed)})
            return None

    def send_batch(self, requests: list[dict], checked_after_each: bool = False) -> list[dict]:
        """Run several judge requests in the kernel as one request (in order); check the fingerprint after them all,
        or after each of them (``checked_after_each``: exactly what sending them one by one checks).

        One round trip for a check's independent calls; the whole batch must answer within the cell's time limit
        (:meth:`_read_reply`), and a change of what grading relies on, made by any call of the batch, fails the
        check before any of its replies is used (:class:`IntegrityViolation`).
        """
        if not checked_after_each:
            *replies, current = self._probe_batch([*requests, self._fingerprint_request()])
            fingerprints = [current]
        else:
            answered = self._probe_batch([item for request in requests
                                          for item in (request, self._fingerprint_request())])
            replies, fingerprints = answered[0::2], answered[1::2]
        for current in fingerprints:
            changed = self._changed_since_baseline(self._judged_cell, current)
            if changed:
                raise IntegrityViolation(changed)
        return replies

    def _settle_judge_channel(self) -> None:
        """After a cell's checks: prove that no reply beyond those read is on its way, with one empty request.

        The probe's thread answers one request at a time and writes each reply before it reads the next request
        (``probe.serve``), so every genuine reply to an earlier request reaches the channel before the answer to this
        one. A student's code that wrote a reply of its own while judged (the request's nonce is within its reach)
        leaves the probe's genuine reply behind it: that second reply to an earlier request is found here, while its
        cell is still being judged (:meth:`_probe_batch`). No round trip through the kernel's shell is needed.
        """
        if self._judge is None or self._judge_broken:
            return
        self._probe_batch([])

    def _fingerprint_request(self) -> dict:
        return {"op": "fingerprint", "audit": getattr(self.km, "audit_module", None)}

    def _install_probe(self) -> None:
        """Load the probe into the kernel and open its private channel, before any student code runs.

        The grader listens on a fresh unix socket in the kernel's own folder; the probe, loaded as a module under a
        random name, connects to it and answers every later request on a thread of its own (``probe.serve``), so
        requests and replies never pass through IPython (see :mod:`autograder.engine.probe`). The probe's code
        reaches the kernel as a file beside that socket, readable by the kernel's user only and removed once loaded:
        in the cell's source, its 60 KB went through IPython's input transformers and cell hashing (the install took
        20 ms, now 7).
        """
        self._close_judge_channel()
        self._probe_module = f"_nbprobe_{os.urandom(6).hex()}"
        folder = getattr(self.km, "folder", None)
        scratch = None if folder is not None else tempfile.mkdtemp(prefix="autograder-judge-")
        path = os.path.join(str(folder or scratch), f"j{os.urandom(2).hex()}")  # AF_UNIX paths: 107 bytes at most
        payload = os.path.join(str(folder or scratch), f"p{os.urandom(4).hex()}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)
            if self._kernel_runs_this_interpreter():
                # Compiled here once per run, not in every kernel (60 KB of source: 20-60 ms of the kernel's CPU);
                # the same interpreter reads it back, and nothing of the student's has run in the kernel yet.
                probe_bytes, load = _probe_code(), "exec(_c.loads(_f.read()), _m.__dict__)"
            else:
                probe_bytes = PROBE_SOURCE.encode()
                load = "exec(compile(_f.read(), '<string>', 'exec', dont_inherit=True), _m.__dict__)"
            descriptor = os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(probe_bytes)
            uid = getattr(self.km, "sandbox_uid", None)
            if uid is not None:
                os.chown(path, uid, uid)
                os.chown(payload, uid, uid)
            listener.listen(1)
            code = (
                "import sys as _s, types as _t, marshal as _c\n"
                f"_m = _t.ModuleType({self._probe_module!r})\n"
                f"with open({payload!r}, 'rb') as _f:\n"
                f"    {load}\n"
                f"_s.modules[{self._probe_module!r}] = _m\n"
                f"_m.serve({path!r}, globals())\n"
                "del _s, _t, _c, _f, _m\n"
            )
            self._execute_silently(code)
            listener.settimeout(max(1.0, min(self.startup_timeout or 60, self._deadline - time.monotonic())))
            try:
                self._judge, _ = listener.accept()
            except OSError as error:
                raise ProbeError(f"채점 통로를 열지 못했어요 ({type(error).__name__})") from None
            self._judge.setblocking(False)
        finally:
            listener.close()
            for leftover in (path, payload, scratch):
                if leftover and os.path.isdir(leftover):
                    shutil.rmtree(leftover, ignore_errors=True)
                elif leftover and os.path.lexists(leftover):
                    os.unlink(leftover)

    def _kernel_runs_this_interpreter(self) -> bool:
        """Whether the kernel was forked from the fork server, which runs this very interpreter (``sys.executable``)."""
        return isinstance(getattr(getattr(self.km, "provisioner", None), "process", None), ForkedProcess)

    def _dropped_oversized(self) -> bool:
        """Whether a live kernel sent a message over the client's size cap since the last look (it was dropped)."""
        take = getattr(self.kc, "take_dropped_connections", None)
        return bool(take and take()) and bool(run_sync(self.km.is_alive)())

    def _close_judge_channel(self) -> None:
        judge = getattr(self, "_judge", None)
        if judge is not None:
            judge.close()
        self._judge = None
        self._reply_leftover = b""

    def _changed_since_baseline(self, grade_id: str, current: dict[str, str] | None = None) -> list[str]:
        """Names of watched objects (torch, numpy, builtins, IPython machinery) that changed since the kernel started.

        ``current`` is a fingerprint already taken (after a judged call); without it one is taken now. New audit
        events (reaching for hidden files, the network, processes outside the kernel) are recorded as a
        ``forbidden_access`` incident: flagged for review, but not tampering, since the containment itself stopped
        them and the student's other answers still count.
        """
        if not self._baseline:
            return []
        current = current if current is not None else self._fingerprint()
        if current is None:
            return ["(the kernel did not answer the integrity check)"]
        seen = json.loads(self._baseline.get("audit") or "[]")
        events = json.loads(current.get("audit") or "[]")
        if events[len(seen):]:
            self._incidents.append({"kind": "forbidden_access", "cell": grade_id,
                                    "detail": "; ".join(events[len(seen):])[:300]})
            self._baseline["audit"] = current["audit"]
        return [name for name, value in self._baseline.items() if name != "audit" and current.get(name) != value]

    def _send(self, request: dict) -> dict:
        """Run one judge request in the kernel and return its reply; the fingerprint taken right after is checked.

        A change of what grading relies on, made while the student's function ran, fails the check at once
        (:class:`IntegrityViolation`), so a check never trusts data from a kernel that was just tampered with.
        """
        return self.send_batch([request])[0]

    def _probe_batch(self, calls: list[dict]) -> list[Any]:
        """Send ``calls`` as one request over the judge channel; return their replies, bound to this request."""
        if self._probe_module is None or self._judge is None:
            if self._judge_broken:
                raise ProbeError("앞선 호출이 끝나지 않아서 채점 통로가 막혔어요")
            self._install_probe()
        nonce = os.urandom(8).hex()
        self._judge.sendall(json.dumps({"calls": calls, "nonce": nonce}).encode() + b"\n")
        reply = self._read_reply()
        # A stale or forged reply (the probe code never ran) does not carry this request's nonce.
        received = reply.pop("nonce", None) if isinstance(reply, dict) else None
        if received != nonce:
            if received in self._answered:
                raise IntegrityViolation(["judge channel: a second reply to an earlier request"])
            raise ProbeError("응답이 이 요청의 것이 아니에요")
        self._answered.add(nonce)
        if reply.get("interrupted"):
            raise ProbeError(f"실행이 중단됐어요 ({reply.get('error', {}).get('type', '?')})")
        replies = reply.get("replies")
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise ProbeError("알아볼 수 없는 응답")
        return replies

    @property
    def _answered(self) -> set[str]:
        """Nonces of the requests already answered on this kernel's channel (one reply each)."""
        if not hasattr(self, "_answered_nonces"):
            self._answered_nonces = set()
        return self._answered_nonces

    def _read_reply(self) -> Any:
        """Read one reply line within the cell's time limit, bounded in size; drain iopub meanwhile.

        Exactly one line: bytes that arrived after it (a second reply written right behind a forged one) are kept
        for the next read, where they are seen for what they are (:meth:`_probe_batch`).
        """
        limit = max(1.0, min(self._cell_timeout or 60, self._deadline - time.monotonic()))
        deadline = time.monotonic() + limit
        buffer = bytearray(getattr(self, "_reply_leftover", b""))
        self._reply_leftover = b""
        searched = 0
        interrupted = False
        while buffer.find(b"\n", searched) < 0:
            searched = len(buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:
                    self._judge_broken = True
                    self._close_judge_channel()
                    raise ProbeError(f"{int(limit)}초 안에 끝나지 않았고 중단에도 응답하지 않았어요")
                run_sync(self.km.interrupt_kernel)()
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE_S
                continue
            ready, _, _ = select.select([self._judge], [], [], min(0.05, remaining))
            self._drain_iopub()
            if not ready:
                if not run_sync(self.km.is_alive)():
                    self._close_judge_channel()
                    raise ProbeError("커널이 죽었어요")
                continue
            chunk = self._judge.recv(1 << 20)
            if not chunk:
                self._close_judge_channel()
                raise ProbeError("커널이 채점 통로를 닫았어요")
            buffer += chunk
            if len(buffer) > MAX_REPLY_BYTES:
                self._judge_broken = True
                self._close_judge_channel()
                raise ProbeError(f"응답이 너무 커요 ({MAX_REPLY_BYTES // 2**20} MiB 초과)")
        line, _, self._reply_leftover = bytes(buffer).partition(b"\n")
        if interrupted:
            raise ProbeError(f"{int(limit)}초 안에 끝나지 않아서 중단했어요")
        try:
            return json.loads(line)
        except ValueError:
            raise ProbeError("알아볼 수 없는 응답") from None

    def _drain_iopub(self) -> None:
        """Discard what the kernel publishes while it is judged (the student's prints), counting but never keeping it.

        Called on every wait for a judge reply: when the iopub socket holds nothing (zmq's ``EVENTS``, a plain read of
        the socket's state), it returns at once instead of a trip through the client's event loop (0.3 ms each).
        """
        if not self._iopub_waiting():
            return
        while True:
            try:
                message = run_sync(self.kc.iopub_channel.get_msg)(timeout=0)
            except Exception:  # noqa: BLE001 - queue.Empty: nothing waiting
                return
            self._judged_output_bytes += len(json.dumps(message.get("content", {}), default=str))

    def _iopub_waiting(self) -> bool:
        """Whether a message may be waiting on the kernel client's iopub socket (True when that cannot be read)."""
        try:
            return bool(self.kc.iopub_channel.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN)
        except Exception:  # noqa: BLE001 - a closed or unusual socket: look the slow way
            return True

    def _execute_silently(self, code: str) -> None:
        """Run trusted code in the kernel without output or history (the probe's installation, before any student code)."""
        assert self.kc is not None and self.km is not None
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + max(1.0, min(self.startup_timeout or 60, self._deadline - time.monotonic()))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError("시간 제한 안에 끝나지 않았어요")
            try:
                reply = run_sync(self.kc.get_shell_msg)(timeout=min(1.0, remaining))
            except Exception:  # noqa: BLE001 - queue.Empty: check that the kernel still lives, then wait on
                if not run_sync(self.km.is_alive)():
                    raise ProbeError("커널이 죽었어요") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        content = reply.get("content", {})
        if content.get("status") != "ok":
            raise ProbeError(content.get("ename") or "no reply")

    def _restart_and_replay(self) -> None:
        """Start a fresh kernel and re-run the cells that had succeeded, so later cells find their definitions."""
        assert self.km is not None and self.kc is not None
        if STOPPING.is_set():
            raise KeyboardInterrupt("grading was interrupted")
        run_sync(self.km.restart_kernel)(now=True)
        # A fresh client: the old one's sockets may hold what the dead kernel sent, or a receive cancelled mid-way.
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        self._probe_module = None
        self._judge_broken = False
        self._close_judge_channel()
        self._baseline = self._fingerprint()
        for index in list(self._succeeded):
            remaining = self._deadline - time.monotonic()
            if remaining <= 1:
                return
            original = self.nb.cells[index]
            replay = copy.deepcopy(original)
            replay.source = strip_hidden_tests(replay.source)
            self.timeout = int(max(1, min(self._cell_timeout or remaining, remaining)))
            try:
                self.execute_cell(replay, index, store_history=False)
            except (CellTimeoutError, DeadKernelError, RuntimeError):
                return
            finally:
                # nbclient stores the executed cell back into the notebook; the graded original must stay.
                self.nb.cells[index] = original

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        """Keep at most ``max_output_bytes`` of output per cell; count (and drop) the rest."""
        content = msg.get("content", {})
        size = len(content.get("text", "")) + len(json.dumps(content.get("data", {}))) if content else 0
        total = self._output_sizes.get(cell_index, 0) + size
        self._output_sizes[cell_index] = total
        if total > self.max_output_bytes and msg.get("msg_type") != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)
