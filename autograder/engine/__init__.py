"""The grading engine: judge and probe, kernels, the nbgrader steps, intake, the grading run, reports.

It imports nothing of the course; it sees the course through ``autograder.engine.layout``.
"""
