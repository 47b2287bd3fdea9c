"""A grading day as an instructor lives it: flags that persist, feedback without internal files, honest noise."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import REPO_ROOT
from autograder.engine.gradebook import cell_scores
from autograder.engine.reports import write_reports
from autograder.mistakes import mistakes_for
from autograder.tools.cohort import SyntheticStudent, reference_solutions, write_cohort
from autograder.tools.demo import autograde_stock, db_url, nbgrader_command, register_assignment
from autograder.tools.release import nbgrader_env

ASSIGNMENT = "00_tensors"
FULL_MARKS = 10
LIMITS = ["--set", "ContainedExecute.timeout=20", "--set", "ContainedExecute.notebook_timeout=120"]

# Correct notebooks with something noisy in a solution cell (after the function it defines).
NOISY = {
    "shell_command": "import subprocess\nprint('ls exit', subprocess.run(['ls'], capture_output=True).returncode)",
    "worker_processes": ("import multiprocessing as mp\nwith mp.get_context('fork').Pool(2) as pool:\n"
                         "    print(pool.map(abs, [-1, -2]))"),
    "download_attempt": ("import urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:9/data.csv', timeout=2)\n"
                         "except Exception as error:\n    print('download failed:', type(error).__name__)"),
    "background_process": "import subprocess\nsubprocess.Popen(['sleep', '293'])",
    "process_cap": ("import subprocess\nstarted = 0\ntry:\n    for _ in range(200):\n"
                    "        subprocess.Popen(['sleep', '30'])\n        started += 1\n"
                    "except OSError as error:\n    print('refused after', started, type(error).__name__)"),
    "looks_for_notebooks": "import glob\nprint(len(glob.glob('../../*/*/*.ipynb')), glob.glob('/tmp/*'))",
}
NOISY_FLAGS = {"download_attempt": "forbidden_access", "background_process": "stray_processes",
               "process_cap": "process_cap"}
TAMPER_CELL = "row_proportions_solution"
TWO_MISTAKES = ("rows_column_sums", "prefix_skips_last")
"""A student with two banked mistakes: each failing cell must name its misconception (autograder/diagnosis.py)."""


def _cohort() -> list[SyntheticStudent]:
    reference = reference_solutions(ASSIGNMENT)
    students = [SyntheticStudent("honest", "reference", dict(reference)),
                SyntheticStudent("tamperer", "tampers halfway", {
                    **reference, TAMPER_CELL: f"{reference[TAMPER_CELL]}\ntorch.equal = lambda *a, **k: True"})]
    bank = {mistake.name: mistake for mistake in mistakes_for(ASSIGNMENT)}
    two = {grade_id: code for name in TWO_MISTAKES for grade_id, code in bank[name].replaces.items()}
    students.append(SyntheticStudent("two_mistakes", ", ".join(TWO_MISTAKES), {**reference, **two}))
    for name, code in NOISY.items():
        cell = "seeded_rand_solution"
        students.append(SyntheticStudent(f"noisy_{name}", name, {**reference, cell: f"{reference[cell]}\n{code}"}))
    return students


def _grade(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder.engine.grade", ASSIGNMENT, "--root", str(REPO_ROOT), "--no-progress",
         "--submitted", str(workdir / "submitted"), "--autograded", str(workdir / "autograded"),
         "--db", db_url(workdir), "--json", str(workdir / "results.json"), *LIMITS, *extra],
        cwd=REPO_ROOT, env=nbgrader_env(), capture_output=True, text=True, timeout=900)


def _flagged(url: str, student: str) -> bool:
    with Gradebook(url) as gradebook:
        return any(notebook.flagged for notebook in gradebook.find_submission(ASSIGNMENT, student).notebooks)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The cohort graded once, then graded again with --changed-only, then feedback and reports."""
    workdir = tmp_path_factory.mktemp("grading_day")
    write_cohort(ASSIGNMENT, _cohort(), workdir / "submitted")
    register_assignment(ASSIGNMENT, workdir)
    first = _grade(workdir)
    results = {r["student"]: r for r in json.loads((workdir / "results.json").read_text())}
    again = _grade(workdir, "--changed-only")
    feedback = subprocess.run(nbgrader_command("generate_feedback", ASSIGNMENT, workdir, "--force"),
                              cwd=REPO_ROOT, env=nbgrader_env(), capture_output=True, text=True)
    write_reports(ASSIGNMENT, db_url(workdir), workdir / "autograded", workdir / "reports")
    return workdir, first, results, again, feedback


@pytest.mark.xdist_group("grading_day")
@pytest.mark.parametrize("name", sorted(NOISY))
def test_honest_noise_keeps_every_point(day, name):
    """Does a correct notebook that runs a shell command, starts workers, tries a download, leaves a process
    behind, hits the process cap or looks for other notebooks keep all its points?"""
    workdir, first, results, _, _ = day
    student = f"noisy_{name}"
    assert results[student]["status"] == "graded", first.stdout[-2000:]
    assert sum(cell_scores(db_url(workdir), ASSIGNMENT, student).values()) == FULL_MARKS
    kinds = {incident["kind"] for incident in results[student]["incidents"]}
    if name in NOISY_FLAGS:
        assert NOISY_FLAGS[name] in kinds, kinds
        assert not kinds & {"tampering"}, kinds
    else:
        assert not _flagged(db_url(workdir), student), kinds


@pytest.mark.xdist_group("grading_day")
def test_flag_is_kept_in_the_gradebook(day):
    """Is a flagged submission marked flagged in the gradebook (formgrader's Flagged column), and an honest one not?"""
    workdir, _, _, _, _ = day
    assert _flagged(db_url(workdir), "tamperer")
    assert _flagged(db_url(workdir), "noisy_background_process")
    assert not _flagged(db_url(workdir), "honest")


@pytest.mark.xdist_group("grading_day")
def test_flag_is_listed_again_by_the_next_run(day):
    """Does the next run, which grades nothing new, still list the flag until an instructor clears it?"""
    _, _, _, again, _ = day
    assert "unchanged" in again.stdout and "graded 0" in again.stdout, again.stdout[-2000:]
    flag_lines = [line for line in again.stdout.splitlines() if line.lstrip().startswith("FLAG")]
    assert any("/tamperer: flagged in an earlier grading" in line for line in flag_lines), again.stdout[-2000:]
    assert not any("/honest" in line for line in flag_lines)


@pytest.mark.xdist_group("grading_day")
def test_run_ends_with_the_score_table(day):
    """Does the grading command end with every student's score, marked where flagged?"""
    _, first, _, again, _ = day
    for completed in (first, again):
        table = completed.stdout[completed.stdout.index(f"\n{ASSIGNMENT} "):]
        assert any(line.split()[:2] == ["honest", "10/10"] for line in table.splitlines())
        assert any(line.split()[0] == "tamperer" and line.rstrip().endswith("FLAG") for line in table.splitlines()
                   if line.strip())


@pytest.mark.xdist_group("grading_day")
def test_scores_csv_shows_the_flag(day):
    """Does scores.csv say which assignments of a student are flagged?"""
    workdir, _, _, _, _ = day
    with open(workdir / "reports" / "scores.csv", encoding="utf-8-sig") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert rows["tamperer"]["flagged"] == ASSIGNMENT
    assert rows["honest"]["flagged"] == ""


@pytest.mark.xdist_group("grading_day")
def test_feedback_holds_no_internal_file(day):
    """Does the feedback folder an instructor zips for the LMS hold nothing but what students should get?"""
    workdir, _, _, _, feedback = day
    assert feedback.returncode == 0, feedback.stdout[-2000:] + feedback.stderr[-2000:]
    files = [path.name for path in (workdir / "feedback").rglob("*") if path.is_file()]
    assert files and all(name.endswith(".html") for name in files), files


@pytest.mark.xdist_group("grading_day")
def test_plain_nbgrader_flags_in_the_gradebook_too(tmp_path):
    """Does plain `nbgrader autograde` with the course's config mark a tampering submission flagged?"""
    tamperer = [s for s in _cohort() if s.student_id in {"tamperer", "honest"}]
    write_cohort(ASSIGNMENT, tamperer, tmp_path / "submitted")
    register_assignment(ASSIGNMENT, tmp_path)
    completed = autograde_stock(ASSIGNMENT, tmp_path, "--ContainedExecute.timeout=20")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert _flagged(db_url(tmp_path), "tamperer")
    assert not _flagged(db_url(tmp_path), "honest")


def test_release_check_says_when_release_is_current():
    """Does `make release-check` say so when release/ is up to date, instead of printing nothing?"""
    completed = subprocess.run([sys.executable, "-m", "autograder.tools.release", "--check"], cwd=REPO_ROOT,
                               env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "up to date" in completed.stdout


@pytest.mark.parametrize("path", ["gradebook.db", "submitted/s1/00_tensors/00_tensors.ipynb",
                                  "autograded/s1/00_tensors/00_tensors.ipynb", "feedback/s1/00_tensors/x.html",
                                  "reports/00_tensors/scores.csv", "grades.csv", "downloaded/00_tensors/archive/x.zip",
                                  "demo/gradebook.db", "bench/gradebook.db"])
def test_grading_day_outputs_are_ignored_by_git(path):
    """Is every file a grading day writes (student data) ignored by git, so `git add .` cannot commit it?"""
    completed = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT)
    assert completed.returncode == 0, f"{path} is not ignored"


@pytest.mark.xdist_group("grading_day")
def test_each_failing_cell_names_its_misconception_everywhere(day):
    """Graded by the command, does each of a student's two mistakes get its Korean hint in its own cell's output, in
    the feedback page and in the grader's record, and do the reports count both?"""
    workdir, _, _, _, _ = day
    bank = {mistake.name: mistake for mistake in mistakes_for(ASSIGNMENT)}
    folder = workdir / "autograded" / "two_mistakes" / ASSIGNMENT
    cells = {cell.metadata["nbgrader"]["grade_id"]: cell
             for cell in nbformat.read(str(folder / f"{ASSIGNMENT}.ipynb"), as_version=4).cells
             if cell.metadata.get("nbgrader", {}).get("grade_id")}
    record = json.loads((folder / f"{ASSIGNMENT}.grading.json").read_text(encoding="utf-8"))
    feedback = (workdir / "feedback" / "two_mistakes" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    with open(workdir / "reports" / "misconceptions.csv", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    for name in TWO_MISTAKES:
        (grade_id,) = bank[name].loses_on
        errors = [output.evalue for output in cells[grade_id].outputs if output.output_type == "error"]
        assert any(bank[name].hint in error and "진단:" in error for error in errors), errors
        assert record["diagnoses"][grade_id] == [name]
        assert bank[name].label in feedback and bank[name].hint[:40] in feedback
        assert {"grade_id": grade_id, "misconception": name, "label": bank[name].label, "students": "1"} in rows
    assert set(record["diagnoses"]) == {bank[name].loses_on[0] for name in TWO_MISTAKES}
    assert record["diagnosis_seconds"] < 2.0
