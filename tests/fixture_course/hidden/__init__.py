"""Hidden checks of the fixture course (``judge("fixture_course.hidden.<topic>.check_x", ...)``)."""
