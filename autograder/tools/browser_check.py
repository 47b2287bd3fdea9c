"""``make browser-check``: open release notebooks in JupyterLab in headless Chromium, as a student set up per README.

What it does, in a throwaway JupyterLab (its own config, data, settings and workspace folders):

1. applies the student set-up (``student/setup_student.py``) and gives the kernel an import blocker, so neither
   ``autograder`` nor ``nbgrader`` can be imported from a notebook (students do not have them);
2. for each notebook (the blank release, and the release with the first half of the exercises answered), clicks
   Run → Run All Cells and reports how many code cells ran and every error output that appeared;
3. checks that the instructor's tools are absent (no Nbgrader menu, no Formgrader, no Create Assignment, the
   formgrader route answers 404) and that nbgrader's Validate button works (blank: reports the failing cells;
   answered with the reference: passes).

Exit status 0 when everything holds, 1 when something does not, 2 when Chromium or Playwright is missing.
Needs ``chromium`` (Debian: ``apt-get install chromium fonts-nanum``) and ``pip install playwright`` in the venv;
it never runs ``playwright install`` (no downloads). ``--screenshots DIR`` saves what the browser showed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import REPO_ROOT, published_assignments
from autograder.tools.cohort import reference_solutions, submission
from autograder.tools.in_process import nbgrader_meta
from autograder.tools.student_view import _BLOCKER, GRADER_PACKAGES

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
CELL = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
CODE_CELL = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"
IDLE = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']"
VALIDATE = ".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button"
INSTRUCTOR_LABELS = ("Nbgrader", "Formgrader", "Create Assignment", "Courses", "Assignments")


def chromium_path() -> str | None:
    """The Chromium executable: $CHROMIUM, else chromium or chromium-browser on PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing_requirements() -> list[str]:
    """What this check needs and this machine lacks (empty when it can run)."""
    missing = []
    if not chromium_path():
        missing.append("chromium (Debian: apt-get install -y chromium fonts-nanum)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (.venv/bin/pip install playwright; never `playwright install`)")
    return missing


@dataclass
class NotebookRun:
    """What Run All showed for one notebook."""

    name: str
    code_cells: int = 0
    ran: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    expected_error_cells: list[int] = field(default_factory=list)
    validate: str = ""

    def problems(self, validate_should_pass: bool | None) -> list[str]:
        """What a student would see go wrong in this notebook (empty when Run All behaved)."""
        found = []
        if self.ran != self.code_cells:
            found.append(f"{self.name}: only {self.ran} of {self.code_cells} code cells ran")
        if [index for index, _ in self.errors] != self.expected_error_cells:
            found.append(f"{self.name}: errors in code cells {[i for i, _ in self.errors]}, "
                         f"expected exactly in {self.expected_error_cells} (the unsolved exercises' test cells)")
        for index, text in self.errors:
            if len(text.strip().splitlines()) != 1 or not text.startswith("[풀기 전]"):
                found.append(f"{self.name}: code cell {index} shows more than one short line: {text[:200]!r}")
        if validate_should_pass is True and "Success" not in self.validate:
            found.append(f"{self.name}: Validate did not pass: {self.validate!r}")
        if validate_should_pass is False and "failed" not in self.validate.lower():
            found.append(f"{self.name}: Validate did not report the unsolved cells: {self.validate[:300]!r}")
        return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _student_environment(scratch: Path) -> dict[str, str]:
    """Environment of a throwaway JupyterLab set up as a student's, with the grader unimportable in kernels."""
    env = dict(os.environ)
    for name in ("config", "data", "runtime", "settings", "workspaces", "blocker"):
        (scratch / name).mkdir()
    env.update(JUPYTER_CONFIG_DIR=str(scratch / "config"), JUPYTER_DATA_DIR=str(scratch / "data"),
               JUPYTER_RUNTIME_DIR=str(scratch / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(scratch / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"))
    env.pop("JUPYTER_PATH", None)
    # The kernel students get: python3, but where `import autograder` / `import nbgrader` fail as if not installed.
    (scratch / "blocker" / "sitecustomize.py").write_text(_BLOCKER.format(blocked=set(GRADER_PACKAGES)))
    kernel_dir = scratch / "data" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
        "env": {"PYTHONPATH": str(scratch / "blocker")},
    }))
    settings = {
        # No "Jupyter news?" pop-up over the notebook.
        ("apputils-extension", "notification"): {"fetchNews": "false"},
        # Every cell in the DOM, so that each cell's prompt and outputs can be read (the default renders on scroll).
        ("notebook-extension", "tracker"): {"windowingMode": "none"},
    }
    for (package, plugin), values in settings.items():
        folder = scratch / "settings" / "@jupyterlab" / package
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    setup = subprocess.run([sys.executable, str(REPO_ROOT / "student" / "setup_student.py")], env=env,
                           capture_output=True, text=True)
    if setup.returncode != 0:
        raise RuntimeError(f"student/setup_student.py failed:\n{setup.stdout}{setup.stderr}")
    return env


def _start_lab(root: Path, env: dict[str, str], port: int, token: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    log = open(root.parent / "lab.log", "w")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _http_status(port, token, "/api/status") == 200:
            return server
        if server.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not start:\n{(root.parent / 'lab.log').read_text()[-3000:]}")


def _http_status(port: int, token: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?token={token}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _stop(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _open(page, port: int, token: str, name: str) -> None:
    # A workspace of its own (reset), so that no notebook opened earlier is restored next to this one.
    page.goto(f"http://127.0.0.1:{port}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    page.wait_for_selector(CELL, timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)


def _dialogs(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText)")


def _run_all(page) -> None:
    """Run → Run All Cells, retried when the click has no effect (seen 2 times in 16 runs, FIELD_NOTES)."""
    if _dialogs(page):
        raise RuntimeError(f"a dialog is in the way: {_dialogs(page)}")
    for _attempt in range(4):
        page.locator(CELL).first.click()
        page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        item = page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))")
        item.wait_for(state="visible")
        page.wait_for_function(
            "() => { const e = [...document.querySelectorAll('.lm-Menu-item')].find("
            "i => i.textContent.includes('Run All Cells')); return e && !e.classList.contains('lm-mod-disabled'); }")
        item.click()
        try:
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{CODE_CELL} .jp-InputArea-prompt')]"
                ".some(p => p.textContent.includes('*'))", timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the click did nothing, try again
            if _dialogs(page):
                raise RuntimeError(f"a dialog appeared after Run All Cells: {_dialogs(page)}") from None
            page.keyboard.press("Escape")
    raise RuntimeError("Run All Cells never started")


def _wait_until_done(page, timeout_s: float = 240, settle_s: float = 5) -> None:
    """Wait until every code cell has run, or nothing has been running for ``settle_s`` (Run All stopped early).

    Between two cells of a Run All the kernel can look idle for a moment on a loaded machine, so a single idle
    reading is not the end.
    """
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        busy, waiting = page.evaluate(
            f"""() => {{
                const prompts = [...document.querySelectorAll('{CODE_CELL} .jp-InputArea-prompt')].map(p => p.textContent);
                return [prompts.some(t => t.includes('*')), prompts.filter(t => !/\\[\\d+\\]/.test(t)).length];
            }}""")
        if not busy and not waiting and page.locator(IDLE).count():
            return
        if busy or not page.locator(IDLE).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > settle_s:
            return
        time.sleep(0.5)
    raise RuntimeError("Run All did not finish")


def _outputs(page) -> tuple[int, int, list[tuple[int, str]]]:
    """(code cells, code cells that ran, [(code cell index, error text)])."""
    return page.evaluate(
        f"""() => {{
            const cells = [...document.querySelectorAll('{CODE_CELL}')];
            const ran = cells.filter(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputArea-prompt').textContent));
            const errors = [];
            const stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']";
            cells.forEach((c, i) => c.querySelectorAll(stderr).forEach(o => errors.push([i, o.textContent.trim()])));
            return [cells.length, ran.length, errors];
        }}""")


def _instructor_tools(page) -> list[str]:
    """Labels of the instructor's nbgrader tools found in the menu bar, side bars, launcher or command palette."""
    texts = page.evaluate(
        "() => [...document.querySelectorAll('.lm-MenuBar-itemLabel, .lm-TabBar-tab, .jp-LauncherCard, "
        ".jp-SideBar .lm-TabBar-tabLabel')].map(e => (e.innerText || '') + ' ' + (e.getAttribute('title') || ''))")
    return sorted({label for label in INSTRUCTOR_LABELS for text in texts if label in text})


def _validate(page) -> str:
    page.locator(VALIDATE).first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible", timeout=120_000)
    page.wait_for_function(
        "() => { const d = document.querySelector('.jp-Dialog'); return d && !/Validating/i.test(d.innerText); }",
        timeout=120_000)
    text = dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    return text


def _expected_errors(nb: nbformat.NotebookNode, answered: set[str]) -> list[int]:
    """Code-cell indices of the test cells whose exercise is unanswered."""
    expected, code_index, solution = [], -1, None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code_index += 1
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            solution = meta["grade_id"]
        elif meta.get("grade") and solution not in answered:
            expected.append(code_index)
    return expected


def _check_notebook(page, name: str, nb: nbformat.NotebookNode, answered: set[str],
                    validate_should_pass: bool | None, has_validate: bool) -> NotebookRun:
    """Run All (unless the notebook is the reference, which is only validated), then Validate when asked."""
    run = NotebookRun(name, expected_error_cells=_expected_errors(nb, answered))
    if validate_should_pass is not True:
        _run_all(page)
        _wait_until_done(page)
        run.code_cells, run.ran, errors = _outputs(page)
        run.errors = [(index, text) for index, text in errors]
    if validate_should_pass is not None and has_validate:
        run.validate = _validate(page)
    return run


def run_check(assignments: list[str], screenshots: Path | None = None) -> tuple[list[str], list[str]]:
    """Run the whole check; return (report lines, problems)."""
    from playwright.sync_api import sync_playwright

    report, problems = [], []
    with tempfile.TemporaryDirectory(prefix="browser-check-") as scratch_name:
        scratch = Path(scratch_name)
        env = _student_environment(scratch)
        root = scratch / "course"
        root.mkdir()
        plans = []  # (file name, notebook, answered grade_ids, Validate should pass)
        for assignment in assignments:
            reference = reference_solutions(assignment)
            half = dict(list(reference.items())[: len(reference) // 2])
            for label, answers, validate in (("blank", {}, False), ("half_solved", half, None),
                                             ("reference", reference, True)):
                nb = submission(assignment, answers)
                name = f"{assignment}_{label}.ipynb"
                nbformat.write(nb, str(root / name))
                plans.append((name, nb, set(answers), validate))
        port, token = _free_port(), secrets.token_hex(16)
        server = _start_lab(root, env, port, token)
        try:
            formgrader = _http_status(port, token, "/formgrader")
            report.append(f"formgrader route: HTTP {formgrader}")
            if formgrader != 404:
                problems.append(f"the instructor's formgrader route answers HTTP {formgrader}, not 404")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                for name, nb, answered, validate_should_pass in plans:
                    started = time.monotonic()
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    _open(page, port, token, name)
                    tools = _instructor_tools(page)
                    if tools:
                        problems.append(f"{name}: the instructor's tools are visible: {tools}")
                    has_validate = page.locator(VALIDATE).count() > 0
                    if not has_validate:
                        problems.append(f"{name}: no Validate button")
                    try:
                        run = _check_notebook(page, name, nb, answered, validate_should_pass, has_validate)
                    except Exception:
                        if screenshots:
                            screenshots.mkdir(parents=True, exist_ok=True)
                            page.screenshot(path=str(screenshots / f"{Path(name).stem}-failed.png"))
                        raise

                    if screenshots:
                        screenshots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(screenshots / f"{Path(name).stem}.png"), full_page=False)
                    if run.code_cells:
                        report.append(f"{name}: Run All ran {run.ran} of {run.code_cells} code cells; "
                                      f"{len(run.errors)} error outputs")
                        report.extend(f"    code cell {index}: {text}" for index, text in run.errors)
                    if run.validate:
                        report.append(f"{name}: Validate says: {' '.join(run.validate.split())[:240]}")
                    report.append(f"{name}: instructor tools visible: {tools or 'none'}; Validate button: "
                                  f"{'yes' if has_validate else 'no'} ({time.monotonic() - started:.1f} s)")
                    if run.code_cells or validate_should_pass is not None:
                        problems.extend(run.problems(validate_should_pass) if run.code_cells else
                                        [p for p in run.problems(validate_should_pass) if "Validate" in p])
                    page.close()
                browser.close()
        finally:
            _stop(server)
    return report, problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignments to check (default: every published one)")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each notebook here")
    args = parser.parse_args(argv)
    missing = missing_requirements()
    if missing:
        print("browser check skipped; missing: " + "; ".join(missing))
        return 2
    report, problems = run_check(args.assignments or published_assignments(), args.screenshots)
    print("\n".join(report))
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(f"  - {problem}" for problem in problems))
        return 1
    print("\nbrowser check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
