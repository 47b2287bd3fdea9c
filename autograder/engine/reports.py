"""Reports an instructor reads after grading: a score table, per-test pass rates with common failures, a chart.

Usage: ``python -m autograder report <assignment> --db <url> --autograded-dir <dir> --out <dir>`` writes
``scores.csv`` (every student x every assignment in the gradebook), ``pass_rates.csv`` (each test cell of the
assignment: how many passed and the most common failure messages), ``misconceptions.csv`` (each test cell: how many
students each banked misconception was diagnosed in, how many failures were not recognised and their most common
messages: candidates for new bank entries) and ``report.png`` (score distribution, pass rates and the top
misconceptions, labelled in Korean), and prints a short summary. Diagnoses are read from the grader's own record
(``<notebook>.grading.json``, see :mod:`autograder.diagnosis`), never from what a notebook shows. CSV files are
UTF-8 with a BOM so that Excel shows Hangul.
Student ids and failure messages come from submissions: their CSV cells never start a formula
(``autograder.engine.spreadsheet``) and the terminal summary shows control characters as visible escapes
(``autograder.engine.terminal``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import nbformat
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from nbgrader.api import Gradebook, MissingEntry, Notebook, SubmittedAssignment

from autograder.engine.cells import is_test_cell
from autograder.engine.incidents import RECORD_SUFFIX
from autograder.engine.layout import course_layout
from autograder.engine.spreadsheet import spreadsheet_text
from autograder.engine.terminal import printable

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # koreanize_matplotlib 0.1.1 still uses distutils
    import koreanize_matplotlib  # noqa: F401 - registers NanumGothic with matplotlib's font manager
    from koreanize_matplotlib.koreanize_matplotlib import FONT_NAME

MESSAGE_CHARS = 160
"""Failure messages are cut to this many characters: enough to recognize a misconception, short enough for a table."""
TOP_FAILURES = 3
"""How many of the most common failure messages of each test cell the reports keep."""
NOT_ATTEMPTED = "NotSolvedYet:"
"""How a test cell's visible part fails when its exercise is not solved yet (the notebook's helper cell)."""
TOP_MISCONCEPTIONS = 10
"""How many misconceptions the chart shows (the most diagnosed over all test cells)."""
CSV_ENCODING = "utf-8-sig"
"""UTF-8 with a byte-order mark: Excel on Korean Windows otherwise reads the file as CP949 and garbles Hangul."""

_WARNING_LOCATION = re.compile(r"^.*?\.py:\d+: ")


@dataclass
class ScoreTable:
    """Every student's score on every assignment of a gradebook (None: no submission, or one that was not graded)."""

    assignments: list[str]
    scores: dict[str, dict[str, float | None]]
    flagged: dict[str, list[str]] = field(default_factory=dict)
    """Assignments whose submission is flagged for review in the gradebook, by student (until cleared)."""

    def total(self, student: str) -> float:
        """Sum of the student's scores over all assignments (missing submissions count as zero)."""
        return sum(score or 0.0 for score in self.scores[student].values())


@dataclass
class CellPassRate:
    """How the cohort did on one autograded test cell, and the failure messages it produced."""

    grade_id: str
    max_score: float
    graded: int = 0
    passed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    diagnosed: Counter[tuple[str, ...]] = field(default_factory=Counter)
    """Students per diagnosis: one banked mistake, or twins the hidden check cannot tell apart (names in bank order)."""
    unrecognised: int = 0
    """Students who attempted this cell and failed it in a way no banked mistake matched."""
    not_attempted: int = 0
    """Students who failed this cell without solving it (the notebook's one-line "not solved yet" error)."""
    unrecognised_failures: Counter[str] = field(default_factory=Counter)
    """The failure messages of those students: candidates for new bank entries."""

    @property
    def pass_rate(self) -> float:
        """Share of graded submissions with full points on this cell (0 when none is graded)."""
        return self.passed / self.graded if self.graded else 0.0

    def top_failures(self, count: int = TOP_FAILURES) -> list[tuple[str, int]]:
        """The most common failure messages with the number of students who got each, most common first."""
        return self.failures.most_common(count)


def _graded_score(submission: SubmittedAssignment) -> float | None:
    """The submission's score, or None when autograde gave none of its cells a score (e.g. an unreadable file)."""
    grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
    if not any(grade.auto_score is not None or grade.manual_score is not None for grade in grades):
        return None
    return float(submission.score)


def read_scores(db_url: str) -> ScoreTable:
    """Scores of every student on every assignment of the gradebook at ``db_url``."""
    with Gradebook(db_url) as gradebook:
        assignments = sorted(assignment.name for assignment in gradebook.assignments)
        scores: dict[str, dict[str, float | None]] = {}
        flagged: dict[str, list[str]] = {}
        for student in sorted(gradebook.students, key=lambda student: student.id):
            row: dict[str, float | None] = dict.fromkeys(assignments)
            for submission in student.submissions:
                row[submission.assignment.name] = _graded_score(submission)
                if any(notebook.flagged for notebook in submission.notebooks):
                    flagged.setdefault(student.id, []).append(submission.assignment.name)
            scores[student.id] = row
    return ScoreTable(assignments, scores, {student: sorted(names) for student, names in flagged.items()})


def write_scores_csv(table: ScoreTable, path: Path) -> None:
    """Write ``student_id``, one column per assignment (empty: no graded submission), ``total`` and ``flagged``.

    ``flagged`` names the assignments whose submission is flagged for review (empty when none).
    """
    with open(path, "w", newline="", encoding=CSV_ENCODING) as file:
        writer = csv.writer(file)
        writer.writerow(["student_id", *map(spreadsheet_text, table.assignments), "total", "flagged"])
        for student, row in table.scores.items():
            cells = ["" if row[name] is None else f"{row[name]:g}" for name in table.assignments]
            flags = spreadsheet_text(" ".join(table.flagged.get(student, [])))
            writer.writerow([spreadsheet_text(student), *cells, f"{table.total(student):g}", flags])


def _trimmed(message: str) -> str:
    """``message`` without surrounding blanks, cut to MESSAGE_CHARS characters (ending in an ellipsis when cut)."""
    message = message.strip()
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1].rstrip() + "…"


def failure_messages(cell: nbformat.NotebookNode) -> list[str]:
    """The distinct failure messages of one executed cell: ``ename: evalue`` of errors, ``stderr: ...`` of stderr."""
    messages: list[str] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            first_line = (output.get("evalue") or "").strip().split("\n", 1)[0].strip()
            ename = output.get("ename", "Error")
            messages.append(_trimmed(f"{ename}: {first_line}" if first_line else ename))
        elif output.get("output_type") == "stream" and output.get("name") == "stderr":
            lines = [line.strip() for line in output.get("text", "").splitlines() if line.strip()]
            if lines:
                # "/tmp/ipykernel_77/123.py:4: UserWarning: ..." differs per kernel; the warning itself does not.
                messages.append(_trimmed("stderr: " + _WARNING_LOCATION.sub("", lines[0])))
    return list(dict.fromkeys(messages))


def _test_cells(notebook: Notebook) -> dict[str, float]:
    """Max points of the autograded test cells of a gradebook notebook (grade cells that are not answers)."""
    answers = {cell.name for cell in notebook.solution_cells}
    return {
        cell.name: float(cell.max_score)
        for cell in notebook.grade_cells
        if cell.cell_type == "code" and cell.name not in answers
    }


def read_pass_rates(db_url: str, assignment: str, autograded_dir: Path) -> list[CellPassRate]:
    """Pass rate of every test cell of ``assignment`` (gradebook) and its failure messages (autograded notebooks).

    A cell passes when its score reaches its max score. Failure messages are counted once per student, only for
    students who did not pass the cell. Cells come in notebook order.
    """
    cells: dict[str, CellPassRate] = {}
    order: dict[str, int] = {}
    with Gradebook(db_url) as gradebook:
        notebooks = gradebook.find_assignment(assignment).notebooks
        for notebook in notebooks:
            for grade_id, max_score in _test_cells(notebook).items():
                cells[grade_id] = CellPassRate(grade_id, max_score)
        submissions = sorted(gradebook.assignment_submissions(assignment), key=lambda s: s.student_id)
        for submission in submissions:
            for submitted in submission.notebooks:
                failed: set[str] = set()
                for grade in submitted.grades:
                    cell = cells.get(grade.name)
                    if cell is None or (grade.auto_score is None and grade.manual_score is None):
                        continue
                    cell.graded += 1
                    if grade.score >= cell.max_score or math.isclose(grade.score, cell.max_score):  # extra credit
                        cell.passed += 1
                    else:
                        failed.add(grade.name)
                path = autograded_dir / submission.student_id / assignment / f"{submitted.name}.ipynb"
                if not path.exists():
                    continue
                diagnoses = read_diagnoses(path.with_name(path.stem + RECORD_SUFFIX))
                for nb_cell in nbformat.read(str(path), as_version=4).cells:
                    if not is_test_cell(nb_cell):
                        continue
                    grade_id = nb_cell.metadata["nbgrader"]["grade_id"]
                    order.setdefault(grade_id, len(order))
                    if grade_id in failed:
                        messages = failure_messages(nb_cell)
                        cells[grade_id].failures.update(messages)
                        if diagnoses.get(grade_id):
                            cells[grade_id].diagnosed[tuple(diagnoses[grade_id])] += 1
                        elif any(message.startswith(NOT_ATTEMPTED) for message in messages):
                            cells[grade_id].not_attempted += 1
                        else:
                            cells[grade_id].unrecognised += 1
                            cells[grade_id].unrecognised_failures.update(messages)
    return sorted(cells.values(), key=lambda cell: (order.get(cell.grade_id, len(order)), cell.grade_id))


def read_diagnoses(record: Path) -> dict[str, list[str]]:
    """The banked mistakes grading recognised, by test cell, from the grader's record (empty when none)."""
    try:
        diagnoses = json.loads(record.read_text(encoding="utf-8")).get("diagnoses") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(cell): [str(name) for name in names] for cell, names in diagnoses.items() if isinstance(names, list)}


def misconception_labels(assignment: str) -> dict[str, str]:
    """The Korean label of every banked mistake of ``assignment``, from the course's diagnosis (empty without one)."""
    diagnosis = course_layout().diagnosis()
    return diagnosis.misconception_labels(assignment) if diagnosis else {}


def label_of(names: tuple[str, ...], labels: dict[str, str]) -> str:
    """A diagnosis in Korean: the mistake's label, or the twins' labels joined by " / "."""
    return " / ".join(labels.get(name, name) for name in names)


def write_misconceptions_csv(cells: list[CellPassRate], labels: dict[str, str], path: Path) -> None:
    """Write, per test cell, one row per diagnosis (students it was found in), then the unrecognised failures.

    Columns: ``grade_id``, ``misconception`` (banked names; ``(not attempted)`` for the count of exercises left
    unsolved, ``(not recognised)`` for the count of other failures no mistake matched, ``(not recognised) message``
    for their most common messages), ``label`` (Korean label, or the message) and ``students``.
    """
    with open(path, "w", newline="", encoding=CSV_ENCODING) as file:
        writer = csv.writer(file)
        writer.writerow(["grade_id", "misconception", "label", "students"])
        for cell in cells:
            grade_id = spreadsheet_text(cell.grade_id)
            for names, count in cell.diagnosed.most_common():
                writer.writerow([grade_id, spreadsheet_text(" / ".join(names)),
                                 spreadsheet_text(label_of(names, labels)), count])
            if cell.not_attempted:
                writer.writerow([grade_id, "(not attempted)", "", cell.not_attempted])
            if cell.unrecognised:
                writer.writerow([grade_id, "(not recognised)", "", cell.unrecognised])
            for message, count in cell.unrecognised_failures.most_common(TOP_FAILURES):
                writer.writerow([grade_id, "(not recognised) message", spreadsheet_text(message), count])


def top_misconceptions(cells: list[CellPassRate],
                       count: int = TOP_MISCONCEPTIONS) -> list[tuple[tuple[str, ...], int]]:
    """The most diagnosed misconceptions over all test cells, with their student counts, most common first."""
    total: Counter[tuple[str, ...]] = Counter()
    for cell in cells:
        total.update(cell.diagnosed)
    return total.most_common(count)


def write_pass_rates_csv(cells: list[CellPassRate], path: Path) -> None:
    """Write one row per test cell: graded, passed, pass rate and the top failure messages with their counts."""
    failure_columns = [f"failure_{rank}{suffix}" for rank in range(1, TOP_FAILURES + 1) for suffix in ("", "_count")]
    with open(path, "w", newline="", encoding=CSV_ENCODING) as file:
        writer = csv.writer(file)
        writer.writerow(["grade_id", "graded", "passed", "pass_rate", *failure_columns])
        for cell in cells:
            top = cell.top_failures()
            failures = [value for message, count in top for value in (spreadsheet_text(message), count)]
            failures += [""] * (len(failure_columns) - len(failures))
            writer.writerow([spreadsheet_text(cell.grade_id), cell.graded, cell.passed, f"{cell.pass_rate:.4g}",
                             *failures])


def assignment_scores(db_url: str, assignment: str) -> tuple[list[float], float]:
    """The total score of every graded submission of ``assignment``, and its max score."""
    with Gradebook(db_url) as gradebook:
        max_score = float(gradebook.find_assignment(assignment).max_score)
        graded = (_graded_score(submission) for submission in gradebook.assignment_submissions(assignment))
        scores = [score for score in graded if score is not None]
    return scores, max_score


def plot_report(assignment: str, scores: list[float], max_score: float, cells: list[CellPassRate], path: Path,
                labels: dict[str, str] | None = None) -> None:
    """Save a PNG with the score histogram, a horizontal bar per test cell's pass rate and the most diagnosed
    misconceptions (Korean labels from the mistake bank), labelled in Korean."""
    labels = labels if labels is not None else misconception_labels(assignment)
    with matplotlib.rc_context({"font.family": FONT_NAME, "axes.unicode_minus": False}):
        figure = Figure(figsize=(12, max(4.0, 0.45 * len(cells) + 1.5) + 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        top, bottom = figure.subfigures(2, 1, height_ratios=(max(4.0, 0.45 * len(cells) + 1.5), 4.5))
        histogram, bars = top.subplots(1, 2, width_ratios=(2, 3))
        _plot_misconceptions(bottom.subplots(), top_misconceptions(cells), labels)
        if max_score <= 40:
            edges = [edge - 0.5 for edge in range(int(math.ceil(max_score)) + 2)]
        else:
            edges = [max_score * step / 20 for step in range(21)]
        histogram.hist(scores, bins=edges, color="#4C72B0", edgecolor="white")
        histogram.set_title(f"점수 분포 ({assignment}, {len(scores)}명)")
        histogram.set_xlabel(f"점수 (만점 {max_score:g}점)")
        histogram.set_ylabel("학생 수")
        histogram.yaxis.set_major_locator(MaxNLocator(integer=True))
        histogram.set_xlim(edges[0], edges[-1])

        labels = [cell.grade_id for cell in cells]
        rates = [100 * cell.pass_rate for cell in cells]
        colors = ["#C44E52" if rate < 50 else "#DD8452" if rate < 80 else "#55A868" for rate in rates]
        positions = range(len(cells))
        bars.barh(positions, rates, color=colors)
        bars.set_yticks(positions, labels)
        bars.invert_yaxis()
        bars.set_xlim(0, 115)
        bars.xaxis.set_major_formatter(PercentFormatter())
        bars.set_title("테스트별 통과율")
        bars.set_xlabel("통과율 (만점을 받은 학생 비율)")
        for position, cell, rate in zip(positions, cells, rates):
            bars.text(rate + 1, position, f"{cell.passed}/{cell.graded}", va="center", fontsize=9)
        figure.savefig(path, dpi=120)


def _plot_misconceptions(axes: Any, top: list[tuple[tuple[str, ...], int]], labels: dict[str, str]) -> None:
    """One bar per diagnosed misconception: how many students' answers behaved exactly like it."""
    axes.set_title("흔한 실수 (채점에서 진단된 학생 수)")
    if not top:
        axes.text(0.5, 0.5, "진단된 실수가 없어요", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    positions = range(len(top))
    counts = [count for _, count in top]
    axes.barh(positions, counts, color="#8172B3")
    axes.set_yticks(positions, [label_of(names, labels) for names, _ in top])
    axes.invert_yaxis()
    axes.set_xlabel("학생 수")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(counts) * 1.15 + 0.5)
    for position, count in zip(positions, counts):
        axes.text(count + 0.05, position, f"{count}명", va="center", fontsize=9)


def summary(assignment: str, scores: list[float], max_score: float, cells: list[CellPassRate]) -> str:
    """A few lines for the terminal: mean score, then each test cell's pass rate and its most common failure."""
    mean = sum(scores) / len(scores) if scores else 0.0
    lines = [f"{assignment}: {len(scores)} graded submissions, mean score {mean:.2f}/{max_score:g}"]
    width = max((len(cell.grade_id) for cell in cells), default=0)
    for cell in cells:
        top = cell.top_failures(1)
        failure = f"  most common failure ({top[0][1]}): {printable(top[0][0])}" if top else ""
        lines.append(f"  {100 * cell.pass_rate:5.1f}% ({cell.passed}/{cell.graded})  {printable(cell.grade_id):<{width}}{failure}")
        if cell.diagnosed or cell.unrecognised:
            found = ", ".join(f"{' / '.join(names)} ({count})" for names, count in cell.diagnosed.most_common())
            lines.append(f"         diagnosed: {found or '-'}; not recognised: {cell.unrecognised}")
    return "\n".join(lines)


def write_reports(assignment: str, db_url: str, autograded_dir: Path, out: Path) -> list[CellPassRate]:
    """Write ``scores.csv``, ``pass_rates.csv`` and ``report.png`` into ``out``; return the pass rates."""
    out.mkdir(parents=True, exist_ok=True)
    write_scores_csv(read_scores(db_url), out / "scores.csv")
    cells = read_pass_rates(db_url, assignment, autograded_dir)
    write_pass_rates_csv(cells, out / "pass_rates.csv")
    labels = misconception_labels(assignment)
    write_misconceptions_csv(cells, labels, out / "misconceptions.csv")
    scores, max_score = assignment_scores(db_url, assignment)
    plot_report(assignment, scores, max_score, cells, out / "report.png", labels)
    return cells


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    root = course_layout().root
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment", help="assignment id, e.g. 00_tensors")
    parser.add_argument("--db", default=f"sqlite:///{root / 'gradebook.db'}", help="gradebook URL")
    parser.add_argument("--autograded-dir", type=Path, default=root / "autograded",
                        help="where nbgrader autograde wrote <student>/<assignment>/<notebook>.ipynb")
    parser.add_argument("--out", type=Path, required=True, help="folder for scores.csv, pass_rates.csv, report.png")
    args = parser.parse_args(argv)
    try:
        cells = write_reports(args.assignment, args.db, args.autograded_dir, args.out)
    except MissingEntry:
        print(f"no assignment {args.assignment!r} in the gradebook {args.db}", file=sys.stderr)
        return 1
    scores, max_score = assignment_scores(args.db, args.assignment)
    print(summary(args.assignment, scores, max_score, cells))
    print(f"wrote {args.out / 'scores.csv'}, {args.out / 'pass_rates.csv'}, {args.out / 'misconceptions.csv'}, "
          f"{args.out / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
