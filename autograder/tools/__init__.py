"""Instructor and maintainer tools: release, the demo cohort, bench, timing, reports on the mistake bank,
the in-process grader, the browser check.
"""
