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

# Grading pipeline: nbgrader's own lists, with contained execution and fairness fixes (see autograder/).
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata, ClearOutput, IgnorePattern, LimitOutput, OverwriteKernelspec,
)

from autograder.execute import ContainedExecute  # noqa: E402
from autograder.inert import InertNotebook  # noqa: E402
from autograder.preprocessors import (  # noqa: E402
    DeduplicateIdsCleanly, RecordFlags, RestoreDeletedTestCells, SerializedAssignLatePenalties,
    SerializedOverwriteCells, SerializedSaveAutoGrades, StderrDoesNotFail,
)

c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIdsCleanly, OverwriteKernelspec, RestoreDeletedTestCells, SerializedOverwriteCells,
    CheckCellMetadata,
]
# Submissions are data, never links: nbgrader's Autograde reads notebooks and copies submission folders through this
# exporter, which refuses links, fifos, device files and oversized submissions before nbgrader copies anything.
from autograder.submission_exporter import CheckedNotebookExporter  # noqa: E402

c.Autograde.exporter_class = CheckedNotebookExporter
# IPython/Jupyter settings folders in a submission are never copied next to the notebook.
# Never copied between submitted/, autograded/ and feedback/: the grader's own records of a grading stay with the
# instructor (a zipped feedback/ folder goes to students).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".ipython", ".jupyter",
                            "*.grading.json", ".autograder-fingerprint"]
c.Autograde.autograde_preprocessors = [
    ContainedExecute, IgnorePattern, StderrDoesNotFail, ClearMetadataPreprocessor, LimitOutput,
    SerializedSaveAutoGrades, RecordFlags, SerializedAssignLatePenalties, InertNotebook, CheckCellMetadata,
]
# InertNotebook comes after the grades are saved: no score depends on it. It leaves nothing in the autograded
# notebook that would run as script when formgrader renders it in the instructor's session (autograder/inert.py).

# Limits of one submission. A cell over its timeout is interrupted (or, if it ignores the interrupt, its kernel
# is restarted) and loses its points; the rest of the notebook still runs within the notebook budget.
c.ContainedExecute.timeout = 60
c.ContainedExecute.startup_timeout = 60
c.ContainedExecute.notebook_timeout = 600
c.ContainedExecute.max_output_bytes = 200_000
c.ContainedKernelManager.memory_mb = 3072
c.ContainedKernelManager.max_processes = 64
c.ContainedKernelManager.isolate_network = True
c.ContainedKernelManager.disk_mb = 512  # everything one kernel may write: work folder, home, /tmp, /var/tmp, /dev/shm
c.SubmissionFiles.max_files = 1000  # files and folders in one submission; more is refused unread
c.SubmissionFiles.max_mb = 100  # all files of one submission together

# Feedback shows each failed test's message but never the source of hidden tests (nbgrader #917).
from autograder.feedback import FEEDBACK_PREPROCESSORS  # noqa: E402

c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS

# `nbgrader export` writes a CSV whose text cells no spreadsheet runs as formulas (student ids come from folder names).
c.ExportApp.plugin_class = "autograder.export.SafeCsvExport"

# Every nbgrader command logs on the instructor's terminal, file names from submissions included ("Copying ..."):
# control characters in them (escape codes that erase lines) are shown as visible escapes (autograder/terminal.py).
c.Application.logging_config = {
    "filters": {"printable": {"()": "autograder.terminal.PrintableLogFilter"}},
    "handlers": {"console": {"filters": ["printable"]}},
}
