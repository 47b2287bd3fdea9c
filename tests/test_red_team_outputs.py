"""Red team, outputs: what grading shows an instructor is inert, in the browser, the spreadsheet and the terminal.

Students aim at the instructor instead of the score: script in HTML outputs, event handlers, JavaScript and SVG
outputs, raw HTML in markdown cells, a student id and an exception class that a spreadsheet runs as formulas, and
file names or paths holding terminal escape codes. Innocent look-alikes (an HTML table, a matplotlib figure, printed
tags, markdown notes) must keep their output and full marks with no flag. Runs:

- *control*: stock nbgrader with none of the course's configuration (shows every browser attack is live there);
- *command*: ``python -m autograder.engine.grade``; *plain_nbgrader*: ``nbgrader autograde`` with ``nbgrader_config.py``.

Artifacts are read directly: the formgrader page (rendered exactly as formgrader's SubmissionHandler does), the
HTML of ``nbgrader generate_feedback``, the CSV files of ``autograder.engine.reports`` and ``nbgrader export``, and the
grading command's stdout. Every run grades the engine's fixture course (tests/fixture_course), selected for the module
and its processes.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from textwrap import dedent

import nbformat
import pytest
import redteam
from nbconvert.exporters import HTMLExporter
from nbgrader.converters import GenerateFeedback
from nbgrader.server_extensions.formgrader import handlers as formgrader_handlers

from autograder.engine import grade
from autograder.tools.bench import stock_course
from autograder.tools.cohort import reference_solutions, submission
from autograder.tools.demo import autograde_stock, db_url, nbgrader_command, register_assignment
from autograder.tools.release import generate, nbgrader_env

pytestmark = pytest.mark.usefixtures("fixture_course_selected")

ROOT = redteam.COURSE.root
ASSIGNMENT = redteam.ASSIGNMENT
FULL_MARKS = redteam.FULL_MARKS
LIMITS = ["ContainedExecute.timeout=30", "ContainedExecute.notebook_timeout=120"]
MARK = "REDTEAM_XSS_"
FIRST = redteam.FIRST
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA_STUDENT = "=SUM(1+1)"
HYPERLINK_CLASS = '=HYPERLINK("http://x","y")'
ESCAPES = "\x1b[2K\x1b[1A\x1b[2K"
ESCAPE_FILE = f"torch.{ESCAPES}.py"  # shadows torch, so intake reports it in a FIXED line


@dataclass(frozen=True)
class BrowserAttack:
    """One way to put live script in front of an instructor; ``code`` runs in a solution cell, ``markdown`` is a cell."""

    name: str
    student: str
    code: str = ""
    markdown: str = ""
    edits_course_markdown: bool = False

    @property
    def marker(self) -> str:
        return MARK + self.name


def _attack(name: str, student: str, template: str, **kind: bool) -> BrowserAttack:
    text = template.replace("{m}", MARK + name)
    if kind.get("markdown"):
        return BrowserAttack(name, student, markdown=text, edits_course_markdown=kind.get("edit", False))
    return BrowserAttack(name, student, code=text)


BROWSER_ATTACKS = [
    # HTML outputs (IPython.display.HTML)
    _attack("html_script", "xss_html", 'display(HTML("<p>결과</p><script>window.{m} = 1</script>"))'),
    _attack("img_onerror", "xss_html", """display(HTML('<img src="x" onerror="window.{m} = 1">'))"""),
    _attack("iframe_object_embed", "xss_html", dedent("""
        display(HTML('<iframe src="javascript:window.{m}=1"></iframe><object data="javascript:window.{m}=2"></object>'
                     '<embed src="javascript:window.{m}=3">'))""").strip()),
    _attack("javascript_link", "xss_html", """display(HTML('<a href="javascript:window.{m}=1">풀이 보기</a>'))"""),
    _attack("inline_svg_onload", "xss_html", """display(HTML('<svg onload="window.{m}=1"><circle r="3"/></svg>'))"""),
    _attack("isolated_html_iframe", "xss_html", dedent("""
        display({"text/html": "<b>격리</b><script>window.{m}=1</script>"}, raw=True,
                metadata={"text/html": {"isolated": True}})""").strip()),
    # other rich outputs
    _attack("javascript_output", "xss_rich", "display(Javascript('window.{m} = 1'))"),
    _attack("svg_script", "xss_rich", dedent("""
        display({"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"><script>window.{m}=1</script>'
                                  '<circle r="3"/></svg>', "text/plain": "<svg>"}, raw=True)""").strip()),
    _attack("markdown_output", "xss_rich",
            """display(Markdown('<img src=x onerror="window.{m}=1"> [도움말](javascript:window.{m}=2)'))"""),
    # markdown cells: one the student added, one of the course's own cells edited
    _attack("markdown_cell", "xss_markdown", dedent("""
        ## 제 풀이 설명
        <script>window.{m} = 1</script>
        <img src=x onerror="window.{m} = 2">
        [도움말](javascript:window.{m}=3)""").strip(), markdown=True),
    _attack("edited_course_markdown", "xss_markdown", '\n\n<svg onload="window.{m}=1"></svg>', markdown=True,
            edit=True),
]
ATTACK_NAMES = [attack.name for attack in BROWSER_ATTACKS]
BROWSER_STUDENTS = sorted({attack.student for attack in BROWSER_ATTACKS})
SENTINEL = "출력 공격을 실행했어요"
MARKDOWN_SENTINEL = "제 풀이 설명"
COURSE_HEADING = "픽스처 과제: 채점 엔진 시험용"

DATAFRAME_HTML = dedent("""
    <div>
    <style scoped>
        .dataframe tbody tr th:only-of-type { vertical-align: middle; }
        .dataframe thead th { text-align: right; }
    </style>
    <table border="1" class="dataframe">
      <thead>
        <tr style="text-align: right;"><th></th><th>손실</th><th>정확도</th></tr>
      </thead>
      <tbody>
        <tr><th>0</th><td>0.52</td><td>0.81</td></tr>
      </tbody>
    </table>
    </div>""").strip()
PRINTED_TAGS = "<b>굵게</b>는 태그가 아니라 글자예요 & x < 0"
NOTES_MARKDOWN = dedent("""
    ### 제 메모
    **중요**: `x < 0`이면 0으로 바꿔요.

    | 입력 | 출력 |
    |---|---|
    | -1 | 0 |

    [PyTorch 문서](https://pytorch.org/docs/stable/)""").strip()
INNOCENT_CODE = {
    "innocent_html_table": f"from IPython.display import HTML, display\ndisplay(HTML({DATAFRAME_HTML!r}))",
    "innocent_matplotlib": dedent("""
        import matplotlib.pyplot as plt
        plt.figure(figsize=(2, 2))
        plt.plot([0, 1], [0, 1])
        plt.show()"""),
    "innocent_prints_and_notes": f"print({PRINTED_TAGS!r})",
}
INNOCENTS = sorted(INNOCENT_CODE)

TERMINAL_FILE_STUDENT = "terminal_file_name"
TERMINAL_PATH_STUDENT = "terminal_access_path"
ACCESS_PATH = str(ROOT / "hidden" / f"{ESCAPES}\rgraded ok")


# ------------------------------------------------------------------------------------------------ the cohort

def _notebook(replacements: dict[str, str], markdown: list[BrowserAttack] = (), notes: str = "") -> nbformat.NotebookNode:
    nb = submission(ASSIGNMENT, replacements)
    first_markdown = next(cell for cell in nb.cells if cell.cell_type == "markdown")
    for attack in markdown:
        if attack.edits_course_markdown:
            first_markdown.source += attack.markdown
        else:
            nb.cells.insert(2, nbformat.v4.new_markdown_cell(attack.markdown))
    if notes:
        nb.cells.insert(2, nbformat.v4.new_markdown_cell(notes))
    return nb


def _write(submitted: Path, student: str, nb: nbformat.NotebookNode, extra_files: dict[str, str] | None = None) -> None:
    folder = submitted / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{ASSIGNMENT}.ipynb"))
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")


def write_browser_attackers(submitted: Path) -> None:
    """Reference solutions (full marks) plus browser attacks: code in the first solution cell, or markdown cells."""
    reference = reference_solutions(ASSIGNMENT)
    for student in BROWSER_STUDENTS:
        mine = [attack for attack in BROWSER_ATTACKS if attack.student == student]
        code = [attack.code for attack in mine if attack.code]
        cells = dict(reference)
        if code:
            cells[FIRST] = "\n".join([reference[FIRST], "from IPython.display import HTML, Javascript, Markdown, display",
                                       f"print({SENTINEL!r})", *code])
        _write(submitted, student, _notebook(cells, [attack for attack in mine if attack.markdown]))


def write_cohort(submitted: Path) -> None:
    """Browser attackers, spreadsheet and terminal attackers, and innocent look-alikes."""
    write_browser_attackers(submitted)
    reference = reference_solutions(ASSIGNMENT)
    _write(submitted, FORMULA_STUDENT, _notebook(reference))
    hyperlink = dedent(f"""
        _Formula = type({HYPERLINK_CLASS!r}, (Exception,), {{}})
        def column_sums(x):
            raise _Formula({ESCAPES + "음수를 처리하지 못했어요"!r})""")
    _write(submitted, "formula_exception", _notebook({**reference, redteam.JUDGED: hyperlink}))
    # Flagged for tampering, and a file whose name erases that FLAG line on an ANSI terminal.
    tamper = {**reference, redteam.TAMPER_CELL: f"{reference[redteam.TAMPER_CELL]}\n{redteam.TAMPER_CODE}"}
    _write(submitted, TERMINAL_FILE_STUDENT, _notebook(tamper), {ESCAPE_FILE: "import sys\n"})
    # Flagged for forbidden access, with escape codes in the path it reached for.
    reach = f"try:\n    open({ACCESS_PATH!r})\nexcept OSError:\n    pass"
    _write(submitted, TERMINAL_PATH_STUDENT, _notebook({**reference, FIRST: f"{reference[FIRST]}\n{reach}"}))
    for student, code in INNOCENT_CODE.items():
        notes = NOTES_MARKDOWN if student == "innocent_prints_and_notes" else ""
        _write(submitted, student, _notebook({**reference, FIRST: f"{reference[FIRST]}\n{code}"}, notes=notes))


def students(submitted: Path) -> list[str]:
    return sorted(path.name for path in submitted.iterdir())


# ------------------------------------------------------------------------------------------------ reading artifacts

def formgrader_page(notebook: Path, config=None) -> str:
    """The page formgrader's SubmissionHandler serves for this autograded notebook, with the course's configuration."""
    config = config if config is not None else grade.load_config(ROOT)
    config.HTMLExporter.template_name = "formgrade"  # what FormgradeExtension.build_extra_config sets
    config.HTMLExporter.extra_template_basedirs = [formgrader_handlers.template_path]
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": ASSIGNMENT, "submission_id": "id", "index": 0,
                 "total": 1, "base_url": "", "student": notebook.parent.parent.name, "last_name": None,
                 "first_name": None, "notebook_path": "autograded/x.ipynb"}
    page, _ = HTMLExporter(config=config).from_filename(str(notebook), resources=resources)
    return page


class _LiveContent(HTMLParser):
    """Collects what a browser would run: script text, event handlers, script URLs, embedded documents."""

    EMBEDS = {"iframe", "frame", "object", "embed", "applet"}
    URL_ATTRIBUTES = {"href", "src", "data", "action", "formaction", "xlink:href", "srcdoc", "background", "poster"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.EMBEDS:
            self.found.append(f"<{tag} {attrs}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES:
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                if url.startswith(("javascript:", "vbscript:")):
                    self.found.append(f"<{tag} {name}={value[:80]!r}>")
                elif url.startswith("data:"):
                    self.found.append(f"<{tag} {name}=data:...{_decoded_data_url(value)[:200]!r}>")
        if tag == "script":
            self._script = [str(dict(attrs).get("src") or "")]

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.found.append("<script>" + "".join(self._script))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)


def _decoded_data_url(url: str) -> str:
    header, _, payload = url.partition(",")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload).decode("utf-8", "replace")
        except ValueError:
            return payload
    return payload


def live_content(page: str, marker: str, *, any_embed: bool = True) -> list[str]:
    """Live script, handlers and script URLs of the page that carry ``marker``, and (``any_embed``) every embed."""
    parser = _LiveContent()
    parser.feed(page)
    parser.close()
    embeds = tuple(f"<{tag} " for tag in parser.EMBEDS)
    return [item for item in parser.found if marker in item or (any_embed and item.startswith(embeds))]


def visible_text(page: str) -> str:
    """Text a reader sees: body only, script and style blocks removed, tags removed, entities decoded."""
    body = page[page.index("<body"):]
    body = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


class _Outputs(HTMLParser):
    """What the page shows in its output areas (nbconvert's ``output_subarea`` divs): text, images, table cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images: list[str] = []
        self.cells: list[str] = []
        self.styles = 0
        self._divs: list[bool] = []
        self._in_cell = False
        self._hidden = 0

    @property
    def inside(self) -> bool:
        return any(self._divs)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div":
            self._divs.append("output_subarea" in (attributes.get("class") or "").split())
        elif tag in ("script", "style"):
            self._hidden += 1
            self.styles += tag == "style" and self.inside
        elif self.inside and tag == "img":
            self.images.append(attributes.get("src") or "")
        elif self.inside and tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._divs:
            self._divs.pop()
        elif tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self.inside and not self._hidden:
            self.text.append(data)
            if self._in_cell:
                self.cells[-1] += data


def outputs(page: str) -> _Outputs:
    """The output areas of a rendered notebook page."""
    parser = _Outputs()
    parser.feed(page)
    parser.close()
    return parser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def table_cells(page: str) -> list[str]:
    """Text of every real <td>/<th> element of the page."""
    parser = _Tables()
    parser.feed(page)
    return [cell.strip() for cell in parser.cells]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.reader(file))


def formula_cells(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would run as a formula: text starting with a trigger that is not a plain number."""
    found = []
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_TRIGGERS):
                try:
                    float(cell)
                except ValueError:
                    found.append(cell)
    return found


# ------------------------------------------------------------------------------------------------ runs

def _feedback(workdir: Path, *extra: str, root: Path = ROOT) -> subprocess.CompletedProcess:
    completed = subprocess.run(nbgrader_command("generate_feedback", ASSIGNMENT, workdir, "--force", *extra),
                               cwd=root, env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def _stock_feedback_arguments() -> list[str]:
    defaults = GenerateFeedback.class_traits()["preprocessors"].default()
    return [f"--GenerateFeedback.preprocessors={cls.__module__}.{cls.__qualname__}" for cls in defaults]


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    """Browser attackers graded by stock nbgrader (no course configuration); feedback both stock and the course's."""
    workdir = tmp_path_factory.mktemp("outputs_control")
    write_browser_attackers(workdir / "submitted")
    root = stock_course(workdir / "stock_course")
    with tempfile.TemporaryDirectory() as scratch:
        generate(ASSIGNMENT, Path(scratch), root, db_url=db_url(workdir))
    completed = autograde_stock(ASSIGNMENT, workdir, "--Execute.timeout=30", root=root)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    _feedback(workdir, root=root)
    shutil.move(workdir / "feedback", workdir / "feedback_stock")
    _feedback(workdir)  # the course's feedback settings, on notebooks that stock nbgrader autograded
    return workdir


@pytest.fixture(scope="module", params=["command", "plain_nbgrader"])
def graded(request, tmp_path_factory):
    """The whole cohort graded with the course's configuration, then feedback, reports and export."""
    workdir = tmp_path_factory.mktemp(f"outputs_{request.param}")
    write_cohort(workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    results = None
    if request.param == "command":
        results_file = workdir / "results.json"
        completed = subprocess.run(
            [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(ROOT), "--no-progress",
             "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
             "--db", db_url(workdir), "--json", str(results_file),
             *[arg for limit in LIMITS for arg in ("--set", limit)]],
            cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=1200,
        )
        results = {r["student"]: r for r in json.loads(results_file.read_text())} if results_file.exists() else {}
    else:
        completed = autograde_stock(ASSIGNMENT, workdir, *[f"--{limit}" for limit in LIMITS])
    _feedback(workdir)
    outcomes = {student: redteam.read_outcome(workdir, db_url(workdir), student, results=results,
                                              flag_kinds=grade.FLAG_KINDS, log=completed.stdout + completed.stderr)
                for student in students(workdir / "submitted")}
    return request.param, workdir, outcomes, completed


def _autograded(workdir: Path, student: str) -> Path:
    return workdir / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _feedback_page(workdir: Path, student: str, folder: str = "feedback") -> str:
    return (workdir / folder / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")


def _browser_attack(name: str) -> BrowserAttack:
    return next(attack for attack in BROWSER_ATTACKS if attack.name == name)


def _ran(attack: BrowserAttack, page: str) -> bool:
    """Whether the page shows the attacker's work: the sentinel its code prints, or the text of its markdown."""
    if attack.code:
        return SENTINEL in "".join(outputs(page).text)
    return (COURSE_HEADING if attack.edits_course_markdown else MARKDOWN_SENTINEL) in visible_text(page)


# ------------------------------------------------------------------------------------------------ control

@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_browser_attack_is_live_when_its_defence_is_off(control, name):
    """Under stock nbgrader, does this attack put live script in the formgrader page and in the feedback?"""
    attack = _browser_attack(name)
    formgrader = formgrader_page(_autograded(control, attack.student), config=grade.load_config(
        control / "stock_course"))
    assert live_content(formgrader, attack.marker, any_embed=False), f"{name} is not live in stock formgrader"
    assert live_content(_feedback_page(control, attack.student, "feedback_stock"), attack.marker, any_embed=False)


@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_course_feedback_is_inert_even_for_a_notebook_stock_nbgrader_graded(control, name):
    """Is the course's feedback inert on its own, for an autograded notebook that no course preprocessor touched?"""
    attack = _browser_attack(name)
    page = _feedback_page(control, attack.student)
    assert _ran(attack, page), visible_text(page)[:2000]
    assert live_content(page, attack.marker) == []


# ------------------------------------------------------------------------------------------------ defended

@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_browser_attack_is_inert_in_the_formgrader_page(graded, name):
    """Does the page formgrader renders for this attacker carry none of its script, handlers or embeds?"""
    mode, workdir, outcomes, completed = graded
    attack = _browser_attack(name)
    outcome = outcomes[attack.student]
    assert outcome.graded, f"{outcome.status}\n{completed.stdout[-2000:]}"
    page = formgrader_page(_autograded(workdir, attack.student))
    assert _ran(attack, page), visible_text(page)[:2000]
    assert live_content(page, attack.marker) == [], mode


@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_browser_attack_is_inert_in_the_feedback(graded, name):
    """Does the feedback HTML of this attacker carry none of its script, handlers or embeds?"""
    mode, workdir, _, _ = graded
    attack = _browser_attack(name)
    page = _feedback_page(workdir, attack.student)
    assert _ran(attack, page), visible_text(page)[:2000]
    assert live_content(page, attack.marker) == [], mode


@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("student", BROWSER_STUDENTS)
def test_browser_attackers_keep_their_marks(graded, student):
    """Is a correct notebook that also attacks the instructor's browser graded normally (full marks)?"""
    _, _, outcomes, completed = graded
    outcome = outcomes[student]
    assert outcome.graded, f"{outcome.status}\n{completed.stdout[-2000:]}"
    assert sum(outcome.scores.values()) == FULL_MARKS, outcome.scores


@pytest.mark.xdist_group("red_team_outputs")
@pytest.mark.parametrize("innocent", INNOCENTS)
def test_innocent_look_alike_keeps_full_marks_without_flag(graded, innocent):
    """Does a student with tables, plots, printed tags or markdown notes keep full marks with no flag?"""
    _, _, outcomes, completed = graded
    outcome = outcomes[innocent]
    assert outcome.graded, f"{outcome.status}\n{completed.stdout[-2000:]}"
    assert sum(outcome.scores.values()) == FULL_MARKS, outcome.scores
    assert outcome.flags == set()


def _innocent_pages(workdir: Path, student: str) -> dict[str, str]:
    return {"formgrader": formgrader_page(_autograded(workdir, student)), "feedback": _feedback_page(workdir, student)}


@pytest.mark.xdist_group("red_team_outputs")
def test_html_table_output_stays_a_table(graded):
    """Does a DataFrame-like HTML table stay a table, with its CSS neither shown as text nor restyling the page?"""
    mode, workdir, _, _ = graded
    for where, page in _innocent_pages(workdir, "innocent_html_table").items():
        shown = outputs(page)
        cells = [cell.strip() for cell in shown.cells]
        expected = ["", "손실", "정확도", "0", "0.52", "0.81"]
        assert any(cells[i:i + len(expected)] == expected for i in range(len(cells))), (mode, where, cells)
        assert "vertical-align" not in "".join(shown.text) and shown.styles == 0, (mode, where)


@pytest.mark.xdist_group("red_team_outputs")
def test_matplotlib_figure_stays_an_image(graded):
    """Is a matplotlib figure shown as a PNG image in the formgrader page and in the feedback?"""
    mode, workdir, _, _ = graded
    for where, page in _innocent_pages(workdir, "innocent_matplotlib").items():
        images = outputs(page).images
        assert any(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in images), (mode, where, images)


@pytest.mark.xdist_group("red_team_outputs")
def test_printed_tags_stay_visible_text(graded):
    """Does a plain print of ``<b>`` text show as that exact text, neither rendered bold nor mangled?"""
    mode, workdir, _, _ = graded
    for where, page in _innocent_pages(workdir, "innocent_prints_and_notes").items():
        assert PRINTED_TAGS in "".join(outputs(page).text), (mode, where)


@pytest.mark.xdist_group("red_team_outputs")
def test_markdown_notes_render_unchanged(graded):
    """Does a student's plain markdown cell keep its source and render bold, code, table and link as markdown?"""
    mode, workdir, _, _ = graded
    nb = nbformat.read(str(_autograded(workdir, "innocent_prints_and_notes")), as_version=4)
    assert NOTES_MARKDOWN in [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    for where, page in _innocent_pages(workdir, "innocent_prints_and_notes").items():
        assert "<strong>중요</strong>" in page and "<code>x &lt; 0</code>" in page, (mode, where)
        assert '<a href="https://pytorch.org/docs/stable/">PyTorch 문서</a>' in page, (mode, where)
        assert {"입력", "출력", "-1", "0"} <= set(table_cells(page)), (mode, where)


@pytest.mark.xdist_group("red_team_outputs")
def test_course_markdown_cells_are_untouched(graded):
    """Are the course's own markdown cells byte-identical in an innocent student's autograded notebook?"""
    _, workdir, _, _ = graded
    released = [c.source for c in submission(ASSIGNMENT, {}).cells if c.cell_type == "markdown"]
    nb = nbformat.read(str(_autograded(workdir, "innocent_html_table")), as_version=4)
    assert [c.source for c in nb.cells if c.cell_type == "markdown"] == released


# ------------------------------------------------------------------------------------------------ spreadsheets

@pytest.fixture(scope="module")
def report_files(graded, tmp_path_factory):
    """scores.csv and pass_rates.csv written by ``python -m autograder.engine.reports`` for the graded cohort."""
    mode, workdir, _, _ = graded
    out = tmp_path_factory.mktemp(f"reports_{mode}")
    completed = subprocess.run(
        [sys.executable, "-m", "autograder.engine.reports", ASSIGNMENT, "--db", db_url(workdir),
         "--autograded-dir", str(workdir / "autograded"), "--out", str(out)],
        cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return mode, out, completed.stdout


@pytest.mark.xdist_group("red_team_outputs")
def test_scores_csv_shows_a_formula_student_id_as_text(report_files):
    """Is the student id ``=SUM(1+1)`` written so that a spreadsheet shows it as text, with its score intact?"""
    mode, out, _ = report_files
    rows = read_csv(out / "scores.csv")
    row = next((r for r in rows if "SUM(1+1)" in r[0]), None)
    assert row is not None, rows
    assert row[0] == "'" + FORMULA_STUDENT and row[1:] == [f"{FULL_MARKS:g}", f"{FULL_MARKS:g}", ""], (mode, row)
    assert formula_cells(rows) == [], mode


@pytest.mark.xdist_group("red_team_outputs")
def test_pass_rates_csv_shows_a_formula_exception_as_text(report_files):
    """Is a failure message that starts with an exception class named ``=HYPERLINK(...)`` written as text?"""
    mode, out, _ = report_files
    rows = read_csv(out / "pass_rates.csv")
    hits = [cell for row in rows for cell in row if "HYPERLINK" in cell]
    assert any(cell.startswith("'" + HYPERLINK_CLASS + ": ") for cell in hits), (mode, hits)
    assert formula_cells(rows) == [], mode


@pytest.fixture(scope="module")
def exports(graded, tmp_path_factory):
    """``nbgrader export`` of the cohort's gradebook: with the course's configuration and with nbgrader's own plugin."""
    mode, workdir, _, _ = graded
    out = tmp_path_factory.mktemp(f"export_{mode}")
    files = {}
    for name, extra in (("course", []), ("stock", ["--ExportApp.plugin_class=nbgrader.plugins.export.CsvExportPlugin"])):
        files[name] = out / f"{name}.csv"
        completed = subprocess.run(
            [sys.executable, "-m", "nbgrader", "export", f"--db={db_url(workdir)}", f"--to={files[name]}", *extra],
            cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stdout + completed.stderr
    return mode, files


@pytest.mark.xdist_group("red_team_outputs")
def test_nbgrader_export_shows_a_formula_student_id_as_text(exports):
    """Does ``nbgrader export`` with the course's configuration write ``=SUM(1+1)`` as text and no formula at all?"""
    mode, files = exports
    rows = read_csv(files["course"])
    ids = [row[3] for row in rows[1:]]
    assert "'" + FORMULA_STUDENT in ids, (mode, ids)
    assert formula_cells(rows) == [], mode


@pytest.mark.xdist_group("red_team_outputs")
def test_nbgrader_export_keeps_every_ordinary_row(exports):
    """Are all rows of students with ordinary ids exactly what nbgrader's own CSV export writes?"""
    mode, files = exports
    course, stock = read_csv(files["course"]), read_csv(files["stock"])
    assert course[0] == stock[0]
    assert len(stock) == len(students_of(stock)) + 1 and FORMULA_STUDENT in students_of(stock), stock
    assert [row for row in course if row[3] != "'" + FORMULA_STUDENT] == \
        [row for row in stock if row[3] != FORMULA_STUDENT], mode
    (course_row,) = [row for row in course if row[3] == "'" + FORMULA_STUDENT]
    (stock_row,) = [row for row in stock if row[3] == FORMULA_STUDENT]
    assert course_row[:3] + course_row[4:] == stock_row[:3] + stock_row[4:], mode


def students_of(rows: list[list[str]]) -> list[str]:
    return [row[3] for row in rows[1:]]


# ------------------------------------------------------------------------------------------------ the terminal

def _summary_line(stdout: str, label: str, student: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.lstrip().startswith(label) and f"/{student}:" in line]


def _raw_controls(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if (ord(ch) < 32 and ch != "\n") or 0x7f <= ord(ch) < 0xa0})


@pytest.mark.xdist_group("red_team_outputs")
def test_grading_prints_no_raw_control_characters(graded):
    """Does grading print a submitted file name's escape codes visibly, and no raw control character at all?

    The command prints it in a FIXED line of its summary; plain nbgrader in its ``Copying ...`` log line.
    """
    mode, _, _, completed = graded
    printed = completed.stdout + completed.stderr
    assert "torch.\\x1b[2K\\x1b[1A\\x1b[2K.py" in printed, (mode, printed[-3000:])
    assert _raw_controls(printed) == [], (mode, printed[-3000:])


@pytest.mark.xdist_group("red_team_outputs")
def test_file_name_with_escape_codes_cannot_hide_a_flag(graded):
    """Is a tampering student's FLAG line followed by a FIXED line that shows the file name's escape codes visibly?"""
    mode, _, _, completed = graded
    if mode != "command":
        pytest.skip("plain nbgrader prints no summary")
    assert _summary_line(completed.stdout, "FLAG", TERMINAL_FILE_STUDENT), completed.stdout
    (fixed,) = _summary_line(completed.stdout, "FIXED", TERMINAL_FILE_STUDENT)
    assert "torch.\\x1b[2K\\x1b[1A\\x1b[2K.py" in fixed, fixed


@pytest.mark.xdist_group("red_team_outputs")
def test_path_with_escape_codes_in_a_flag_is_shown_visibly(graded):
    """Does the forbidden-access FLAG line show the path's escape codes and carriage return as visible escapes?"""
    mode, _, _, completed = graded
    if mode != "command":
        pytest.skip("plain nbgrader prints no summary")
    lines = _summary_line(completed.stdout, "FLAG", TERMINAL_PATH_STUDENT)
    assert any("\\x1b[2K\\x1b[1A\\x1b[2K\\rgraded ok" in line for line in lines), completed.stdout


@pytest.mark.xdist_group("red_team_outputs")
def test_reports_summary_has_no_raw_control_characters(report_files):
    """Does the reports command print failure messages without raw control characters?"""
    _, _, stdout = report_files
    assert "HYPERLINK" in stdout, stdout
    assert _raw_controls(stdout) == [], stdout
