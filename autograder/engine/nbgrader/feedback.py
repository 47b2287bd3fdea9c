"""Feedback that shows why a test failed but never how it is tested: a preprocessor for ``nbgrader generate_feedback``.

Stock ``generate_feedback`` renders the autograded notebook as it is (nbgrader issue #917): the hidden tests that
``autograde`` put back into every test cell, and full tracebacks that quote hidden-test source lines and the grader's
file paths. :class:`HideHiddenTests` removes both and keeps the failure message; :class:`autograder.engine.nbgrader.inert.InertNotebook`
then leaves no live script in the page (also for a notebook autograded without it). Enable both in
``nbgrader_config.py``::

    from autograder.engine.nbgrader.feedback import FEEDBACK_PREPROCESSORS
    c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import GetGrades
from traitlets import Bool, Unicode

from autograder.engine.cells import strip_hidden_tests
from autograder.engine.nbgrader.inert import InertNotebook


def error_line(output: NotebookNode) -> str:
    """``ename: evalue`` of an error output (just ``ename`` when the message is empty)."""
    ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
    return f"{ename}: {evalue}" if evalue else ename


class HideHiddenTests(Preprocessor):
    """Remove hidden-test regions from every cell and shorten every traceback to its ``ename: evalue`` line."""

    enabled = Bool(True, help="Whether generate_feedback applies this preprocessor").tag(config=True)
    begin_delimiter = Unicode("BEGIN HIDDEN TESTS", help="Text on the line that opens a hidden-test region").tag(
        config=True)
    end_delimiter = Unicode("END HIDDEN TESTS", help="Text on the line that closes a hidden-test region").tag(
        config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Strip the hidden tests from one cell's source and the tracebacks from its error outputs."""
        cell.source = strip_hidden_tests(cell.source, self.begin_delimiter, self.end_delimiter)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output.traceback = [error_line(output)]
        return cell, resources


def feedback_preprocessors() -> list[type]:
    """nbgrader's default ``GenerateFeedback.preprocessors`` with :class:`HideHiddenTests` and
    :class:`~autograder.engine.nbgrader.inert.InertNotebook` right after ``GetGrades``."""
    defaults = list(GenerateFeedback.class_traits()["preprocessors"].default())
    position = defaults.index(GetGrades) + 1 if GetGrades in defaults else 0
    return [*defaults[:position], HideHiddenTests, InertNotebook, *defaults[position:]]


FEEDBACK_PREPROCESSORS: list[type] = feedback_preprocessors()
"""The value for ``c.GenerateFeedback.preprocessors`` in ``nbgrader_config.py``."""
