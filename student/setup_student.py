"""Set up JupyterLab on a student's computer: keep nbgrader's Validate button, hide the instructor's tools.

nbgrader installs all of its JupyterLab plugins and server extensions enabled: students would see the instructor's
Nbgrader menu, Formgrader and the Create Assignment sidebar. This script turns those off for the current user only
(JupyterLab's user-level settings in ``jupyter --config-dir``), so the course's environment is left alone:

- lab plugins ``@jupyter/nbgrader:menu``, ``:formgrader``, ``:create-assignment``, ``:course-list`` and
  ``:assignment-list`` are disabled and locked (the Plugin Manager cannot switch them back on);
- the server extensions behind them are switched off in the user's ``jupyter_server_config.json``.

``@jupyter/nbgrader:validate-assignment`` (the Validate button) and its server extension stay on.

Usage (works the same on Windows, macOS and Linux): ``python student/setup_student.py``; ``--undo`` restores
nbgrader's defaults for this user. Respects ``JUPYTER_CONFIG_DIR``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

INSTRUCTOR_PLUGINS = tuple(f"@jupyter/nbgrader:{name}" for name in (
    "menu", "formgrader", "create-assignment", "course-list", "assignment-list"))
INSTRUCTOR_SERVER_EXTENSIONS = tuple(f"nbgrader.server_extensions.{name}" for name in (
    "formgrader", "course_list", "assignment_list"))
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"


def _jupyter(*args: str) -> None:
    """Run a ``jupyter`` subcommand with this interpreter; stop with its output if it fails."""
    completed = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"`jupyter {' '.join(args)}` 실행에 실패했어요.\n{completed.stdout}{completed.stderr}")


def server_config_path() -> Path:
    """The user's jupyter_server_config.json (under ``jupyter --config-dir``)."""
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "jupyter_server_config.json"


def set_server_extensions(enabled: bool) -> Path:
    """Switch the instructor's server extensions on or off in the user's config, keeping everything else in it."""
    path = server_config_path()
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    extensions = config.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
    for name in INSTRUCTOR_SERVER_EXTENSIONS:
        if enabled:
            extensions.pop(name, None)
        else:
            extensions[name] = False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--undo", action="store_true", help="turn the instructor's tools back on for this user")
    args = parser.parse_args(argv)
    if args.undo:
        _jupyter("labextension", "unlock", "--level=user", *INSTRUCTOR_PLUGINS)
        _jupyter("labextension", "enable", "--level=user", *INSTRUCTOR_PLUGINS)
        path = set_server_extensions(True)
        print(f"nbgrader의 강사용 도구를 다시 켰어요 ({path}).")
        return 0
    _jupyter("labextension", "disable", "--level=user", *INSTRUCTOR_PLUGINS)
    _jupyter("labextension", "lock", "--level=user", *INSTRUCTOR_PLUGINS)
    _jupyter("labextension", "enable", "--level=user", VALIDATE_PLUGIN)
    path = set_server_extensions(False)
    print("학생용 설정을 마쳤어요.")
    print("- 강사용 메뉴(Nbgrader), Formgrader, Create Assignment를 숨겼어요.")
    print("- 노트북 위쪽의 Validate 버튼으로 노트북 전체를 한 번에 확인할 수 있어요.")
    print(f"- 설정 파일: {path}")
    print("이제 `jupyter lab`을 실행하세요. (JupyterLab이 이미 열려 있다면 껐다가 다시 켜 주세요.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
