"""The fork server keeps every kernel pristine: what one submission's code changes never reaches the next kernel."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

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
