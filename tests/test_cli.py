"""``python -m autograder <command>``: one command line over the modules' ``main(argv)`` functions."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from autograder.__main__ import COMMANDS, main
from autograder.course import REPO_ROOT


def test_no_command_lists_every_command(capsys):
    """Does ``python -m autograder`` alone list the commands (and exit 2, as a usage error)?"""
    assert main([]) == 2
    listed = capsys.readouterr().out
    assert all(name in listed for name in COMMANDS)


def test_unknown_command_is_refused_with_the_list(capsys):
    """Does an unknown command exit 2 and print the commands that exist?"""
    assert main(["grades"]) == 2
    assert "unknown command 'grades'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_a_main_taking_its_arguments(name):
    """Does each command's module have ``main(argv)``, so that the command line and the tests call one function?"""
    function = importlib.import_module(COMMANDS[name][0]).main
    assert list(inspect.signature(function).parameters) == ["argv"]


def test_a_command_shows_its_own_options_under_its_name():
    """Does ``python -m autograder grade --help`` show the grading command's options under the new name?"""
    completed = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith("usage: python -m autograder grade") and "--changed-only" in completed.stdout
