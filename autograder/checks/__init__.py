"""Reusable check helpers that the hidden checks (``autograder/hidden/<topic>.py``) call.

``values``: results compared with Korean messages; ``uninit``: whether a result depends on uninitialized memory.
"""

from autograder.checks.uninit import *  # noqa: F401,F403
from autograder.checks.values import *  # noqa: F401,F403
