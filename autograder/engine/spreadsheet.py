"""Text cells that a spreadsheet shows as text, never runs: the course's defence against CSV injection.

A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed is a formula to Excel,
LibreOffice and Google Sheets (OWASP, "CSV Injection"). Student ids come from folder names and failure messages
from exception classes a student can name ``=HYPERLINK("http://x","y")``, so every text cell the course writes goes
through :func:`spreadsheet_text`; numbers are written as numbers and never pass through it.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list)."""


def spreadsheet_text(text: object) -> str:
    """``text`` as a string that a spreadsheet shows as text: prefixed with an apostrophe when it would be a formula."""
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
