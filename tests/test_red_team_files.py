"""Red team, files and clean room (issue 8): submissions are data, never links; every kernel starts in a clean room.

Every attack first proves it takes effect where its defence is off, in one of two control runs:

- *stock*: stock nbgrader with none of this course's configuration (as root, as a grader would run it);
- *engine*: plain ``nbgrader autograde`` with the course's configuration, from a scratch copy of the working tree
  with every clean-room layer of the kernel switched off (``tests/mutants.py``: ``ENGINE_CONTROL``), for attacks
  that only this engine's own layers meet (an IPython profile reaching the kernel's home, launch data left in the
  kernel).

Then the defended runs (the grading command, and plain ``nbgrader autograde`` with the course's configuration) must
refuse the submission before reading it, with a clear per-student reason (attacks on the files of a submission), or
grade the student while the attack reaches nothing (attacks from inside the kernel); honest neighbours keep their
exact scores and innocent look-alikes keep full marks with no flag. Every run is capped at 256 MiB per file
(``RLIMIT_FSIZE``), so that a control, or a mutant with a defence switched off, cannot fill the disk. Every run grades
the engine's fixture course (tests/fixture_course), selected for the module and its processes.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import fixture_course
import mutants
import psutil
import pytest
import redteam

from autograder.engine import grade
from autograder.tools.bench import stock_course
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import db_url, nbgrader_command, register_assignment
from autograder.tools.in_process import points_by_test_cell, read_notebook, release_stubs
from autograder.tools.release import generate, nbgrader_env

pytestmark = [pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                                 reason="the clean room needs root on Linux (namespaces, tmpfs, uid drop)"),
              pytest.mark.usefixtures("fixture_course_selected")]

COURSE = redteam.COURSE
ROOT = COURSE.root
ASSIGNMENT = redteam.ASSIGNMENT
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
FIRST = redteam.FIRST
LIMITS = ["ContainedExecute.timeout=30", "ContainedExecute.notebook_timeout=120"]
FILE_CAP = 256 << 20  # every run's RLIMIT_FSIZE, the same as a kernel's
SECRET_VARIABLE = "AUTOGRADER_REDTEAM_DB_PASSWORD"
MIB = 1 << 20
QUOTA_MIB = (200, 200, 200)  # in three places, each under the 256 MiB file cap: 600 MiB > the 512 MiB quota
KERNELS_ROOT = Path("/run/jupyter-kernels")


# ------------------------------------------------------------------------------------------------ the targets

@dataclass
class Targets:
    """What one run's attacks aim at, all made by the test: a secret in the grader's environment, a SysV shared
    memory key, a file name to leave in world-writable folders, a neighbour's cgroup, and redteam.py's decoy
    gradebook and root-only file."""

    base: redteam.RunTargets
    secret: str = field(default_factory=lambda: f"AGSECRET_{uuid.uuid4().hex}")
    shm_key: int = field(default_factory=lambda: int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF | 0x10000)
    token: str = field(default_factory=lambda: f"redteam-{uuid.uuid4().hex[:12]}")
    writable_dirs: list[str] = field(default_factory=list)
    cgroup_decoys: list[Path] = field(default_factory=list)

    @property
    def cgroup_name(self) -> str:
        return f"kernel-{self.token}"

    def shm_survived(self) -> bool:
        """Whether a SysV segment with this run's key exists on the machine (outside every kernel)."""
        return any(line.split()[0] == str(self.shm_key)
                   for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:])

    def files_left(self) -> list[str]:
        """The world-writable folders where a kernel's file outlived grading."""
        return [folder for folder in self.writable_dirs if os.path.lexists(os.path.join(folder, self.token))]

    def close(self) -> None:
        """Undo what the attacks may have left (in a control), then what the test made."""
        libc = ctypes.CDLL(None, use_errno=True)
        shmid = libc.shmget(self.shm_key, 0, 0)
        if shmid >= 0:
            libc.shmctl(shmid, 0, None)  # IPC_RMID
        for folder in self.files_left():
            os.unlink(os.path.join(folder, self.token))
        for decoy in self.cgroup_decoys:
            decoy.rmdir()
        self.base.close()


@functools.cache
def world_writable_dirs() -> list[str]:
    """Every world-writable folder of this machine (``find / -xdev -type d -perm -0002``, plus /dev/shm and
    /dev/mqueue), without the test's own and other engineers' folders inside /tmp and /var/tmp."""
    found = subprocess.run(
        ["find", "/", "-xdev", "(", "-path", "/tmp/*", "-o", "-path", "/var/tmp/*", "-o", "-path", "/work", "-o",
         "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "d", "-perm", "-0002", "-print"],
        capture_output=True, text=True, timeout=120,
    ).stdout.split()
    extra = [p for p in ("/dev/shm", "/dev/mqueue") if os.path.isdir(p) and os.stat(p).st_mode & stat.S_IWOTH]
    return sorted(set(found) | set(extra))


def make_targets() -> Targets:
    """This run's targets, a decoy cgroup of a neighbouring kernel included."""
    targets = Targets(redteam.make_targets(), writable_dirs=world_writable_dirs())
    for controller in ("pids", "memory"):
        parent = Path("/sys/fs/cgroup", controller, "autograder")
        if parent.parent.is_dir():
            parent.mkdir(exist_ok=True)
            decoy = parent / targets.cgroup_name
            decoy.mkdir()
            targets.cgroup_decoys.append(decoy)
    return targets


# ------------------------------------------------------------------------------------------------ the attacks

def _marker(name: str, evidence: str) -> str:
    """Code printing ``REDTEAM <name>: <evidence>`` in one write (a split line would hide the evidence)."""
    return f'print("{redteam.MARKER} {name}: " + str({evidence}), flush=True)'


def _reach(name: str, body: str) -> str:
    """Code that tries ``body`` and prints whether it reached its target or was blocked (and by what)."""
    indented = "\n".join("    " + line for line in dedent(body).strip().splitlines())
    return (f"try:\n{indented}\n    {_marker(name, repr('reached'))}\nexcept Exception as _error:\n"
            f"    {_marker(name, chr(39) + 'blocked ' + chr(39) + ' + type(_error).__name__')}")


# Finds strings matching a pattern (that ``accept`` approves) in every place a kernel can look: its environment,
# /proc/self/environ, containers reachable through gc, the locals of every frame, and every writable page of its
# memory (read with process_vm_readv, which reports unmapped pages instead of crashing).
_SEARCH = dedent('''
    import ctypes as _ct, gc as _gc, os as _os, re as _re, sys as _sys

    class _IOVec(_ct.Structure):
        _fields_ = [("base", _ct.c_void_p), ("len", _ct.c_size_t)]

    def _texts(value, depth=0):
        if isinstance(value, (str, bytes)):
            yield value if isinstance(value, bytes) else value.encode(errors="replace")
        elif isinstance(value, dict) and depth < 3:
            for key, item in list(value.items()):
                if isinstance(key, str) and isinstance(item, str):
                    yield f"{key}={item}".encode(errors="replace")
                yield from _texts(key, depth + 1)
                yield from _texts(item, depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)) and depth < 3:
            for item in list(value)[:10000]:
                yield from _texts(item, depth + 1)

    def _where(pattern, accept):
        """Where a match of ``pattern`` (a bytes regex) that ``accept`` approves is found in this kernel."""
        regex = _re.compile(pattern)
        hit = lambda data: any(accept(m.group(0)) for m in regex.finditer(data))
        places = []
        if any(hit(f"{k}={v}".encode(errors="replace")) for k, v in _os.environ.items()):
            places.append("os.environ")
        try:
            with open("/proc/self/environ", "rb") as handle:
                if hit(handle.read()):
                    places.append("/proc/self/environ")
        except OSError:
            pass
        if any(hit(text) for obj in _gc.get_objects() if isinstance(obj, (dict, list, tuple)) for text in _texts(obj)):
            places.append("gc")
        frames = list(_sys._current_frames().values())
        seen = set()
        while frames:
            frame = frames.pop()
            if frame is None or id(frame) in seen:
                continue
            seen.add(id(frame))
            if any(hit(text) for text in _texts(dict(frame.f_locals))):
                places.append(f"frame {frame.f_code.co_name}")
            frames.append(frame.f_back)
        libc = _ct.CDLL(None, use_errno=True)
        buffer = _ct.create_string_buffer(1 << 22)
        scanned = 0
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
        for fields in regions:
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            address = start
            while address < end and scanned < (3 << 30):
                size = min(1 << 22, end - address)
                local, remote = _IOVec(_ct.addressof(buffer), size), _IOVec(address, size)
                got = libc.process_vm_readv(_os.getpid(), _ct.byref(local), 1, _ct.byref(remote), 1, 0)
                if got > 0:
                    scanned += got
                    if hit(buffer.raw[:got]):
                        places.append(f"memory {fields[-1] if len(fields) > 5 else 'anonymous'}")
                        break
                address += size
        return sorted(set(places)), scanned
''').strip()


@dataclass(frozen=True)
class FileAttack:
    """An attack: files it puts into its submission, code in its notebook, and the controls where it takes effect.

    ``defended`` is "refused" (the submission is refused unread, with ``reason`` in the error) or "contained" (the
    student is graded and the attack reaches nothing).
    """

    name: str
    controls: tuple[str, ...]
    defended: str
    code: str = ""
    reason: str = ""
    notebook_is_link: bool = False

    @property
    def student(self) -> str:
        return f"attack_{self.name}"


def _read_link(name: str, path: str, expected: str) -> str:
    return _reach(name, f"assert {expected!r} in open({path!r}, errors='replace').read()")


def attacks(targets: Targets) -> list[FileAttack]:
    """Every attack of this module, aimed at this run's targets."""
    digest = hashlib.sha256(targets.secret.encode()).hexdigest()
    return [
        # -- the files of a submission: refused before anything in them is read ------------------------------------
        FileAttack("notebook_link_to_source", ("stock",), "refused", reason="symbolic link", notebook_is_link=True),
        FileAttack("link_to_source_notebook", ("stock",), "refused", reason="symbolic link",
                   code=_read_link("link_to_source_notebook", "solution.txt", "BEGIN SOLUTION")),
        FileAttack("link_to_hidden_checks", ("stock",), "refused", reason="symbolic link",
                   code=_read_link("link_to_hidden_checks", "hidden.txt", "def check_")),
        FileAttack("link_to_gradebook", ("stock",), "refused", reason="symbolic link",
                   code=_read_link("link_to_gradebook", "gradebook.db", "decoy of the red-team tests")),
        FileAttack("link_to_root_only_file", ("stock",), "refused", reason="symbolic link",
                   code=_read_link("link_to_root_only_file", "secret.txt", "only root may read this")),
        FileAttack("link_to_dev_zero", ("stock",), "refused", reason="symbolic link"),
        FileAttack("device_node", ("stock",), "refused", reason="a device file"),
        FileAttack("fifo", ("stock",), "refused", reason="a named pipe"),
        FileAttack("huge_file", ("stock",), "refused", reason="more than 100 MiB"),
        FileAttack("many_files", ("stock",), "refused", reason="more than 1000 files"),
        # -- from inside the kernel: graded, and the attack reaches nothing -----------------------------------------
        FileAttack("ipython_startup", ("engine",), "contained", code=dedent(f'''
            import os as _os
            _ran = globals().get("REDTEAM_STARTUP", "no")
            _profile = _os.path.isdir(".ipython")
            _home = _os.path.exists(_os.path.expanduser("~/{NOTEBOOK}"))
        ''') + _marker("ipython_startup", "f'startup ran: {_ran} | profile in work folder: {_profile} | "
                                          "home holds the notebook: {_home}'")),
        FileAttack("read_grader_secret", ("stock", "engine"), "contained", code=_SEARCH + "\n" + dedent(f'''
            import hashlib as _hashlib
            _places, _scanned = _where(rb"AGSECRET_[0-9a-f]{{32}}",
                                       lambda m: _hashlib.sha256(m).hexdigest() == {digest!r})
        ''') + _marker("read_grader_secret",
                       "('reached ' + ', '.join(_places)) if _places else "
                       "f'blocked: found nowhere, {_scanned >> 20} MiB of memory scanned'")),
        FileAttack("nbgrader_execution", ("stock", "engine"), "contained", code=_SEARCH + "\n" + dedent('''
            _places, _scanned = _where(rb"NBGRADER_EXECUTION=[a-z]+", lambda m: True)
        ''') + _marker("nbgrader_execution",
                       "('reached ' + ', '.join(_places)) if _places else "
                       "f'blocked: found nowhere, {_scanned >> 20} MiB of memory scanned'")),
        FileAttack("launch_request", ("engine",), "contained", code=dedent('''
            import gc as _gc, sys as _sys
            def _is_request(value):
                return isinstance(value, dict) and ("kernel_args" in value or {"cgroups", "limits"} <= set(value))
            _where_found = ["gc"] if any(_is_request(o) for o in _gc.get_objects()) else []
            _frames = list(_sys._current_frames().values())
            while _frames:
                _frame = _frames.pop()
                if _frame is not None:
                    if any(_is_request(v) for v in dict(_frame.f_locals).values()):
                        _where_found.append(f"frame {_frame.f_code.co_name}")
                    _frames.append(_frame.f_back)
        ''') + _marker("launch_request",
                       "('reached ' + ', '.join(_where_found)) if _where_found else 'blocked: none'")),
        FileAttack("shm_survives", ("stock", "engine"), "contained", code=_reach("shm_survives", f'''
            import ctypes
            _shmid = ctypes.CDLL(None, use_errno=True).shmget({targets.shm_key}, 1 << 20, 0o1000 | 0o666)
            assert _shmid >= 0, ctypes.get_errno()
        ''')),
        FileAttack("world_writable_files", ("stock", "engine"), "contained", code=dedent(f'''
            _written = []
            for _folder in {targets.writable_dirs!r}:
                try:
                    with open(_folder + "/{targets.token}", "w") as _handle:
                        _handle.write("{redteam.MARKER}")
                    _written.append(_folder)
                except OSError:
                    pass
        ''') + _marker("world_writable_files", "f'wrote in {_written}'")),
        FileAttack("disk_quota", ("stock", "engine"), "contained", code=dedent(f'''
            import os as _os
            _written, _problem = 0, None
            _places = ["./quota.bin", "/tmp/{targets.token}.bin", "/dev/shm/{targets.token}.bin"]
            _files = list(zip(_places, {QUOTA_MIB!r}))
            try:
                for _path, _mib in _files:
                    with open(_path, "wb") as _handle:
                        for _ in range(_mib):
                            _handle.write(b"x" * {MIB})
                            _written += 1
                        _handle.flush()
                        _os.fsync(_handle.fileno())
            except OSError as _error:
                _problem = _error
            finally:
                for _path, _ in _files:
                    if _os.path.exists(_path):
                        _os.unlink(_path)
        ''') + _marker("disk_quota", "f'reached: wrote {_written} MiB' if _problem is None else "
                                    "f'blocked after {_written} MiB: {type(_problem).__name__}'")),
        FileAttack("list_other_cgroups", ("stock", "engine"), "contained", code=_reach(
            "list_other_cgroups",
            f"assert {targets.cgroup_name!r} in __import__('os').listdir('/sys/fs/cgroup/pids/autograder')")),
    ]


ATTACKS = {a.name: a for a in attacks(Targets(redteam.RunTargets(redteam.Targets(1, 1, Path("/x"), None), None, None)))}
REFUSED = sorted(name for name, a in ATTACKS.items() if a.defended == "refused")
CONTAINED = sorted(name for name, a in ATTACKS.items() if a.defended == "contained")
CONTROLLED = sorted((control, name) for name, a in ATTACKS.items() for control in a.controls)

INNOCENTS = {
    "writes_small_files": dedent('''
        import os, tempfile
        for _folder in (".", tempfile.gettempdir(), "/var/tmp", "/dev/shm", os.path.expanduser("~/.cache/mine")):
            os.makedirs(_folder, exist_ok=True)
            with open(os.path.join(_folder, "notes.txt"), "w") as _handle:
                _handle.write("hello" * 1000)
            assert open(os.path.join(_folder, "notes.txt")).read() == "hello" * 1000
    '''),
    "reads_data_subfolder": dedent('''
        ROWS = open("data/train.csv").read().splitlines()
        assert ROWS[0] == "x,y" and len(ROWS) == 4, ROWS
        assert open("data/labels/readme.txt", encoding="utf-8").read() == "라벨 설명"
    '''),
    "has_checkpoints_folder": "import os\nCHECKPOINTS = os.listdir('.')",
    "uses_shared_memory": dedent('''
        from multiprocessing import shared_memory
        _block = shared_memory.SharedMemory(create=True, size=1 << 20)
        _block.buf[:5] = b"hello"
        assert bytes(_block.buf[:5]) == b"hello"
        _block.close()
        _block.unlink()
    '''),
}


def _stubs() -> dict[str, str]:
    return release_stubs(read_notebook(fixture_course.release_notebook()))


def write_submissions(targets: Targets, submitted: Path, chosen: list[FileAttack], *, innocents: bool) -> list[str]:
    """Write the cohort (a wrong baseline, an honest reference, the chosen attackers, the innocents); return its ids."""
    stubs, reference = _stubs(), reference_solutions(ASSIGNMENT)
    students = [SyntheticStudent("wrong_baseline", "stubs only", dict(stubs)),
                SyntheticStudent("honest_reference", "reference", dict(reference))]
    students += [SyntheticStudent(a.student, a.name, {**stubs, FIRST: f"{stubs[FIRST]}\n{a.code}"}) for a in chosen]
    if innocents:
        students += [SyntheticStudent(f"innocent_{name}", name, {**reference, FIRST: f"{reference[FIRST]}\n{code}"})
                     for name, code in INNOCENTS.items()]
    write_cohort(ASSIGNMENT, students, submitted)
    base = targets.base.targets
    for attack in chosen:
        folder = submitted / attack.student / ASSIGNMENT
        links = {
            "link_to_source_notebook": ("solution.txt", COURSE.source_notebook(ASSIGNMENT)),
            "link_to_hidden_checks": ("hidden.txt", ROOT / "hidden" / "sums.py"),
            "link_to_gradebook": ("gradebook.db", base.decoy_gradebook),
            "link_to_root_only_file": ("secret.txt", base.root_only_file),
            "link_to_dev_zero": ("zeros.bin", Path("/dev/zero")),
        }
        if attack.notebook_is_link:
            (folder / NOTEBOOK).unlink()
            (folder / NOTEBOOK).symlink_to(COURSE.source_notebook(ASSIGNMENT))
        elif attack.name in links:
            name, target = links[attack.name]
            (folder / name).symlink_to(target)
        elif attack.name == "device_node":
            os.mknod(folder / "zeros.bin", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # what /dev/zero is
        elif attack.name == "fifo":
            os.mkfifo(folder / "pipe")
        elif attack.name == "huge_file":
            with open(folder / "big.bin", "wb") as handle:
                handle.truncate(101 * MIB)  # sparse: costs no disk here, 101 MiB to whoever copies it
        elif attack.name == "many_files":
            (folder / "many").mkdir()
            for index in range(1001):
                (folder / "many" / f"f{index:04d}.txt").write_text("x")
        elif attack.name == "ipython_startup":
            startup = folder / ".ipython" / "profile_default" / "startup"
            startup.mkdir(parents=True)
            (startup / "00-redteam.py").write_text("REDTEAM_STARTUP = 'yes'\n")
    if innocents:
        data = submitted / "innocent_reads_data_subfolder" / ASSIGNMENT / "data"
        (data / "labels").mkdir(parents=True)
        (data / "train.csv").write_text("x,y\n1,2\n3,4\n5,6\n")
        (data / "labels" / "readme.txt").write_text("라벨 설명", encoding="utf-8")
        folder = submitted / "innocent_has_checkpoints_folder" / ASSIGNMENT
        (folder / ".ipynb_checkpoints").mkdir()
        shutil.copy(folder / NOTEBOOK, folder / ".ipynb_checkpoints" / f"{ASSIGNMENT}-checkpoint.ipynb")
    return [s.student_id for s in students]


# ------------------------------------------------------------------------------------------------ running

def _short_tmpdir(workdir: Path) -> Path:
    """A private TMPDIR with a short path (a unix socket path must fit 107 bytes), removed with ``workdir``."""
    tmpdir = Path(tempfile.mkdtemp(prefix="rtf-", dir="/tmp"))
    (workdir / "tmp").symlink_to(tmpdir)
    _TMPDIRS.append(tmpdir)
    return tmpdir


_TMPDIRS: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _remove_tmpdirs():
    yield
    for tmpdir in _TMPDIRS:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _cap_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_CAP, FILE_CAP))


@dataclass
class Run:
    """One grading run: what it printed, its grader's pid, its students' outcomes and the targets' state after it."""

    mode: str
    workdir: Path
    log: str
    returncode: int
    pid: int
    outcomes: dict[str, redteam.Outcome]
    results: dict | None
    shm_survived: bool
    files_left: list[str]
    tmpdir: Path

    def outcome(self, student: str) -> redteam.Outcome:
        return self.outcomes[student]


def _grade(mode: str, workdir: Path, targets: Targets, students: list[str], *, root: Path = ROOT,
           extra_env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Run:
    """Grade ``workdir/submitted`` one way, with the secret in the grader's environment and a private TMPDIR."""
    tmpdir = _short_tmpdir(workdir)
    env = {**nbgrader_env(), SECRET_VARIABLE: targets.secret, "TMPDIR": str(tmpdir), **(extra_env or {})}
    results_file = workdir / "results.json"
    if mode == "command":
        command = [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(root), "--no-progress",
                   "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
                   "--db", db_url(workdir), "--json", str(results_file),
                   *[arg for limit in LIMITS for arg in ("--set", limit)], *extra]
    else:
        command = nbgrader_command("autograde", ASSIGNMENT, workdir, *[f"--{limit}" for limit in LIMITS], *extra)
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=_cap_file_size)
    log, _ = process.communicate(timeout=1500)
    results = None
    if mode == "command":
        results = {r["student"]: r for r in json.loads(results_file.read_text())} if results_file.exists() else {}
    outcomes = {s: redteam.read_outcome(workdir, db_url(workdir), s, results=results, flag_kinds=grade.FLAG_KINDS,
                                        log=log) for s in students}
    return Run(mode, workdir, log, process.returncode, process.pid, outcomes, results, targets.shm_survived(),
               targets.files_left(), tmpdir)


@pytest.fixture(scope="module")
def stock_control(tmp_path_factory) -> Run:
    """The attackers whose control is stock nbgrader, graded by it with none of the course's configuration."""
    workdir = tmp_path_factory.mktemp("files_control_stock")
    targets = make_targets()
    try:
        chosen = [a for a in attacks(targets) if "stock" in a.controls]
        students = write_submissions(targets, workdir / "submitted", chosen, innocents=False)
        root = stock_course(workdir / "stock_course")
        with tempfile.TemporaryDirectory() as scratch:
            generate(ASSIGNMENT, Path(scratch), root, db_url=db_url(workdir))
        return _grade("stock", workdir, targets, students, root=root, extra=("--Execute.timeout=30",))
    finally:
        targets.close()


@pytest.fixture(scope="module")
def engine_control(tmp_path_factory) -> Run:
    """Plain `nbgrader autograde` with the course's configuration, every clean-room layer switched off."""
    workdir = tmp_path_factory.mktemp("files_control_engine")
    copy = Path(tempfile.mkdtemp(prefix="engine-control-"))
    targets = make_targets()
    try:
        mutants.scratch_copy(copy)
        for name in mutants.ENGINE_CONTROL:
            try:
                mutants.apply(next(m for m in mutants.MUTANTS if m.name == name), copy)
            except SystemExit as error:
                pytest.fail(f"the engine control cannot switch a layer off: {error}")
        chosen = [a for a in attacks(targets) if "engine" in a.controls]
        students = write_submissions(targets, workdir / "submitted", chosen, innocents=False)
        register_assignment(ASSIGNMENT, workdir)
        # The copy's fixture course, graded by the copy's engine (its package found first on PYTHONPATH).
        copied_tests = copy / ROOT.parent.relative_to(mutants.ROOT)
        env = fixture_course.environment({"PYTHONPATH": str(copy)}, tests_dir=copied_tests)
        return _grade("engine", workdir, targets, students, root=copied_tests / ROOT.name,
                      extra_env={"PYTHONPATH": env["PYTHONPATH"], "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        targets.close()
        shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def defended(request, tmp_path_factory) -> Run:
    """The whole cohort (attackers, innocents, neighbours) graded with every defence on."""
    workdir = tmp_path_factory.mktemp(f"files_{request.param}")
    targets = make_targets()
    try:
        students = write_submissions(targets, workdir / "submitted", attacks(targets), innocents=True)
        register_assignment(ASSIGNMENT, workdir)
        return _grade(request.param, workdir, targets, students)
    finally:
        targets.close()


def _markers(run: Run, name: str) -> list[str]:
    return [line for line in run.outcome(ATTACKS[name].student).markers
            if line.startswith(f"{redteam.MARKER} {name}:")]


def _stock_error(run: Run, student: str) -> str:
    """What stock nbgrader logged about one student's failed submission."""
    start = run.log.find(f"There was an error processing assignment: {run.workdir / 'submitted' / student}")
    if start < 0:
        return ""
    end = run.log.find("There was an error processing assignment:", start + 10)
    return run.log[start:end if end > 0 else len(run.log)]


# ------------------------------------------------------------------------------------------------ controls

@pytest.mark.xdist_group("red_team_files")
@pytest.mark.parametrize("control, name", CONTROLLED, ids=[f"{c}-{n}" for c, n in CONTROLLED])
def test_attack_takes_effect_when_its_defence_is_off(request, control, name):
    """Where its defence is off, does the attack do what it set out to do?"""
    run: Run = request.getfixturevalue(f"{control}_control")
    attack = ATTACKS[name]
    outcome = run.outcome(attack.student)
    folder = run.workdir / "autograded" / attack.student / ASSIGNMENT
    markers = _markers(run, name)
    if name == "notebook_link_to_source":
        assert outcome.graded and sum(outcome.scores.values()) == redteam.FULL_MARKS, outcome  # graded as the source
    elif name.startswith("link_to_") and name != "link_to_dev_zero":
        assert markers and markers[0].endswith("reached"), (outcome.status, markers)
    elif name in ("link_to_dev_zero", "device_node"):
        # Root copied from /dev/zero until the file-size cap of the run stopped it.
        assert "File too large" in _stock_error(run, attack.student), run.log[-3000:]
    elif name == "fifo":
        assert not outcome.graded and "named pipe" in _stock_error(run, attack.student), run.log[-3000:]
    elif name == "huge_file":
        assert outcome.graded and (folder / "big.bin").stat().st_size == 101 * MIB
    elif name == "many_files":
        assert outcome.graded and len(os.listdir(folder / "many")) == 1001
    elif name == "ipython_startup":
        assert markers and "startup ran: yes" in markers[0], (outcome.status, markers)
    elif name == "shm_survives":
        assert markers and markers[0].endswith("reached") and run.shm_survived, (markers, run.shm_survived)
    elif name == "world_writable_files":
        assert run.files_left, markers
    else:
        assert markers and markers[0].split(":", 1)[1].strip().startswith("reached"), (outcome.status, markers)


# ------------------------------------------------------------------------------------------------ defended

@pytest.mark.xdist_group("red_team_files")
def test_neighbours_keep_their_exact_scores(defended):
    """Do an honest reference and a wrong baseline graded among the attackers get exactly their usual points?"""
    reference, baseline = defended.outcome("honest_reference"), defended.outcome("wrong_baseline")
    assert reference.graded and baseline.graded, (reference.status, baseline.status, defended.log[-3000:])
    assert reference.scores == points_by_test_cell(read_notebook(fixture_course.release_notebook())), reference.scores
    assert baseline.scores == dict.fromkeys(reference.scores, 0.0), baseline.scores
    assert reference.flags == baseline.flags == set()


@pytest.mark.xdist_group("red_team_files")
@pytest.mark.parametrize("name", REFUSED)
def test_attack_is_refused_unread_with_a_clear_reason(defended, name):
    """Is a submission holding a link, a special file or too much refused with a reason that says what to do,
    without anything of it (or of what it points to) being copied?"""
    attack = ATTACKS[name]
    outcome = defended.outcome(attack.student)
    assert not outcome.graded and outcome.scores == {}, outcome
    if defended.mode == "command":
        error = defended.results[attack.student]["error"]
        assert f"ERROR  {ASSIGNMENT}/{attack.student}: " in defended.log
    else:
        lines = [line for line in defended.log.splitlines() if f"Refused the submission of {attack.student} " in line]
        assert lines, defended.log[-3000:]
        error = lines[0]
        assert defended.returncode != 0
    assert attack.reason in error and "nothing was graded" in error and "학생 안내" in error, error
    assert not (defended.workdir / "autograded" / attack.student).exists()


@pytest.mark.xdist_group("red_team_files")
@pytest.mark.parametrize("name", CONTAINED)
def test_attack_from_the_kernel_reaches_nothing(defended, name):
    """Is the attacker graded (0 points: only stubs), while its attack finds, reaches or leaves nothing?"""
    outcome = defended.outcome(ATTACKS[name].student)
    assert outcome.graded, f"{outcome.status}\n{defended.log[-3000:]}"
    assert sum(outcome.scores.values()) == 0, outcome.scores
    markers = _markers(defended, name)
    assert markers, outcome
    evidence = markers[0].split(":", 1)[1].strip()
    if name == "ipython_startup":
        assert evidence == "startup ran: no | profile in work folder: False | home holds the notebook: False", evidence
    elif name == "shm_survives":
        assert evidence == "reached" and not defended.shm_survived  # made inside the kernel, gone with it
    elif name == "world_writable_files":
        assert defended.files_left == [], (evidence, defended.files_left)
    elif name == "disk_quota":
        written = int(evidence.split("after ")[1].split(" MiB")[0]) if "after" in evidence else None
        assert evidence.startswith("blocked") and written is not None and written <= 512, evidence
    else:
        assert evidence.startswith("blocked"), evidence
    if name in ("read_grader_secret", "nbgrader_execution"):
        assert int(evidence.split(", ")[1].split(" MiB")[0]) > 50, "the kernel's memory was not really scanned"


@pytest.mark.xdist_group("red_team_files")
@pytest.mark.parametrize("innocent", sorted(INNOCENTS))
def test_innocent_look_alike_keeps_full_marks_without_flag(defended, innocent):
    """Does a correct student who writes small files, reads a data subfolder, keeps .ipynb_checkpoints or uses
    shared memory keep full marks, with no flag and no repair note?"""
    student = f"innocent_{innocent}"
    outcome = defended.outcome(student)
    assert outcome.graded, f"{outcome.status}\n{defended.log[-3000:]}"
    assert sum(outcome.scores.values()) == redteam.FULL_MARKS, outcome.scores
    assert outcome.flags == set()
    if defended.results is not None:
        assert defended.results[student]["repairs"] == []


@pytest.mark.xdist_group("red_team_files")
def test_no_temporary_folder_outlives_the_run(defended):
    """When grading ends, are the fork server's folder and every kernel folder of the run gone?"""
    assert list(defended.tmpdir.glob("autograder-forkserver-*")) == []
    assert list(KERNELS_ROOT.glob(f"autograder-kernels-{defended.pid}-*")) == []
    assert not any(f"{KERNELS_ROOT}/autograder-kernels-{defended.pid}-" in line
                   for line in Path("/proc/self/mountinfo").read_text().splitlines())


# ------------------------------------------------------------------------------------------------ after a crash

def _owner_tag(pid: int) -> str:
    from autograder.engine.kernels.leftovers import owner_tag

    return owner_tag(pid)


@pytest.mark.xdist_group("red_team_files")
def test_killed_run_leaves_nothing_after_the_next_start(tmp_path):
    """After a run is killed mid-way (kill -9 of the grader, its fork server and its kernels), does the next run
    remove the folders it left, and leave alone those of a live process and a young one of an older layout?"""
    reference = reference_solutions(ASSIGNMENT)
    sleeper = SyntheticStudent("sleeps", "", {**reference, FIRST: f"{reference[FIRST]}\nimport time; time.sleep(120)"})
    write_cohort(ASSIGNMENT, [sleeper], tmp_path / "first" / "submitted")
    write_cohort(ASSIGNMENT, [SyntheticStudent("quick", "", reference)], tmp_path / "second" / "submitted")
    for run in ("first", "second"):
        register_assignment(ASSIGNMENT, tmp_path / run)
    tmpdir = _short_tmpdir(tmp_path)
    alive = subprocess.Popen(["sleep", "300"])
    live = tmpdir / f"autograder-forkserver-{_owner_tag(alive.pid)}-decoy"
    young_legacy = tmpdir / "autograder-forkserver-legacy01"
    old_legacy = tmpdir / "autograder-forkserver-legacy02"
    for folder in (live, young_legacy, old_legacy):
        folder.mkdir()
    os.utime(old_legacy, (time.time() - 3600, time.time() - 3600))
    env = {**nbgrader_env(), "TMPDIR": str(tmpdir)}

    def command(run: str) -> list[str]:
        return [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
                "--submitted", str(tmp_path / run / "submitted"), "--autograded", str(tmp_path / run / "autograded"),
                "--db", db_url(tmp_path / run)]

    first = subprocess.Popen(command("first"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_cap_file_size)
    try:
        deadline = time.monotonic() + 180
        kernels: list[Path] = []
        while time.monotonic() < deadline and not kernels:
            time.sleep(0.5)
            kernels = [k for run in KERNELS_ROOT.glob(f"autograder-kernels-{first.pid}-*") for k in run.glob("k-*")
                       if (k / "work").is_dir()]
        assert kernels, "the first run never started a kernel"
        time.sleep(2)
        family = psutil.Process(first.pid).children(recursive=True)
        os.killpg(first.pid, signal.SIGKILL)
        for process in family:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        first.wait()
        psutil.wait_procs(family, timeout=10)
        servers = [p for p in tmpdir.glob(f"autograder-forkserver-{first.pid}-*")]
        runs = list(KERNELS_ROOT.glob(f"autograder-kernels-{first.pid}-*"))
        assert servers and runs, "a killed run leaves its folders (the control of this test)"
        mounted = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(runs[0]) in line]
        assert mounted, "the killed run's kernel room is still mounted"
        second = subprocess.run(command("second"), cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=600, preexec_fn=_cap_file_size)
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        assert [p for p in servers + runs if p.exists()] == []
        assert not any(str(runs[0]) in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
        assert live.exists() and young_legacy.exists() and not old_legacy.exists()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        alive.kill()
        alive.wait()
        from autograder.engine.kernels.leftovers import remove_folder

        for run in KERNELS_ROOT.glob(f"autograder-kernels-{first.pid}-*"):
            remove_folder(run)
