"""Markdown students read renders as intended: no bold left as literal asterisks next to Korean particles.

CommonMark's flanking rule keeps ``**텐서(tensor)**를`` literal (the closing ``**`` sits between ``)`` and a
letter), in JupyterLab, in nbconvert's HTML (feedback) and on GitHub alike. Safe forms: ``**텐서**(tensor)를``,
``<b>텐서(tensor)</b>를``, or a space before the particle.
"""

from __future__ import annotations

import re

import mistune
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from autograder.course import REPO_ROOT, published_assignments, release_notebook, source_notebook
from autograder.tools.in_process import read_notebook

RENDERERS = {"mistune": mistune.html, "nbconvert": markdown2html_mistune}
_CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.S)


def leftover_emphasis(markdown: str, render) -> list[str]:
    """Pieces of the rendered HTML (outside code) that still hold ``**`` or ``__``."""
    html = _CODE.sub("", render(markdown))
    return re.findall(r".{0,20}(?:\*\*|__).{0,20}", html)


def _markdown_sources() -> list[tuple[str, str]]:
    sources = []
    for assignment in published_assignments():
        for path_of in (source_notebook, release_notebook):
            path = path_of(assignment)
            for index, cell in enumerate(read_notebook(path).cells):
                if cell.cell_type == "markdown":
                    sources.append((f"{path.relative_to(REPO_ROOT)} cell {index}", cell.source))
    sources.append(("README.md", (REPO_ROOT / "README.md").read_text(encoding="utf-8")))
    return sources


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_the_check_sees_the_flanking_problem(renderer):
    """Does the check find the literal asterisks of bold that ends in ')' before a particle (so it can fail)?"""
    assert leftover_emphasis("숫자를 담는 **텐서(tensor)**를 만들어요.", RENDERERS[renderer])
    assert leftover_emphasis("숫자를 담는 **텐서**(tensor)를 만들어요.", RENDERERS[renderer]) == []


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_no_bold_renders_as_literal_asterisks(renderer):
    """Does every markdown cell of source/ and release/ (and the README) render without leftover ** or __?"""
    sources = _markdown_sources()
    assert len(sources) > 10
    leftovers = {where: found for where, text in sources if (found := leftover_emphasis(text, RENDERERS[renderer]))}
    assert leftovers == {}
