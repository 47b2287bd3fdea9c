"""The clean room's parts, one at a time: what leaves the grader for a kernel, and which leftover folders are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from autograder.engine.kernels import manager as kernels
from autograder.engine.kernels.forkserver import ALLOWED_ENVIRONMENT, allowed_environment
from autograder.engine.kernels.leftovers import owner_tag, process_start, remove_stale

SECRET = "AGSECRET_launch_request_test"


def test_allowed_environment_keeps_only_the_allowlist():
    """Does the allowlist drop secrets and grading hints, and keep the locale and PATH?"""
    env = {"PATH": "/bin", "LANG": "ko_KR.UTF-8", "LC_NUMERIC": "C", "PGPASSWORD": SECRET,
           "NBGRADER_EXECUTION": "autograde", "JPY_PARENT_PID": "1", "PYTHONPATH": "/src"}
    assert allowed_environment(env) == {"PATH": "/bin", "LANG": "ko_KR.UTF-8", "LC_NUMERIC": "C"}
    assert allowed_environment(env, extra=("PYTHONPATH",))["PYTHONPATH"] == "/src"
    assert not any("PASS" in name or "SECRET" in name or "NBGRADER" in name for name in ALLOWED_ENVIRONMENT)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")
def test_launch_request_carries_only_the_allowlisted_environment(monkeypatch, tmp_path):
    """Does the request the grader sends to the fork server hold no variable outside the allowlist?"""
    sent: list[dict] = []

    class Recorder:
        def launch(self, **request):
            sent.append(json.loads(json.dumps(request)))
            raise RuntimeError("recorded, not launched")

    monkeypatch.setenv("AUTOGRADER_TEST_DB_PASSWORD", SECRET)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(kernels, "shared_fork_server", Recorder)
    cwd = tmp_path / "autograded" / "alice" / "00_tensors"
    cwd.mkdir(parents=True)
    (cwd / "00_tensors.ipynb").write_text("{}")
    manager = kernels.ContainedKernelManager(kernel_name="python3")
    try:
        with pytest.raises(RuntimeError, match="recorded"):
            run_sync(manager.start_kernel)(cwd=str(cwd))
    finally:
        manager.kill_process_tree()
    (request,) = sent
    assert set(request["env"]) <= set(ALLOWED_ENVIRONMENT) | {k for k in request["env"] if k.startswith("LC_")}
    assert SECRET not in json.dumps(request) and "NBGRADER_EXECUTION" not in json.dumps(request)


def _dead_pid() -> tuple[int, int]:
    """The pid and start time of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    start = process_start(process.pid)
    process.wait()
    return process.pid, start or 1


def test_stale_folders_are_those_of_dead_owners(tmp_path):
    """Are folders of a dead owner, or of a recycled pid, removed, and those of a live owner kept?"""
    prefix = "autograder-test-"
    dead_pid, dead_start = _dead_pid()
    live = tmp_path / f"{prefix}{owner_tag()}-x"
    dead = tmp_path / f"{prefix}{dead_pid}-{dead_start}-x"
    recycled = tmp_path / f"{prefix}{os.getpid()}-{(process_start(os.getpid()) or 0) + 1}-x"
    legacy = tmp_path / f"{prefix}abcdefgh"
    for folder in (live, dead, recycled, legacy):
        folder.mkdir()
        (folder / "inside").write_text("x")
    assert sorted(remove_stale(tmp_path, prefix)) == sorted([dead, recycled])
    assert live.exists() and legacy.exists()
    assert remove_stale(tmp_path, prefix, legacy_stale=lambda path: True) == [legacy]
    assert [p.name for p in Path(tmp_path).iterdir()] == [live.name]
