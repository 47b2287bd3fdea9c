"""Instructor-only package of the PyTorch course: hidden tests, reusable checks and grading tools.

Students never install it; the release notebooks run without it.
"""
