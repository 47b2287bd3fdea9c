"""The fork server keeps every kernel pristine: what one submission's code changes never reaches the next kernel."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.engine.kernels.forkserver import ForkServer
from autograder.engine.kernels.manager import ContainedKernelManager

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")

LEAVE_TRACES = """
import builtins, os, sys, numpy, torch, IPython, ipykernel.ipkernel
builtins.left_by_student = 1
numpy.left_by_student = 1
torch.left_by_student = 1
IPython.left_by_student = 1
ipykernel.ipkernel.left_by_student = 1
sys.modules["left_by_student"] = sys
os.environ["LEFT_BY_STUDENT"] = "1"
torch.manual_seed(1234)
torch.set_num_threads(1)
left_by_student = 1
"""

LOOK_FOR_TRACES = """
import builtins, json, os, sys, numpy, torch, IPython, ipykernel.ipkernel
print(json.dumps({
    "builtins": hasattr(builtins, "left_by_student"),
    "numpy": hasattr(numpy, "left_by_student"),
    "torch": hasattr(torch, "left_by_student"),
    "IPython": hasattr(IPython, "left_by_student"),
    "ipykernel": hasattr(ipykernel.ipkernel, "left_by_student"),
    "sys.modules": "left_by_student" in sys.modules,
    "environment": "LEFT_BY_STUDENT" in os.environ,
    "global": "left_by_student" in globals(),
    "seed": torch.initial_seed() == 1234,
    "pid": os.getpid(),
}))
"""


async def _run_in_fresh_kernel(code: str, workdir: Path) -> str:
    """Start a forked kernel, run ``code``, shut the kernel down; return what it printed."""
    manager = ContainedKernelManager()
    await manager.start_kernel(cwd=str(workdir))
    client = manager.client()
    client.start_channels()
    printed: list[str] = []
    try:
        await client.wait_for_ready(timeout=60)
        def keep_stream(message: dict) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"].get("text", ""))

        reply = await client.execute_interactive(code, timeout=60, output_hook=keep_stream)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return "".join(printed)


def test_two_kernels_forked_in_a_row_share_no_state(tmp_path):
    """Does the second kernel forked from the server see nothing that code in the first one set?"""
    workdir = tmp_path / "autograded" / "student" / "assignment"
    workdir.mkdir(parents=True)

    async def both() -> tuple[str, str]:
        first = await _run_in_fresh_kernel(LEAVE_TRACES + LOOK_FOR_TRACES, workdir)
        second = await _run_in_fresh_kernel(LOOK_FOR_TRACES, workdir)
        return first, second

    first, second = (json.loads(text) for text in asyncio.run(both()))
    assert first["pid"] != second["pid"]
    assert all(first[key] for key in first if key != "pid"), first  # the traces were really left in the first
    assert not any(second[key] for key in second if key != "pid"), second


SHOW_A_FAILING_CHECK = """
import json, sys
before = set(sys.modules)
def check(answer):
    assert answer == 2, "visible test"
try:
    check(1)
except AssertionError:
    get_ipython().showtraceback()  # what a failing cell's traceback goes through
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_kernels_first_traceback_imports_nothing(tmp_path):
    """Is a failing cell's traceback formatted with what the server loaded (pygments' lexers and styles: 60-80 ms a
    kernel otherwise)?"""
    imported = json.loads(asyncio.run(_run_in_fresh_kernel(SHOW_A_FAILING_CHECK, tmp_path)).splitlines()[-1])
    assert imported == [], f"a kernel's first traceback imported {imported}"


def test_a_server_started_from_a_worker_thread_outlives_that_thread():
    """Does a server first needed on a worker thread (a kernel launch runs on ``asyncio.to_thread``) keep serving
    after that thread ends? It dies with its parent, and for Linux the parent is the thread that started it."""
    server = ForkServer(preload=("json",))
    try:
        starter = threading.Thread(target=server.start)
        starter.start()
        starter.join()
        process = server._process
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, f"the server ended with the thread that started it (exit {process.poll()})"
        assert server.returncode(2**22 + 1) is None  # it answers (a pid it never forked has no exit code)...
        assert server._process is process  # ...and it is the same server, not one started again
    finally:
        server.stop()
