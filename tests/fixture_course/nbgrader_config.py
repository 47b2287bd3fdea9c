"""nbgrader configuration of the engine's fixture course: the real course's pipeline, with this course's id.

Everything that grades (preprocessors, exporter, feedback, limits, logging) comes from the repository's own
nbgrader_config.py, so the engine tests grade the fixture exactly as the course is graded, and a mutant that edits
that file (tests/mutants.py) edits the fixture's grading too.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
load_subconfig(str(Path(__file__).resolve().parents[2] / "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.course_id = "engine-fixture"
