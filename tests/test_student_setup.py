"""The student set-up (student/setup_student.py): instructor tools off for this user only, Validate kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from autograder.course import REPO_ROOT

SCRIPT = REPO_ROOT / "student" / "setup_student.py"


def _run(config_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)


def test_setup_hides_instructor_tools_and_undo_brings_them_back(tmp_path):
    """Are nbgrader's instructor plugins and server extensions (not Validate) disabled and locked, and --undo undone?"""
    (tmp_path / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"open_browser": False}}))
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    page = json.loads((tmp_path / "labconfig" / "page_config.json").read_text())
    instructor = {f"@jupyter/nbgrader:{name}" for name in
                  ("menu", "formgrader", "create-assignment", "course-list", "assignment-list")}
    assert {name for name, off in page["disabledExtensions"].items() if off} == instructor
    assert {name for name, on in page["lockedExtensions"].items() if on} == instructor
    server = json.loads((tmp_path / "jupyter_server_config.json").read_text())["ServerApp"]
    assert server["open_browser"] is False, "the student's own settings must be kept"
    assert server["jpserver_extensions"] == {f"nbgrader.server_extensions.{name}": False
                                             for name in ("formgrader", "course_list", "assignment_list")}
    assert "Validate" in done.stdout

    undone = _run(tmp_path, "--undo")
    assert undone.returncode == 0, undone.stderr
    page = json.loads((tmp_path / "labconfig" / "page_config.json").read_text())
    assert not any(page.get("disabledExtensions", {}).values()) and not any(page.get("lockedExtensions", {}).values())
    assert json.loads((tmp_path / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"] == {}
