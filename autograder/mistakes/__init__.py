"""The mistake bank: realistic wrong answers that must lose points on the test cells they aim at.

Each assignment topic has a module here (``autograder/mistakes/tensors.py`` for ``00_tensors``) defining
``MISTAKES``, a list of :class:`Mistake`. A mistake is stored as replacement source for one or more solution cells.
Correct answers written differently from the reference live in ``ALTERNATIVES`` in the same module: they must
still score full marks.

Every mistake also carries what a student is told when grading recognises it (:mod:`autograder.diagnosis`): a short
Korean ``label`` naming the misconception (also the instructors' report shows it) and a Korean ``hint``: the
misconception in one sentence and what to look at again, in the seed's 해요체, never the solution's code and never
hidden test source (``tests/test_diagnosis.py`` lints both). Mistakes that behave identically on every input the
hidden check gives them are ``twins`` of each other: grading names them together.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from textwrap import dedent

from autograder.course import topic


def cell(source: str) -> str:
    """A cell's source as a bank writes it: an indented triple-quoted block, dedented, without outer blank lines."""
    return dedent(source).strip("\n")


@dataclass(frozen=True)
class Mistake:
    """A wrong answer students really give, and the test cells it must lose points on."""

    name: str
    why: str
    replaces: dict[str, str]
    loses_on: tuple[str, ...]
    warned_in_text: bool = False
    """The exercise's text cautions against this mistake, so the cell's visible part must catch it too."""
    label: str = ""
    """The misconception in a few Korean words, a noun phrase ("전역 시드(global seed) 바꾸기"): names it to students
    and in the reports."""
    hint: str = ""
    """What a student whose answer behaves like this mistake reads: the misconception in one Korean sentence and
    what to look at again (해요체; never the solution's code, never hidden test source)."""
    twins: tuple[str, ...] = ()
    """Other mistakes of the bank that the hidden check cannot tell from this one; grading names them together."""


@dataclass(frozen=True)
class Alternative:
    """A correct answer written differently from the reference; it must score full marks."""

    name: str
    replaces: dict[str, str]


def mistakes_for(assignment: str) -> list[Mistake]:
    """The mistake bank of ``assignment``."""
    return list(importlib.import_module(f"autograder.mistakes.{topic(assignment)}").MISTAKES)


def alternatives_for(assignment: str) -> list[Alternative]:
    """The correct-but-different answers of ``assignment``."""
    return list(importlib.import_module(f"autograder.mistakes.{topic(assignment)}").ALTERNATIVES)
