"""Make what a student wrote inert before an instructor's browser renders it: a preprocessor for autograde and feedback.

formgrader renders the autograded notebook with nbconvert's HTML exporter in the instructor's own Jupyter session,
and ``nbgrader generate_feedback`` renders the same notebook to HTML. nbconvert trusts the notebook: HTML outputs,
JavaScript outputs and raw HTML in markdown cells go into the page as they are, and markdown links keep
``javascript:`` URLs. A student can therefore run script as the instructor (stored script injection).

:class:`InertNotebook` rewrites the notebook itself, so every renderer of the file is safe:

- outputs keep plain text, PNG and JPEG images, and HTML that passes an allowlist (tables and text formatting, no
  script, handlers, styles, embeds or links other than http(s)/mailto). Every other rich output (JavaScript, SVG,
  LaTeX, widgets, JSON) is dropped, with a Korean note in its plain text; output metadata keeps only image sizes;
- a markdown cell (or markdown output) is kept byte for byte when nbconvert's own rendering of it passes the allowlist;
  otherwise the cell shows its source as a code block under a note, so an instructor sees exactly what was written.
  (nbconvert's ``SanitizeHTML`` escapes ``<``, ``>`` and ``&`` in the markdown *source*, which corrupts the course's own
  cells: `` `x > 0` `` would show as ``x &gt; 0``.)

Configured in ``nbgrader_config.py`` in ``c.Autograde.autograde_preprocessors`` (after the grades are saved, so no
score depends on it) and, through :data:`autograder.engine.nbgrader.feedback.FEEDBACK_PREPROCESSORS`, in feedback.
"""

from __future__ import annotations

import functools
import re
import threading
from html.parser import HTMLParser
from typing import Any

import bleach
from bleach.css_sanitizer import CSSSanitizer
from bleach.html5lib_shim import Filter
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

KEPT_OUTPUTS = frozenset({"text/plain", "image/png", "image/jpeg"})
"""Output types shown as they are: nbconvert's templates escape text and embed images as base64 data."""
IMAGE_OUTPUTS = ("image/png", "image/jpeg")

_TEXT_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "sup",
    "u", "ul", "var",
})
_TABLE_TAGS = frozenset({"caption", "col", "colgroup", "table", "tbody", "td", "tfoot", "th", "thead", "tr"})
HTML_TAGS = _TEXT_TAGS | _TABLE_TAGS
"""Tags an HTML output may keep (pandas' DataFrame tables included); any other tag is shown escaped, as text."""
MARKDOWN_TAGS = HTML_TAGS | {"img", "input"}
"""Tags nbconvert's markdown renderer produces (images, task-list checkboxes); raw HTML may use no others."""

_SAFE_LINK = re.compile(r"^\s*(https?://|mailto:|#)", re.IGNORECASE)
_SAFE_IMAGE = re.compile(r"^\s*(https?://|data:image/(png|jpeg|gif);base64,|[\w./-]+$)", re.IGNORECASE)
_ALIGNMENT = CSSSanitizer(allowed_css_properties=["text-align"])
# Class names that nbconvert's markdown renderer and pygments emit; others could pull in the page's own styles.
_CLASS = re.compile(r"^(anchor-link|highlight|task-list-item|task-list-item-checkbox|language-[\w+-]+|[a-z]{1,3}\d?)$")


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """Whether an attribute may stay: links only to the web, images only from the web or as raster data."""
    if name == "href":
        return tag == "a" and bool(_SAFE_LINK.match(value))
    if name == "src":
        return tag == "img" and bool(_SAFE_IMAGE.match(value)) and not value.strip().startswith("//")
    if name == "class":
        return all(_CLASS.match(token) for token in value.split())
    if name == "style":
        return tag in ("tr", "th", "td")  # only text-align survives the CSS sanitizer (pandas, markdown tables)
    if name == "id":
        return tag in ("h1", "h2", "h3", "h4", "h5", "h6")  # markdown headings' anchors
    allowed = {
        "*": {"title"}, "img": {"alt", "width", "height"}, "table": {"border"}, "td": {"colspan", "rowspan", "align"},
        "th": {"colspan", "rowspan", "align", "scope"}, "col": {"span"}, "colgroup": {"span"},
        "input": {"type", "checked", "disabled"}, "ol": {"start"},
    }
    return name in allowed["*"] or name in allowed.get(tag, set())


class _DropStyleBlocks(Filter):
    """Remove ``<style>`` elements with their CSS (pandas adds one to every DataFrame; CSS can restyle the page)."""

    def __iter__(self):
        depth = 0
        for token in super().__iter__():
            if token.get("name") == "style" and token["type"] in ("StartTag", "EndTag", "EmptyTag"):
                depth += token["type"] == "StartTag"
                depth -= token["type"] == "EndTag" and depth > 0
                continue
            if depth == 0:
                yield token


_CLEANER_SETTINGS: dict[str, dict] = {
    "html": dict(tags=HTML_TAGS | {"style"}, attributes=_allowed_attribute, protocols={"http", "https", "mailto"},
                 strip=False, strip_comments=True, css_sanitizer=_ALIGNMENT, filters=[_DropStyleBlocks]),
    "markdown": dict(tags=MARKDOWN_TAGS, attributes=_allowed_attribute, protocols={"http", "https", "mailto", "data"},
                     strip=False, strip_comments=True, css_sanitizer=_ALIGNMENT),
}
_THREAD_CLEANERS = threading.local()


def _cleaner(kind: str) -> bleach.Cleaner:
    """This thread's cleaner of ``kind`` (``html`` or ``markdown``), made on its first use.

    A bleach ``Cleaner`` keeps one html5lib parser and parses into it: two grading workers cleaning at once corrupted
    each other's parse, and a submission failed with "IndexError: pop from empty list" (1 of 240 notebooks).
    """
    cleaners = _THREAD_CLEANERS.__dict__
    if kind not in cleaners:
        cleaners[kind] = bleach.Cleaner(**_CLEANER_SETTINGS[kind])
    return cleaners[kind]


def sanitize_html(text: str) -> str:
    """HTML with only allowlisted tags and attributes; other tags are escaped (visible as text), styles dropped."""
    return _cleaner("html").clean(text)


class _Tokens(HTMLParser):
    """A page as a comparable sequence: tags with their attributes, and text with entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # The CSS sanitizer rewrites "text-align:left" as "text-align: left;": the same style.
        attrs = [(name, re.sub(r"\s+|;\s*$", "", value or "") if name == "style" else value or "") for name, value in attrs]
        self.tokens.append(("start", tag, tuple(sorted(attrs))))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.tokens and self.tokens[-1][0] == "data":
            self.tokens[-1] = ("data", self.tokens[-1][1] + data)
        else:
            self.tokens.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.tokens.append(("pi", data))

    def unknown_decl(self, data: str) -> None:
        self.tokens.append(("decl", data))


def _tokens(page: str) -> list[tuple]:
    parser = _Tokens()
    parser.feed(page)
    parser.close()
    return parser.tokens


@functools.lru_cache(maxsize=2048)
def html_is_inert(page: str) -> bool:
    """Whether sanitizing ``page`` (parsed as a browser would, by html5lib) with the markdown allowlist would change
    any tag, attribute or text; remembered: most markdown of a cohort is the release's own."""
    return _tokens(_cleaner("markdown").clean(page)) == _tokens(page)


_MARKDOWN_VERDICTS: dict[tuple[str, str], bool] = {}
_MARKDOWN_VERDICTS_MAX = 4096


class InertNotebook(Preprocessor):
    """Rewrite a notebook so that nothing in it runs when nbconvert renders it (see the module docstring)."""

    enabled = Bool(True, help="Whether this preprocessor rewrites notebooks").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Rewrite every cell; drop notebook-level widget state (it makes nbconvert load a widget renderer)."""
        self._exporter = None  # made when a markdown cell must be rendered (most verdicts are remembered)
        self._rendering_key = repr(self.config)  # what else decides how markdown renders
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict, index: int) -> tuple[NotebookNode, Any]:
        """Markdown cells: kept if inert, else shown as source. Raw cells: sanitized. Code cells: their outputs."""
        if cell.cell_type == "markdown" and not self.markdown_is_inert(cell.source, cell.get("attachments", {})):
            cell.source = self.shown_as_source(cell.source)
            cell.pop("attachments", None)
        elif cell.cell_type == "raw":
            cell.source = sanitize_html(cell.source)
        for output in cell.get("outputs", []):
            self.make_output_inert(output)
        return cell, resources

    def markdown_is_inert(self, source: str, attachments: dict | None = None) -> bool:
        """Whether nbconvert's rendering of this markdown (exactly what formgrader and feedback show) is inert."""
        if attachments:
            return self._rendered_is_inert(source, attachments)
        # Most markdown of a cohort is the release's own: its verdict is remembered, per source and configuration.
        key = (getattr(self, "_rendering_key", ""), source)
        verdict = _MARKDOWN_VERDICTS.get(key)
        if verdict is None:
            verdict = self._rendered_is_inert(source, {})
            if len(_MARKDOWN_VERDICTS) >= _MARKDOWN_VERDICTS_MAX:
                _MARKDOWN_VERDICTS.clear()
            _MARKDOWN_VERDICTS[key] = verdict
        return verdict

    def _rendered_is_inert(self, source: str, attachments: dict) -> bool:
        if getattr(self, "_exporter", None) is None:
            self._exporter = HTMLExporter(config=self.config)
        try:
            rendered = self._exporter.markdown2html({"cell": {"attachments": attachments}}, source)
        except Exception:  # noqa: BLE001 - e.g. a missing attachment: what nbconvert cannot render is not kept
            return False
        return html_is_inert(rendered)

    def shown_as_source(self, source: str) -> str:
        """Markdown that shows ``source`` verbatim in a code block under a note saying why."""
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", source)), default=0))
        shown = f"{MARKDOWN_NOTE}\n\n{fence}text\n{source}\n{fence}\n"
        return shown if self.markdown_is_inert(shown) else MARKDOWN_NOTE

    def make_output_inert(self, output: NotebookNode) -> list[str]:
        """Sanitize one output in place; return the output types it lost."""
        if output.get("output_type") not in ("display_data", "execute_result"):
            return []  # stream and error text is escaped by every nbconvert template
        data = output.get("data", {})
        removed = []
        for mimetype in list(data):
            value = data[mimetype]
            text = "".join(value) if isinstance(value, list) else value
            if mimetype in KEPT_OUTPUTS:
                continue
            if mimetype == "text/html" and isinstance(text, str):
                data[mimetype] = sanitize_html(text)
            elif mimetype == "text/markdown" and isinstance(text, str) and self.markdown_is_inert(text):
                continue
            else:
                del data[mimetype]
                removed.append(mimetype)
        output.metadata = _image_sizes(output.get("metadata", {}))
        if removed:
            note = OUTPUT_NOTE.format(types=", ".join(removed))
            plain = data.get("text/plain", "")
            plain = "".join(plain) if isinstance(plain, list) else plain
            data["text/plain"] = f"{plain}\n{note}" if plain else note
        return removed


def _image_sizes(metadata: dict) -> dict:
    """Only the numeric width and height of image outputs (other keys set iframes, file links, alt text)."""
    kept: dict[str, dict] = {}
    for mimetype in IMAGE_OUTPUTS:
        sizes = metadata.get(mimetype, {}) if isinstance(metadata.get(mimetype), dict) else {}
        numbers = {key: sizes[key] for key in ("width", "height")
                   if isinstance(sizes.get(key), (int, float)) and not isinstance(sizes.get(key), bool)}
        if numbers:
            kept[mimetype] = numbers
    return kept


MARKDOWN_NOTE = ("**[채점 안내]** 이 셀에는 브라우저에서 실행될 수 있는 내용(HTML 태그, 스크립트, 링크 등)이 있어서 "
                 "원문을 글자 그대로 보여 줘요.")
OUTPUT_NOTE = "[채점 안내] 이 출력의 {types} 부분은 브라우저에서 실행될 수 있어서 지웠어요."
