"""``PYTHONPATH=tests python -m fixture_course``: regenerate the fixture's release notebook after editing its source."""

import fixture_course
from autograder.tools.release import regenerate

with fixture_course.selected():
    for path in regenerate():
        print(f"wrote {path}")
