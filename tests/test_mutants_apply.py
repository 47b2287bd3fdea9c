"""Every mutant of ``make mutants`` still applies to the tree as it is (its replaced text occurs exactly once).

``make mutants`` takes about 45 minutes and is not part of ``make test``; this check is instant, so an edit that
moves a mutant's text is noticed in the suite, not on the next mutation run.
"""

from __future__ import annotations

import mutants
import pytest

from autograder.course import REPO_ROOT


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=[m.name for m in mutants.MUTANTS])
def test_mutant_applies_exactly_once(mutant):
    """Does each edit of this mutant find its text exactly once, in order, so the mutant switches its defence off?"""
    texts: dict[str, str] = {}
    for relative, old, new in mutant.edits:
        text = texts.setdefault(relative, (REPO_ROOT / relative).read_text(encoding="utf-8"))
        assert text.count(old) == 1, f"{relative}: the text of mutant {mutant.name} occurs {text.count(old)} times"
        texts[relative] = text.replace(old, new)
        assert texts[relative] != text
    assert mutant.tests, "a mutant names the tests that must fail"
