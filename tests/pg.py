"""A throwaway PostgreSQL server on loopback for the gradebook tests, started and stopped by the tests themselves."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

INSTALL_HINT = "install the server with `apt-get install postgresql` (Debian/Ubuntu; CI's .ci/run does this)"
PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
START_TRIES = 3
INITDB_TIMEOUT_S = 120
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
# SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; the pinned driver is psycopg2, so name it.
URL_SCHEME = "postgresql+psycopg2"


@dataclass(frozen=True)
class Runner:
    """How to run the server's programs: as this user, or as ``postgres`` when we are root."""

    uid: int | None = None
    gid: int | None = None

    def run(self, command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        """Run ``command`` with a bounded wait, without libpq settings from the caller's environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        dropping = self.uid is not None
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            user=self.uid if dropping else None, group=self.gid if dropping else None,
            extra_groups=[] if dropping else None,
        )


def newest_bin_dir(root: Path = PG_ROOT) -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and ``pg_ctl``, or None."""
    candidates = [
        path.parent for path in root.glob("*/bin/initdb")
        if re.fullmatch(r"\d+(\.\d+)?", path.parent.parent.name) and (path.parent / "pg_ctl").exists()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda bin_dir: tuple(int(part) for part in bin_dir.parent.name.split(".")))


def server_runner() -> Runner:
    """A runner for the server's programs; PostgreSQL refuses to run as root, so root runs them as ``postgres``."""
    if os.geteuid() != 0:
        return Runner()
    try:
        account = pwd.getpwnam(SERVER_USER)
    except KeyError:
        _unavailable(f"PostgreSQL refuses to run as root and there is no `{SERVER_USER}` user: {INSTALL_HINT}")
    return Runner(account.pw_uid, account.pw_gid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unavailable(reason: str) -> None:
    """Skip (saying why) where PostgreSQL cannot be had; fail where `make test` expected it (see ensure_postgres.sh)."""
    if os.environ.get("AUTOGRADER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL was expected on this machine but is not usable: {reason}", pytrace=False)
    pytest.skip(reason)


def _tail(text: str, lines: int = 15) -> str:
    """The last lines of a program's output, for a skip message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _initdb(bin_dir: Path, runner: Runner, home: Path) -> Path:
    """Create a cluster under ``home/data`` that trusts local connections and has its socket inside ``home``."""
    data = home / "data"
    completed = runner.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8", "--no-locale",
         "--no-sync"],
        cwd=home, timeout=INITDB_TIMEOUT_S,
    )
    if completed.returncode != 0:
        _unavailable(f"`initdb` of {bin_dir} failed, so there is no PostgreSQL to test against:\n"
                    f"{_tail(completed.stdout + completed.stderr)}")
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            "\n# throwaway test cluster: loopback only, socket in the temp dir, no durability\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{home}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    return data


def _start(bin_dir: Path, runner: Runner, home: Path, data: Path) -> int:
    """Start the server on a free loopback port and return the port; skip when it will not start."""
    log = home / "server.log"
    output = ""
    for _ in range(START_TRIES):
        port = free_port()
        try:
            completed = runner.run(
                [str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S),
                 "-o", f"-p {port}"],
                cwd=home, timeout=START_TIMEOUT_S + 15,
            )
        except subprocess.TimeoutExpired:
            output = f"pg_ctl start did not return within {START_TIMEOUT_S + 15} s"
            continue
        if completed.returncode == 0:
            return port
        output = completed.stdout + completed.stderr
    server_log = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    _unavailable(f"the PostgreSQL server of {bin_dir} did not start ({START_TRIES} tries):\n"
                f"{_tail(output)}\n{_tail(server_log)}")


def _stop(bin_dir: Path, runner: Runner, home: Path, data: Path) -> None:
    """Stop the server at once; if pg_ctl cannot, send the postmaster we started the immediate-shutdown signal."""
    try:
        completed = runner.run([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w",
                                "-t", str(STOP_TIMEOUT_S)], cwd=home, timeout=STOP_TIMEOUT_S + 15)
        stopped = completed.returncode == 0
    except subprocess.TimeoutExpired:
        stopped = False
    pid_file = data / "postmaster.pid"
    if not stopped and pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGQUIT)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            pass


def server_url(port: int, database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the test server."""
    return f"{URL_SCHEME}://{SERVER_USER}@127.0.0.1:{port}/{database}"


def create_database(url: str, name: str | None = None) -> str:
    """Create an empty database next to the one at ``url`` (a fresh unique name unless given); return its URL."""
    name = name or f"gradebook_{uuid.uuid4().hex[:12]}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain database name: {name!r}")
    server = make_url(url)
    connection = psycopg2.connect(host=server.host, port=server.port, user=server.username, dbname="postgres",
                                  connect_timeout=CONNECT_TIMEOUT_S)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty ``gradebook`` database on a throwaway PostgreSQL server on 127.0.0.1 (skips without one)."""
    bin_dir = newest_bin_dir()
    if bin_dir is None:
        _unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) under {PG_ROOT}/*/bin: {INSTALL_HINT}")
    runner = server_runner()
    home = Path(tempfile.mkdtemp(prefix="pg-gradebook-"))
    try:
        if runner.uid is not None:
            os.chown(home, runner.uid, runner.gid)
        data = _initdb(bin_dir, runner, home)
        port = _start(bin_dir, runner, home, data)
        try:
            yield create_database(server_url(port, "postgres"), "gradebook")
        finally:
            _stop(bin_dir, runner, home, data)
    finally:
        shutil.rmtree(home, ignore_errors=True)

