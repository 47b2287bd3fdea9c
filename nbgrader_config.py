"""nbgrader configuration of the course; run nbgrader commands from the repository root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.course import COURSE_ID, published_assignments  # noqa: E402

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.db_assignments = [{"name": name} for name in published_assignments()]

# What students see in place of a solution (Korean, like the rest of the notebook).
c.ClearSolutions.code_stub = {"python": "# 여기에 코드를 작성하세요\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "여기에 답을 작성하세요"

# Grading limits: a cell that runs longer than this is stopped and loses its points.
c.Execute.timeout = 60
c.Execute.startup_timeout = 60
