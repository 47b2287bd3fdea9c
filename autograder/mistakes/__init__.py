"""The mistake bank: realistic wrong answers that must lose points on the test cells they aim at.

Each assignment topic has a module here (``autograder/mistakes/tensors.py`` for ``00_tensors``) defining
``MISTAKES``, a list of :class:`Mistake`. A mistake is stored as replacement source for one or more solution cells.
Correct answers written differently from the reference live in ``ALTERNATIVES`` in the same module: they must
still score full marks.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from autograder.course import topic


@dataclass(frozen=True)
class Mistake:
    """A wrong answer students really give, and the test cells it must lose points on."""

    name: str
    why: str
    replaces: dict[str, str]
    loses_on: tuple[str, ...]
    warned_in_text: bool = False
    """The exercise's text cautions against this mistake, so the cell's visible part must catch it too."""


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
