"""One command line for the course's tools: ``python -m autograder <command> [options]``.

Each command is a thin layer over a module's ``main(argv)``; demo, bench and the tests call the same functions.
``python -m autograder <command> --help`` shows a command's options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("autograder.engine.grade", "grade a cohort's submissions into the gradebook (parallel, contained)"),
    "report": ("autograder.engine.reports", "scores.csv, pass rates with common failures, and a chart, from a gradebook"),
    "release": ("autograder.tools.release", "generate release/ from source/ (--check: say whether it is current)"),
    "demo": ("autograder.tools.demo", "build a synthetic cohort, grade it into a sqlite gradebook, print the scores"),
    "bench": ("autograder.tools.bench", "stock nbgrader autograde vs the grade command on the same cohort"),
    "time-notebook": ("autograder.tools.timing", "how long Run All of each reference notebook takes in a real kernel"),
    "mistakes-report": ("autograder.tools.mistake_report", "which banked mistakes each test cell's visible part catches"),
    "browser-check": ("autograder.tools.browser_check", "release notebooks in JupyterLab in headless Chromium"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "usage: python -m autograder <command> [options]\n\ncommands:\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run one command; an unknown or missing command prints the list of commands."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}\n\n{usage()}", end="", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    sys.argv[0] = f"python -m autograder {name}"  # what argparse shows in the command's own usage line
    return importlib.import_module(COMMANDS[name][0]).main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
