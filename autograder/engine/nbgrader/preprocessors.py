"""nbgrader preprocessors that make grading fair on messy submissions; configured in ``nbgrader_config.py``."""

from __future__ import annotations

import copy
import os
import threading

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (
    AssignLatePenalties,
    DeduplicateIds,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)
from traitlets import Unicode

from autograder.engine.cells import is_test_cell, nbgrader_meta, read_notebook
from autograder.engine.incidents import flagged
from autograder.engine.layout import course_layout

GRADEBOOK_LOCK = threading.Lock()
"""Serializes gradebook access between grading threads: sqlite allows one writer, and nbgrader gives up after 5 s."""


class StderrDoesNotFail(NbGraderPreprocessor):
    """Keep warnings on stderr from failing a test cell that raised nothing.

    nbgrader scores any stderr output of a test cell as a failure, so a torch ``UserWarning`` or a student's
    ``print(..., file=sys.stderr)`` costs points for correct code. This moves such text into a stdout stream
    (prefixed, so it stays visible); a cell that raised an error keeps everything as it was.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Rename stderr streams of passing test cells to stdout."""
        if is_test_cell(cell) and not any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            for output in cell.outputs:
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output.name = "stdout"
                    output.text = "".join(f"[stderr] {line}" for line in output.text.splitlines(keepends=True))
        return cell, resources


class RestoreDeletedTestCells(NbGraderPreprocessor):
    """Put back autograded test cells that a student deleted, so they are graded (0 if failing) instead of stuck.

    Stock nbgrader leaves such a submission in "needs manual grade" (nbgrader #1682). A restored cell goes right
    after the cell that precedes it in the source notebook; OverwriteCells then fills in its canonical source.
    """

    source_root = Unicode("", help="Course root holding the source notebooks (default: the course layout's root).").tag(
        config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Insert every missing test cell of the source notebook."""
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        layout = course_layout()
        root = self.source_root or str(layout.root)
        source_path = os.path.join(root, layout.source_dir, assignment, f"{notebook}.ipynb")
        if not os.path.exists(source_path):
            return nb, resources
        source = read_notebook(source_path)
        present = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
        previous_id: str | None = None
        for cell in source.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if is_test_cell(cell) and grade_id not in present:
                restored = copy.deepcopy(cell)
                restored.outputs = []
                restored.execution_count = None
                position = _index_after(nb, previous_id)
                nb.cells.insert(position, restored)
                present.add(grade_id)
                self.log.warning("Restored deleted test cell %s", grade_id)
            if grade_id:
                previous_id = grade_id
        return nb, resources


def _index_after(nb: NotebookNode, grade_id: str | None) -> int:
    if grade_id is None:
        return 0
    for index, cell in enumerate(nb.cells):
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return index + 1
    return len(nb.cells)


class _HoldsGradebookLock:
    """Mixin for an nbgrader preprocessor that reads or writes the gradebook: its whole pass holds GRADEBOOK_LOCK."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        with GRADEBOOK_LOCK:
            return super().preprocess(nb, resources)


class SerializedOverwriteCells(_HoldsGradebookLock, OverwriteCells):
    """OverwriteCells, holding the gradebook lock while it reads the gradebook."""


class SerializedSaveAutoGrades(_HoldsGradebookLock, SaveAutoGrades):
    """SaveAutoGrades, holding the gradebook lock while it writes."""


class SerializedAssignLatePenalties(_HoldsGradebookLock, AssignLatePenalties):
    """AssignLatePenalties, holding the gradebook lock while it writes."""


class RecordFlags(NbGraderPreprocessor):
    """Mark a submission flagged in the gradebook when grading raised a flag, so the flag outlives this run.

    formgrader shows the mark in its Flagged column, the grading command lists it in every later run's summary
    and the reports show it, until an instructor clears it in formgrader after review. A later clean grading
    does not clear it: only a person who looked does. Runs after ``SaveAutoGrades`` (the notebook must exist in the
    gradebook); reads the incidents ``ContainedExecute`` left in the resources.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        """Set ``flagged`` on this submitted notebook when any incident of this grading is a flag."""
        if not flagged(resources.get("autograder_incidents", [])):
            return nb, resources
        with GRADEBOOK_LOCK, Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            submitted = gradebook.find_submission_notebook(
                resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"], resources["nbgrader"]["student"])
            submitted.flagged = True
            gradebook.db.commit()
        return nb, resources


class DeduplicateIdsCleanly(DeduplicateIds):
    """nbgrader's DeduplicateIds, but removing the duplicate's nbgrader metadata instead of leaving ``{}``.

    The empty dict fails nbgrader's metadata check afterwards ("nbgrader update ."), which stops the whole
    autograde batch (nbgrader #1083). Like nbgrader, the last copy of a grade_id is the one that counts.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Keep the first grade_id seen (cells are visited last to first); strip the others' metadata."""
        if not (nbgrader_utils.is_grade(cell) or nbgrader_utils.is_solution(cell) or nbgrader_utils.is_locked(cell)):
            if cell.get("metadata", {}).get("nbgrader") == {}:
                del cell.metadata["nbgrader"]
            return cell, resources
        grade_id = cell.metadata.nbgrader["grade_id"]
        if grade_id in self.grade_ids:
            self.log.warning("Cell with id '%s' exists multiple times!", grade_id)
            del cell.metadata["nbgrader"]
        else:
            self.grade_ids.add(grade_id)
        return cell, resources
