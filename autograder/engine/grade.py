"""Grade a cohort fast: nbgrader's own autograde pipeline, several submissions at once, fork-server kernels.

Usage (from the course root, inside the venv)::

    python -m autograder grade 00_tensors                    # every submission of one assignment
    python -m autograder grade all --changed-only            # every assignment, only new or changed submissions
    python -m autograder grade 00_tensors --student s01 s02  # some students
    python -m autograder grade 00_tensors --workers 4 --db postgresql://...

Each submission is read defensively and staged (``autograder.engine.intake``), then graded by nbgrader's Autograde
converter with the preprocessors of ``nbgrader_config.py``: exactly what ``nbgrader autograde`` does, so scores,
formgrader, feedback and export are the same. Gradebook access is serialized inside this process (sqlite allows one
writer), execution runs in parallel. A finished submission gets a graded marker (its files' digest and the grading key); ``--changed-only`` skips
submissions whose files did not change, and an interrupted run (Ctrl-C, kill -9) simply grades the rest next time.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # Start-up runs in parallel: the fork server imports torch and ipykernel (about 2 s) while this process imports
    # nbgrader and the judge. Grading never validates a URI, so jsonschema need not build its URI grammar on import
    # (1.1 s): its format checkers are left out and nbformat's validation is unchanged (it checks no formats).
    sys.modules.setdefault("rfc3987", None)  # type: ignore[assignment]
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
    if sys.platform.startswith("linux"):
        from autograder.engine.kernels.forkserver import shared_fork_server

        shared_fork_server().spawn()

import argparse  # noqa: E402 - after the fork server was started
import ast
import atexit
import copy
import gc
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from tqdm import tqdm
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.engine.cells import nbgrader_meta, read_notebook
from autograder.engine.incidents import FLAG_KINDS
from autograder.engine.intake import Intake, stage, submission_digest
from autograder.engine.judge import directives, resolve
from autograder.engine.kernels.forkserver import shared_fork_server
from autograder.engine.kernels.manager import finish_teardowns, kill_all_kernels
from autograder.engine.layout import CourseLayout, course_layout
from autograder.engine.nbgrader.execute import INCIDENTS_SUFFIX
from autograder.engine.nbgrader.gradebook_reuse import reused_gradebooks
from autograder.engine.nbgrader.preprocessors import GRADEBOOK_LOCK
from autograder.engine.nbgrader.run_once import validators_built_once
from autograder.engine.nbgrader_commands import generate
from autograder.engine.submission_files import RefusedSubmission, SubmissionFiles
from autograder.engine.terminal import printable, printable_lines

_ENGINE_DIR = Path(__file__).resolve().parent
GRADED_MARKER = ".autograder-graded"
"""Written beside a graded notebook: ``<digest of the submitted files>:<grading key>``; --changed-only compares it."""

STAGING_DIR = ".autograder-staged"


@dataclass
class Result:
    """The outcome of grading one student's submission of one assignment."""

    student: str
    assignment: str
    status: str  # graded | skipped | error
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    repairs: list[str] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    error: str = ""
    details: str = ""  # for an error: the traceback or nbgrader's log, printed to stderr after the summary
    phases: dict[str, float] = field(default_factory=dict)  # execution phases in seconds (ContainedExecute's record)


class _PerThreadLog(logging.Handler):
    """Collects nbgrader's log records per grading thread, so each submission's errors stay with it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.setdefault(threading.get_ident(), []).append(self.format(record))

    def take(self) -> list[str]:
        """This thread's records since the last call."""
        return self.records.pop(threading.get_ident(), [])


_THREAD_LOG = _PerThreadLog()


class _SerializedAutograde(Autograde):
    """nbgrader's Autograde converter with its database set-up serialized between threads."""

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        with GRADEBOOK_LOCK:
            super().init_assignment(assignment_id, student_id)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        # Autograde's own version wraps execution in nbgrader.utils.setenv, which deletes NBGRADER_EXECUTION from
        # os.environ afterwards: with several threads one thread's delete breaks the others (KeyError). The
        # variable is set once for the whole run instead (see GradingRun.run); otherwise this is Autograde's code.
        self._sanitizing = True
        self._init_preprocessors()
        BaseConverter.convert_single_notebook(self, notebook_filename)
        notebook_filename = os.path.join(self.writer.build_directory, os.path.basename(notebook_filename))
        self._sanitizing = False
        self._init_preprocessors()
        try:
            BaseConverter.convert_single_notebook(self, notebook_filename)
        finally:
            self._sanitizing = True


_KERNEL_PACKAGES = ("torch", "numpy", "nbgrader", "nbclient", "nbconvert", "ipykernel", "jupyter_client")


def _installed_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour reaches a score (an upgrade regrades under ``--changed-only``)."""
    versions = {}
    for package in _KERNEL_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


@dataclass
class GradingRun:
    """One run of the grading command over a course directory."""

    root: Path
    db_url: str
    workers: int
    config: Config
    changed_only: bool = False
    log_path: Path | None = None
    layout: CourseLayout = field(default_factory=course_layout)
    _stop: threading.Event = field(default_factory=threading.Event)
    _keys: dict[str, str] = field(default_factory=dict)  # per assignment, once per run
    _released: dict[str, dict] = field(default_factory=dict)  # per assignment, once per run
    _open_gradebook: Any = None  # one gradebook per worker while run() grades (autograder.engine.nbgrader.gradebook_reuse)

    @property
    def submitted(self) -> Path:
        return self.root / self.config.CourseDirectory.get("submitted_directory", "submitted")

    @property
    def autograded(self) -> Path:
        return self.root / self.config.CourseDirectory.get("autograded_directory", "autograded")

    def grading_key(self, assignment: str) -> str:
        """Everything besides the submission that can change a score or the autograded notebook (see
        :meth:`_grading_key`); computed once per run."""
        if assignment not in self._keys:
            self._keys[assignment] = self._grading_key(assignment)
        return self._keys[assignment]

    def released_cells(self, assignment: str) -> dict:
        """The graded cells of the release notebook, by grade_id (for the intake's repairs), read once per run."""
        if assignment not in self._released:
            self._released[assignment] = self._released_cells(assignment)
        return self._released[assignment]

    def _released_cells(self, assignment: str) -> dict:
        released = read_notebook(self.layout.release_notebook(assignment, self.root))
        return {nbgrader_meta(c)["grade_id"]: dict(nbgrader_meta(c)) for c in released.cells
                if nbgrader_meta(c).get("grade_id")}

    def _grading_key(self, assignment: str) -> str:
        """Everything besides the submission that can change a score or the autograded notebook: the assignment's
        source notebook, every ``.py`` of the grader package (hidden checks, mistake banks, inert rules) and of the engine, the
        nbgrader configuration, the pinned dependencies and the installed versions of what runs the kernels.
        ``--changed-only`` regrades a submission whose key changed; a change anywhere in it regrades everything,
        which is the safe side of staleness."""
        digest = hashlib.sha256()

        def add(label: str, data: bytes) -> None:
            digest.update(f"{label}\0{len(data)}\0".encode())
            digest.update(data)

        notebook = self.layout.source_notebook(assignment, self.root)
        add("notebook", notebook.read_bytes() if notebook.exists() else b"")
        grader = self.layout.grader_dir
        for path in sorted(grader.rglob("*.py")):
            add(path.relative_to(grader).as_posix(), path.read_bytes())
        # The engine's own code, also for a course whose grader package does not hold it (a fixture course).
        for path in sorted(_ENGINE_DIR.rglob("*.py")):
            add("engine/" + path.relative_to(_ENGINE_DIR).as_posix(), path.read_bytes())
        for name, path in (("nbgrader_config.py", self.root / "nbgrader_config.py"),
                           ("pyproject.toml", self.layout.root / "pyproject.toml")):
            add(name, path.read_bytes() if path.exists() else b"")
        add("versions", json.dumps(_installed_versions(), sort_keys=True).encode())
        return digest.hexdigest()

    def discover(self, assignments: list[str], students: list[str] | None) -> list[tuple[str, str]]:
        """(assignment, student) pairs with a submission folder, in a stable order."""
        pairs = []
        for assignment in assignments:
            for folder in sorted(self.submitted.glob(f"*/{assignment}")):
                student = folder.parent.name
                if folder.is_dir() and (students is None or student in students):
                    pairs.append((assignment, student))
        return pairs

    def grade_one(self, assignment: str, student: str) -> Result:
        """Stage, grade and record one submission; never raises for a bad submission."""
        start = time.perf_counter()
        result = Result(student, assignment, "error")
        try:
            self._grade_into(result)
        except Exception:  # noqa: BLE001 - one submission must never stop the batch
            result.status = "error"
            result.error = result.error or traceback.format_exc(limit=3).strip().splitlines()[-1]
            result.details = result.details or traceback.format_exc()
        finally:
            finish_teardowns()  # the kernel got SIGKILL when its cells were done: gone by now, its folders go too
        result.seconds = time.perf_counter() - start
        return result

    @property
    def files(self) -> SubmissionFiles:
        """The caps on a submission's files (``c.SubmissionFiles`` in nbgrader_config.py)."""
        return SubmissionFiles(config=self.config)

    def _grade_into(self, result: Result) -> None:
        assignment, student = result.assignment, result.student
        submitted = self.submitted / student / assignment
        try:
            # Before anything in it is read (even to digest it): a link or a fifo is refused unread.
            self.files.check(submitted, below=self.submitted)
        except RefusedSubmission as refusal:
            result.error = str(refusal)
            self._forget(assignment, student)
            return
        done_marker = self.autograded / student / assignment / GRADED_MARKER
        expected = f"{submission_digest(submitted)}:{self.grading_key(assignment)}"
        if self.changed_only and done_marker.exists() and done_marker.read_text() == expected:
            result.status = "skipped"
            self._read_score(result)
            return
        known = {assignment: copy.deepcopy(self.released_cells(assignment))}
        staged_root = self.autograded.parent / STAGING_DIR
        try:
            self._grade_staged(result, submitted, staged_root, known, done_marker, expected)
        finally:
            shutil.rmtree(staged_root / student, ignore_errors=True)

    def _grade_staged(
        self, result: Result, submitted: Path, staged_root: Path, known: dict, done_marker: Path, expected: str
    ) -> None:
        assignment, student = result.assignment, result.student
        intake: Intake = stage(submitted, staged_root / student / assignment, student, assignment, known, self.files,
                               below=self.submitted)
        result.repairs = intake.repairs
        if intake.error:
            result.error = intake.error
            self._forget(assignment, student)
            return
        if self._stop.is_set():
            result.error = "interrupted before grading"
            return
        coursedir = CourseDirectory(config=self.config)
        coursedir.root = str(self.root)
        coursedir.submitted_directory = str(staged_root)
        coursedir.assignment_id = assignment
        coursedir.student_id = student
        converter = _SerializedAutograde(coursedir=coursedir, config=self.config)
        converter.force = True
        converter.create_student = True
        if _THREAD_LOG not in converter.log.handlers:
            converter.log.addHandler(_THREAD_LOG)
        _THREAD_LOG.take()
        try:
            converter.start()
        except BaseException as error:  # noqa: BLE001 - NbGraderException, or a kernel killed on Ctrl-C
            logged = _THREAD_LOG.take()
            details = [line for line in logged if "Traceback" in line or "Error" in line]
            reason = details[-1].strip().splitlines()[-1] if details else _last_line(error)
            result.error = reason or "nbgrader could not grade this submission"
            result.details = "\n".join(logged) or traceback.format_exc()
            return
        incidents_file = self.autograded / student / assignment / f"{assignment}{INCIDENTS_SUFFIX}"
        if incidents_file.exists():
            record = json.loads(incidents_file.read_text(encoding="utf-8"))
            result.incidents = record.get("incidents", [])
            result.phases = record.get("seconds", {})
        self._read_score(result)
        result.status = "graded"
        done_marker.write_text(expected)

    def _read_score(self, result: Result) -> None:
        with GRADEBOOK_LOCK, (self._open_gradebook or Gradebook)(self.db_url) as gradebook:
            try:
                submission = gradebook.find_submission(result.assignment, result.student)
            except MissingEntry:
                return
            result.score, result.max_score = submission.score, submission.max_score

    def _forget(self, assignment: str, student: str) -> None:
        """Remove stale autograded output of a submission that can no longer be graded."""
        folder = self.autograded / student / assignment
        if folder.exists():
            shutil.rmtree(folder)

    def run(self, pairs: list[tuple[str, str]], progress: bool = True) -> list[Result]:
        """Grade ``pairs`` with a bounded pool of workers and a progress bar; Ctrl-C stops cleanly."""
        results: list[Result] = []
        os.environ["NBGRADER_EXECUTION"] = "autograde"  # what nbgrader sets while it executes submissions
        if self.config.ContainedKernelManager.get("use_fork_server", sys.platform.startswith("linux")):
            # Not waited for: the workers stage their first submissions and run nbgrader's first steps while it imports
            # torch; their first kernel launch waits until it is ready (ForkServer.start).
            shared_fork_server().spawn()
        else:
            shared_fork_server().stop()  # spawned at start-up in case it would be needed
        with reused_gradebooks() as open_gradebook, validators_built_once():
            self._open_gradebook = open_gradebook
            try:
                return self._run_pool(pairs, results, progress)
            finally:
                self._open_gradebook = None

    def _run_pool(self, pairs: list[tuple[str, str]], results: list[Result], progress: bool) -> list[Result]:
        bar = tqdm(total=len(pairs), unit="nb", disable=not progress, dynamic_ncols=True, desc="grading")
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grader")
        pending: dict[Future, tuple[str, str]] = {}
        queue = list(pairs)
        try:
            while queue or pending:
                while queue and len(pending) < self.workers:
                    assignment, student = queue.pop(0)
                    pending[pool.submit(self.grade_one, assignment, student)] = (assignment, student)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.pop(future)
                    result = future.result()
                    results.append(result)
                    bar.update(1)
                    bar.set_postfix(errors=sum(r.status == "error" for r in results))
        except KeyboardInterrupt:
            self._stop.set()
            queue.clear()
            kill_all_kernels()
            bar.write("interrupted: stopping the running kernels; run again to grade the rest")
            for future in pending:
                results.append(future.result())
            raise
        finally:
            bar.close()
            pool.shutdown(wait=True, cancel_futures=True)
        return results


def default_workers() -> int:
    """Twice the cores: a worker waits for its kernel part of the time (start-up, judge round trips, the gradebook
    lock), so more workers than cores keep the cores busy. Measured on 2 shared cores, the bench's 40 notebooks in 3
    alternating rounds: 2 workers 13.7-15.1 s, 3 workers 12.2-13.7 s, 4 workers 12.4-13.2 s, 6 workers 12.8-14.1 s;
    an idle kernel holds about 250 MiB resident, only about 35 MiB of it its own (the rest is shared with the fork
    server)."""
    return 2 * (os.cpu_count() or 1)


def _last_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def load_config(root: Path) -> Config:
    """The course's nbgrader configuration (``nbgrader_config.py`` in ``root``)."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def flagged_in_gradebook(db_url: str, assignments: list[str]) -> set[tuple[str, str]]:
    """(assignment, student) of every submission the gradebook holds as flagged (until cleared in formgrader)."""
    marked = set()
    with GRADEBOOK_LOCK, Gradebook(db_url) as gradebook:
        for assignment in assignments:
            try:
                submissions = gradebook.find_assignment(assignment).submissions
            except MissingEntry:
                continue
            marked.update((assignment, s.student_id) for s in submissions if any(n.flagged for n in s.notebooks))
    return marked


def summary_lines(results: list[Result], still_flagged: set[tuple[str, str]] = frozenset()) -> list[str]:
    """The run's summary: counts, then every submission that needs an instructor's look.

    ``still_flagged`` are submissions the gradebook holds as flagged: those not flagged again in this run get a
    line saying the flag comes from an earlier grading. Every string that came from a submission (student id, file
    names in repairs, incident details, error reasons) goes through :func:`autograder.engine.terminal.printable`: an
    escape code in a file name must not erase a FLAG line.
    """
    graded = [r for r in results if r.status == "graded"]
    skipped = [r for r in results if r.status == "skipped"]
    errors = [r for r in results if r.status == "error"]
    flagged = {(r.assignment, r.student) for r in results for i in r.incidents if i["kind"] in FLAG_KINDS}
    earlier = sorted(set(still_flagged) - flagged)
    lines = [f"graded {len(graded)}, unchanged {len(skipped)}, could not grade {len(errors)}, "
             f"flagged for review {len(flagged) + len(earlier)}"]
    for assignment, student in earlier:
        lines.append(f"  FLAG   {printable(assignment)}/{printable(student)}: flagged in an earlier grading and not "
                     "cleared yet (review it, then clear the flag in formgrader)")
    for r in sorted(errors, key=lambda r: (r.assignment, r.student)):
        lines.append(f"  ERROR  {printable(r.assignment)}/{printable(r.student)}: {printable(r.error)}")
    for r in sorted(results, key=lambda r: (r.assignment, r.student)):
        who = f"{printable(r.assignment)}/{printable(r.student)}"
        for incident in r.incidents:
            where = f" in {printable(incident['cell'])}" if incident.get("cell") else ""
            label = "FLAG " if incident["kind"] in FLAG_KINDS else "NOTE "
            detail = printable(incident.get("detail", ""))
            lines.append(f"  {label}  {who}: {printable(incident['kind'])}{where} {detail}")
        for repair in r.repairs:
            lines.append(f"  FIXED  {who}: {printable(repair)}")
    return lines


def score_lines(results: list[Result], still_flagged: set[tuple[str, str]] = frozenset()) -> list[str]:
    """A score table of the run's students, per assignment: score, or why there is none, and the flag mark."""
    lines: list[str] = []
    for assignment in sorted({r.assignment for r in results}):
        rows = sorted((r for r in results if r.assignment == assignment), key=lambda r: r.student)
        width = max(12, *(len(printable(r.student)) for r in rows))
        lines.append(f"\n{printable(assignment):<{width}}  {'score':>9}")
        for r in rows:
            if r.score is not None and r.max_score is not None:
                shown = f"{r.score:g}/{r.max_score:g}"
            else:
                shown = "error" if r.status == "error" else "-"
            mark = "  FLAG" if (assignment, r.student) in still_flagged else ""
            lines.append(f"{printable(r.student):<{width}}  {shown:>9}{mark}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    # Ctrl-C must stop grading even when the shell that started us ignores SIGINT (nohup, some CI runners).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment", help="assignment name, or 'all' for every published assignment")
    parser.add_argument("--student", nargs="+", help="grade only these students")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="submissions graded at once (default: twice the cores, see default_workers)")
    parser.add_argument("--changed-only", action="store_true", help="skip submissions unchanged since last graded")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="course root (holds nbgrader_config.py)")
    parser.add_argument("--db", help="gradebook URL (default: the course's, sqlite:///gradebook.db)")
    parser.add_argument("--submitted", help="submitted directory (default: submitted)")
    parser.add_argument("--autograded", help="autograded directory (default: autograded)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    parser.add_argument("--set", action="append", default=[], metavar="CLASS.TRAIT=VALUE",
                        help="override a setting of nbgrader_config.py, e.g. --set ContainedExecute.timeout=5")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's harmless "not in session" (nbgrader #1961)
    root = args.root.resolve()
    config = load_config(root)
    for assignment_text in args.set:
        key, _, value = assignment_text.partition("=")
        section, _, trait = key.rpartition(".")
        config[section][trait] = ast.literal_eval(value)
    if args.submitted:
        config.CourseDirectory.submitted_directory = str(Path(args.submitted).resolve())
    if args.autograded:
        config.CourseDirectory.autograded_directory = str(Path(args.autograded).resolve())
    db_url = args.db or config.CourseDirectory.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
    config.CourseDirectory.db_url = db_url
    layout = course_layout()
    assignments = layout.published(root) if args.assignment == "all" else [args.assignment]
    unknown = [a for a in assignments if not layout.source_notebook(a, root).exists()]
    if unknown:
        print(f"no source notebook for {', '.join(unknown)} under {root / layout.source_dir}", file=sys.stderr)
        return 2
    grading = GradingRun(root, db_url, max(1, args.workers), config, args.changed_only)
    pairs = grading.discover(assignments, args.student)
    if not pairs:
        print(f"no submissions found under {grading.submitted} for {', '.join(assignments)}", file=sys.stderr)
        return 2
    _register_missing_assignments(assignments, root, db_url)
    threading.Thread(target=warm_up, args=(layout, root, assignments), name="grader-warm-up", daemon=True).start()
    start = time.perf_counter()
    try:
        results = grading.run(pairs, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("grading interrupted; the gradebook holds every submission finished so far", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    still_flagged = flagged_in_gradebook(db_url, assignments)
    for line in summary_lines(results, still_flagged):
        print(line)
    print(f"{len(pairs)} submissions in {elapsed:.1f} s with {grading.workers} workers")
    for line in score_lines(results, still_flagged):
        print(line)
    details = [r for r in results if r.status == "error" and r.details]
    for r in details:  # the full story of each ERROR line, for whoever maintains the course
        print(f"--- {printable(r.assignment)}/{printable(r.student)}\n{printable_lines(r.details)}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], ensure_ascii=False, indent=1), encoding="utf-8")
    return 1 if any(r.status == "error" for r in results) else 0


def warm_up(layout: CourseLayout, root: Path, assignments: list[str]) -> None:
    """Pay this process's one-time costs while the fork server still imports, then freeze what start-up built.

    The hidden checks the assignments' test cells name, the course's diagnosis, and torch's first ``autograd.grad``
    with explicit ``grad_outputs`` (it imports torch's symbolic shapes, and sympy with them: 0.3 s) would otherwise
    fall on the first submissions' judges. Then ``gc.freeze()``: the 300,000 objects of start-up are left out of
    every later garbage collection (each full collection of them held the GIL for 0.1 s, about 8 per 40 notebooks).
    Runs on a thread of its own beside the workers; a check that fails to import is reported when a cell names it.
    """
    try:
        import torch

        for assignment in assignments:
            for cell in read_notebook(layout.source_notebook(assignment, root)).cells:
                for dotted, _ in directives(cell.source) if cell.cell_type == "code" else ():
                    resolve(dotted)
        layout.diagnosis()
        leaf = torch.zeros(1, requires_grad=True)
        torch.autograd.grad((2 * leaf).sum(), leaf, torch.ones(()))
    except Exception:  # noqa: BLE001 - warming up is optional; grading reports any real error in its place
        pass
    finally:
        gc.freeze()


def _register_missing_assignments(assignments: list[str], root: Path, db_url: str) -> None:
    """Record assignments the gradebook does not know yet (what ``nbgrader generate_assignment`` does)."""
    with Gradebook(db_url) as gradebook:
        missing = []
        for assignment in assignments:
            try:
                if not gradebook.find_assignment(assignment).notebooks:
                    missing.append(assignment)
            except MissingEntry:
                missing.append(assignment)
    for assignment in missing:
        with tempfile.TemporaryDirectory() as scratch:
            generate(assignment, Path(scratch), root, db_url=db_url)


def _exit_now(code: int) -> None:
    """Exit as soon as everything is flushed and cleaned up (fork server, kernel folders), skipping the seconds that
    tearing down torch's and nbgrader's interpreter state would take; nothing else is left to write."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
