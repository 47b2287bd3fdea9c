"""nbgrader configuration of the course; run nbgrader commands from the repository root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.course import COURSE_ID  # noqa: E402

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = COURSE_ID

# What students see in place of a solution (Korean, like the rest of the notebook).
c.ClearSolutions.code_stub = {"python": "# 여기에 코드를 작성하세요\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "여기에 답을 작성하세요"

# Grading pipeline: nbgrader's own lists, with contained execution and fairness fixes (see autograder/). The course's
# preprocessors are named by dotted path, never imported here: nbgrader imports them only when it converts notebooks,
# so the commands that do not (`nbgrader db`, `list`, `export`, formgrader's start) never import torch.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata, ClearOutput, IgnorePattern, LimitOutput, OverwriteKernelspec,
)

c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    "autograder.engine.nbgrader.preprocessors.DeduplicateIdsCleanly",
    OverwriteKernelspec,
    "autograder.engine.nbgrader.preprocessors.RestoreDeletedTestCells",
    "autograder.engine.nbgrader.preprocessors.SerializedOverwriteCells",
    CheckCellMetadata,
]
# Submissions are data, never links: nbgrader's Autograde reads notebooks and copies submission folders through this
# exporter, which refuses links, fifos, device files and oversized submissions before nbgrader copies anything.
c.Autograde.exporter_class = "autograder.engine.nbgrader.submission_exporter.CheckedNotebookExporter"
# IPython/Jupyter settings folders in a submission are never copied next to the notebook.
# Never copied between submitted/, autograded/ and feedback/: the grader's own records of a grading stay with the
# instructor (a zipped feedback/ folder goes to students).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".ipython", ".jupyter",
                            "*.grading.json", ".autograder-graded"]
c.Autograde.autograde_preprocessors = [
    "autograder.engine.nbgrader.execute.ContainedExecute",
    IgnorePattern,
    "autograder.engine.nbgrader.preprocessors.StderrDoesNotFail",
    ClearMetadataPreprocessor,
    LimitOutput,
    "autograder.engine.nbgrader.preprocessors.SerializedSaveAutoGrades",
    "autograder.engine.nbgrader.preprocessors.RecordFlags",
    "autograder.engine.nbgrader.preprocessors.SerializedAssignLatePenalties",
    "autograder.engine.nbgrader.inert.InertNotebook",
    CheckCellMetadata,
]
# InertNotebook comes after the grades are saved: no score depends on it. It leaves nothing in the autograded
# notebook that would run as script when formgrader renders it in the instructor's session (autograder/engine/nbgrader/inert.py).

# Limits of one submission. A cell over its timeout is interrupted (or, if it ignores the interrupt, its kernel
# is restarted) and loses its points; the rest of the notebook still runs within the notebook budget.
c.ContainedExecute.timeout = 60
c.ContainedExecute.startup_timeout = 60
# Every other limit keeps its one default, with its help text: the notebook budget and the output kept per cell in
# ContainedExecute (autograder/engine/nbgrader/execute.py); a kernel's memory, processes, network and disk in Limits
# (autograder/engine/kernels/sandbox.py); a submission's files and size in SubmissionFiles (autograder/engine/submission_files.py).
# Change one here, e.g. c.ContainedKernelManager.memory_mb = 4096 (`nbgrader ... --help-all` lists them).

# Feedback shows each failed test's message but never the source of hidden tests (nbgrader #917).
from autograder.engine.nbgrader.feedback import FEEDBACK_PREPROCESSORS  # noqa: E402

c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS

# `nbgrader export` writes a CSV whose text cells no spreadsheet runs as formulas (student ids come from folder names).
c.ExportApp.plugin_class = "autograder.engine.nbgrader.export.SafeCsvExport"

# Every nbgrader command logs on the instructor's terminal, file names from submissions included ("Copying ..."):
# control characters in them (escape codes that erase lines) are shown as visible escapes (autograder/engine/terminal.py).
c.Application.logging_config = {
    "filters": {"printable": {"()": "autograder.engine.terminal.PrintableLogFilter"}},
    "handlers": {"console": {"filters": ["printable"]}},
}
