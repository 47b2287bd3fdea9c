"""The notebook exporter of plain ``nbgrader autograde``: it checks each submission before nbgrader copies it.

nbgrader's Autograde copies every file of a submission folder (``shutil.copy`` follows links) and then reads the
notebook (``open`` follows links), as root when the grader runs as root: a submitted notebook that is a link to the
source notebook was graded as the source, solutions included. nbgrader offers no per-submission hook before that
copy that can refuse (``pre_convert_hook`` swallows exceptions), but ``Autograde.exporter_class`` is configurable and
nbgrader creates the exporter with the converter as its parent before it touches any submission. So this exporter
puts the check in front of the converter's ``init_assignment``: a submission folder holding a link, a fifo, a device
file, or more than the caps of :class:`autograder.engine.submission_files.SubmissionFiles` is refused before nbgrader
copies a byte, through nbgrader's own per-student error path (the batch goes on; the exit status is 1). Every
notebook is also read without following links. Configured in ``nbgrader_config.py``; the grading command refuses
such submissions at intake already, and checks its staged copy here again.
"""

from __future__ import annotations

import datetime
import io
import os
import sys
from pathlib import Path
from typing import Any

from nbconvert.exporters import NotebookExporter
from nbgrader.converters import Autograde
from traitlets import Bool

from autograder.engine.submission_files import RefusedSubmission, SubmissionFiles, read_regular


class CheckedNotebookExporter(NotebookExporter):
    """NotebookExporter that never follows a link, and that makes its Autograde converter refuse unsafe submissions."""

    optimistic_validation = Bool(
        True,
        help="Validate the notebook once, after the last preprocessor. nbconvert's default validates it after every "
             "one: 16 full validations of each submission in the autograde pipeline, 13 ms of a notebook's 22 ms of "
             "validation. A notebook a preprocessor made invalid is refused all the same (not naming which one).",
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files = SubmissionFiles(parent=self)
        converter = self.parent
        if isinstance(converter, Autograde) and "init_assignment" not in vars(converter):
            converter.init_assignment = self._checked(converter, converter.init_assignment)

    def _checked(self, converter: Autograde, init_assignment: Any) -> Any:
        """``init_assignment`` that first checks the submission folder (nbgrader copies it right afterwards)."""

        def checked(assignment_id: str, student_id: str) -> None:
            coursedir = converter.coursedir
            submitted = os.path.normpath(coursedir.format_path(coursedir.submitted_directory, ".", "."))
            folder = os.path.normpath(coursedir.format_path(coursedir.submitted_directory, student_id, assignment_id))
            try:
                self.files.check(Path(folder), below=Path(submitted))
            except RefusedSubmission as refusal:
                converter.log.error("Refused the submission of %s (%s): %s", student_id, assignment_id, refusal)
                raise
            init_assignment(assignment_id, student_id)

        return checked

    def from_filename(
        self, filename: str, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[Any, dict[str, Any]]:
        """Read a notebook that must be a regular file (``open`` in nbconvert would follow a link)."""
        data = read_regular(Path(filename), self.files.max_mb << 20)
        # What nbconvert's Exporter.from_filename puts into the resources, read with lstat.
        resources = resources if resources is not None else {}
        if "metadata" not in resources or resources["metadata"] == "":
            resources["metadata"] = {}
        path, basename = os.path.split(filename)
        resources["metadata"]["name"] = os.path.splitext(basename)[0]
        resources["metadata"]["path"] = path
        modified = datetime.datetime.fromtimestamp(os.lstat(filename).st_mtime, tz=datetime.timezone.utc)
        date_format = "%B %d, %Y" if sys.platform == "win32" else "%B %-d, %Y"
        resources["metadata"]["modified_date"] = modified.strftime(date_format)
        return self.from_file(io.StringIO(data.decode("utf-8")), resources=resources, **kw)
