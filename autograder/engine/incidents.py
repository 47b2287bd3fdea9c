"""What can happen while a submission is graded, and which of it needs an instructor's look.

``ContainedExecute`` records incidents (a dict with ``kind``, ``cell`` and ``detail``) for every notebook it runs.
Incidents of a :data:`FLAG_KINDS` kind flag the submission: a ``FLAG`` line in the grading command's summary, the
gradebook's ``flagged`` mark (formgrader's Flagged column, set by :class:`autograder.engine.nbgrader.preprocessors.RecordFlags`),
and the reports. The others are ``NOTE`` lines.
"""

from __future__ import annotations

FLAG_KINDS = frozenset({
    "tampering",          # what grading relies on changed; the rest of the notebook scores 0
    "impostor_result",    # a result whose class redefines comparison
    "probe_failed",       # the hidden test could not run the student's function
    "kernel_died",        # the kernel died while a cell ran
    "forbidden_access",   # reached for hidden files, the network or processes outside the kernel (stopped)
    "oversized_message",  # the kernel sent a message over the grader's size cap
    "process_cap",        # the kernel hit its cap on processes
    "stray_processes",    # processes were still running when grading ended and were killed
})

RECORD_SUFFIX = ".grading.json"
"""``<notebook>.grading.json`` next to the autograded notebook: this grading's incidents, read by the grading command
and the reports. Never copied into feedback (``CourseDirectory.ignore`` in nbgrader_config.py)."""


def flagged(incidents: list[dict]) -> bool:
    """Whether any of ``incidents`` needs an instructor's look."""
    return any(incident.get("kind") in FLAG_KINDS for incident in incidents)
