"""InertNotebook: what a student wrote cannot run in the instructor's browser, and ordinary output keeps its look."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import sys
import threading

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from autograder.course import LAYOUT, REPO_ROOT, published_assignments, release_notebook, source_notebook
from autograder.engine import grade
from autograder.engine.nbgrader.inert import MARKDOWN_NOTE, InertNotebook, html_is_inert, sanitize_html
from autograder.tools.in_process import read_notebook

PANDAS_TABLE = ('<div>\n<style scoped>\n    .dataframe tbody tr th { vertical-align: top; }\n</style>\n'
                '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">'
                '<th></th><th>loss</th></tr>\n  </thead>\n  <tbody>\n    <tr><th>0</th><td>0.5</td></tr>\n'
                '  </tbody>\n</table>\n</div>')


def _display(data: dict, metadata: dict | None = None) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata or {})


def _inert(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb, _ = InertNotebook().preprocess(nb, {})
    return nb


def _one_output(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[output])])
    return _inert(nb).cells[0].outputs[0]


def _markdown(source: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source)])
    return _inert(nb).cells[0].source


# ------------------------------------------------------------------------------------------------ HTML outputs

def test_script_in_html_is_shown_as_text():
    """Does a <script> element become visible, escaped text instead of a script?"""
    cleaned = sanitize_html("<p>결과</p><script>alert(1)</script>")
    assert cleaned == "<p>결과</p>&lt;script&gt;alert(1)&lt;/script&gt;"


def test_event_handlers_are_removed_and_the_element_kept():
    """Does ``<b onclick=...>`` keep its bold text but lose the handler?"""
    assert sanitize_html('<b onclick="alert(1)" onmouseover="alert(2)">굵게</b>') == "<b>굵게</b>"


@pytest.mark.parametrize("tag", ['<iframe src="https://x"></iframe>', '<object data="x"></object>',
                                 '<embed src="x">', '<img src=x onerror="alert(1)">', '<svg onload="alert(1)"></svg>',
                                 '<form action="https://x"><input name="grade"></form>', '<meta http-equiv="refresh">'])
def test_embeds_images_svg_and_forms_are_escaped(tag):
    """Are embeds, images, inline SVG and forms in an HTML output shown as text, never as elements?"""
    cleaned = sanitize_html(tag)
    assert "<" not in cleaned and "&lt;" in cleaned


@pytest.mark.parametrize("href", ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<script>", "evil.html",
                                  "//evil.example/x", "vbscript:x"])
def test_links_other_than_web_and_mail_lose_their_target(href):
    """Does a link to script, data, a protocol-relative host or a file served next to the notebook lose its href?"""
    assert sanitize_html(f'<a href="{href}">풀이</a>') == "<a>풀이</a>"


def test_web_links_are_kept():
    """Do https and mailto links stay clickable?"""
    assert sanitize_html('<a href="https://pytorch.org/">문서</a>') == '<a href="https://pytorch.org/">문서</a>'
    assert sanitize_html('<a href="mailto:ta@example.com">조교</a>') == '<a href="mailto:ta@example.com">조교</a>'


def test_dataframe_table_keeps_its_structure_without_css():
    """Does a pandas DataFrame table keep rows, headers and alignment, with its <style> block gone entirely?"""
    cleaned = sanitize_html(PANDAS_TABLE)
    assert "<style" not in cleaned and "vertical-align" not in cleaned and "dataframe" not in cleaned
    assert '<table border="1">' in cleaned and "<th>loss</th>" in cleaned and "<td>0.5</td>" in cleaned
    assert '<tr style="text-align: right;">' in cleaned


def test_style_attributes_keep_only_text_alignment():
    """Can a style attribute only align text, never position or hide things over the instructor's page?"""
    cleaned = sanitize_html('<table><tr><td style="position: fixed; top: 0; text-align: left; display: none">x</td>'
                            '</tr></table>')
    assert "position" not in cleaned and "display" not in cleaned and "text-align: left;" in cleaned


# ------------------------------------------------------------------------------------------------ rich outputs

@pytest.mark.parametrize("mimetype", ["application/javascript", "image/svg+xml", "text/latex",
                                      "application/vnd.jupyter.widget-view+json", "application/json"])
def test_other_rich_outputs_are_dropped_with_a_note(mimetype):
    """Is a JavaScript, SVG, LaTeX, widget or JSON output dropped, its plain text kept and a Korean note added?"""
    output = _one_output(_display({mimetype: "window.x = 1", "text/plain": "<IPython object>"}))
    assert set(output.data) == {"text/plain"}
    assert output.data["text/plain"].startswith("<IPython object>\n[채점 안내]") and mimetype in output.data["text/plain"]


def test_output_without_plain_text_gets_the_note_alone():
    """Does an output that had only JavaScript still show the instructor that something was removed?"""
    output = _one_output(_display({"application/javascript": "alert(1)"}))
    assert output.data == {"text/plain": "[채점 안내] 이 출력의 application/javascript 부분은 브라우저에서 실행될 수 있어서 지웠어요."}


def test_images_and_plain_text_are_kept_untouched():
    """Do PNG, JPEG and plain-text outputs (a matplotlib figure) stay byte for byte, with their numeric size?"""
    data = {"image/png": "iVBORw0KGgo=", "image/jpeg": "/9j/4AAQ", "text/plain": "<Figure size 200x200>"}
    output = _one_output(_display(dict(data), {"image/png": {"width": 200, "height": 100}}))
    assert dict(output.data) == data
    assert output.metadata == {"image/png": {"width": 200, "height": 100}}


def test_output_metadata_cannot_isolate_or_relink():
    """Is output metadata that makes nbconvert write an iframe or a file link dropped?"""
    output = _one_output(_display({"text/html": "<b>x</b>"}, {"text/html": {"isolated": True},
                                                              "filenames": {"image/png": "evil.html"},
                                                              "image/png": {"width": "100 onload=alert(1)"}}))
    assert output.metadata == {}


def test_markdown_output_is_kept_only_when_inert():
    """Is a Markdown display kept when it is plain markdown, and dropped when it carries raw script?"""
    plain = _one_output(_display({"text/markdown": "**굵게** `x < 0`", "text/plain": "md"}))
    live = _one_output(_display({"text/markdown": "[x](javascript:alert(1))", "text/plain": "md"}))
    assert plain.data["text/markdown"] == "**굵게** `x < 0`"
    assert "text/markdown" not in live.data


def test_stream_and_error_outputs_are_left_alone():
    """Are printed text and errors (escaped by every nbconvert template) left exactly as they were?"""
    stream = nbformat.v4.new_output("stream", name="stdout", text="<script>alert(1)</script>\n")
    error = nbformat.v4.new_output("error", ename="=X", evalue="<b>", traceback=["<b>"])
    assert _one_output(copy.deepcopy(stream)) == stream
    assert _one_output(copy.deepcopy(error)) == error


# ------------------------------------------------------------------------------------------------ markdown cells

@pytest.mark.parametrize("assignment", published_assignments())
def test_course_markdown_cells_are_kept_byte_for_byte(assignment):
    """Are all markdown cells of the course's source and release notebooks judged inert and kept unchanged?"""
    for path in (source_notebook(assignment), release_notebook(assignment)):
        nb = read_notebook(path)
        before = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
        after = [cell.source for cell in _inert(copy.deepcopy(nb)).cells if cell.cell_type == "markdown"]
        assert after == before, path


@pytest.mark.parametrize("source", [
    "**굵게**와 `x < 0`, $x^2$, https://pytorch.org",
    "| a | b |\n|:--|--:|\n| 1 | 2 |",
    "- [x] 끝냈어요\n- [ ] 아직이에요",
    "```python\nx = 1 < 2\n```",
    "![그래프](plot.png) [문서](https://pytorch.org/docs/)",
    "<b>굵게</b>를 써요",
])
def test_ordinary_markdown_is_kept(source):
    """Is a student's ordinary markdown (formatting, math, tables, task lists, code, images, <b>) kept as written?"""
    assert _markdown(source) == source


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[도움말](javascript:alert(1))",
    "[내 파일](evil.html)",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "<iframe src=https://example.com></iframe>",
    '<div style="position:fixed;top:0">가짜 점수</div>',
    "```mermaid\ngraph TD; A-->B\n```",
    "![x](attachment:missing.png)",
])
def test_live_markdown_is_shown_as_its_source(source):
    """Is a markdown cell with live HTML, a script link or a mermaid diagram shown verbatim in a code block?"""
    shown = _markdown(source)
    assert shown.startswith(MARKDOWN_NOTE) and f"\n{source}\n" in shown


def test_source_with_backticks_cannot_close_the_code_block():
    """Does a source holding a backtick fence stay inside the code block that shows it?"""
    source = "<script>alert(1)</script>\n```\n````"
    shown = _markdown(source)
    assert shown.endswith("\n`````\n") and html_is_inert(_render_markdown(shown))


def _render_markdown(source: str) -> str:
    return HTMLExporter().markdown2html({"cell": {}}, source)


def test_raw_cells_are_sanitized():
    """Is HTML in a raw cell (rendered by nbconvert for raw cells without a format) sanitized too?"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell('<a href="evil.html">x</a><script>1</script>')])
    assert _inert(nb).cells[0].source == "<a>x</a>&lt;script&gt;1&lt;/script&gt;"


def test_widget_state_is_dropped():
    """Is notebook-level widget state (which makes nbconvert load a widget renderer) removed?"""
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}, "x": 1})
    assert dict(_inert(nb).metadata) == {"x": 1}


def test_running_twice_changes_nothing_more():
    """Does feedback, which runs InertNotebook again on an autograded notebook, leave it as autograde wrote it?"""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("<script>alert(1)</script>"),
        nbformat.v4.new_code_cell("x", outputs=[_display({"application/javascript": "1", "text/html": PANDAS_TABLE,
                                                          "text/plain": "t"})]),
    ])
    once = _inert(nb)
    assert _inert(copy.deepcopy(once)) == once


def test_changed_only_regrades_when_the_inert_rules_change(tmp_path):
    """Does a change to inert.py make ``--changed-only`` regrade (an autograded notebook must not stay live)?"""
    course = tmp_path / "course"
    shutil.copytree(REPO_ROOT / "autograder", course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "source", course / "source")
    layout = dataclasses.replace(LAYOUT, root=course, grader_dir=course / "autograder")
    before = grade.GradingRun(course, "", 1, Config(), layout=layout).grading_key("00_tensors")
    inert = course / "autograder" / "engine" / "nbgrader" / "inert.py"
    inert.write_text(inert.read_text(encoding="utf-8") + "\n# one more allowed tag\n", encoding="utf-8")
    # The key is computed once per run: the next run (a new GradingRun) sees the change.
    assert grade.GradingRun(course, "", 1, Config(), layout=layout).grading_key("00_tensors") != before


def test_workers_cleaning_at_the_same_time_get_what_one_alone_gets():
    """Do grading workers sanitizing side by side still agree with one worker alone? A bleach cleaner parses into one
    html5lib parser, and two threads sharing it corrupted each other's parse (a submission failed with an
    IndexError)."""
    pages = [f"<p>{index}번 풀이</p>" + "<ul>" + "<li><b>항목</b> <i>설명</i></li>" * (20 + index % 7) + "</ul>"
             + ("<script>alert(1)</script>" if index % 3 == 0 else "") for index in range(240)]
    is_inert = getattr(html_is_inert, "__wrapped__", html_is_inert)  # each page parsed, not remembered
    alone = [(sanitize_html(page), is_inert(page)) for page in pages]
    failures: list[BaseException] = []
    together: dict[int, tuple[str, bool]] = {}

    def clean(share: range) -> None:
        try:
            for index in share:
                together[index] = (sanitize_html(pages[index]), is_inert(pages[index]))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that parses interleave
    try:
        workers = [threading.Thread(target=clean, args=(range(start, len(pages), 4),)) for start in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(previous)
    assert not failures, failures[:3]
    assert [together[index] for index in range(len(pages))] == alone
