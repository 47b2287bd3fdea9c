"""Show text that came from a submission on a terminal without letting it drive the terminal.

A file name, a path or an exception message is chosen by the student. Printed raw, ANSI escape codes in it
(``ESC[2K ESC[1A``: erase the line, go up one) can erase the FLAG line printed just before it, a carriage return can
overwrite a line, bidirectional overrides can reorder what is shown, and a stray surrogate (a file name that is not
UTF-8) makes ``print`` raise. :func:`printable` shows every such character as a visible escape instead.
"""

from __future__ import annotations

import logging
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Control characters (C0, DEL, C1 with CSI), format characters (bidi overrides, zero-width), surrogates, separators."""


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` with every control, format or separator character shown as a visible escape (``\\x1b``, ``\\r``)."""
    return "".join(_escape(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in str(text))


def printable_lines(text: object) -> str:
    """Like :func:`printable`, but line breaks stay line breaks (for tracebacks and logs)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


class PrintableLogFilter(logging.Filter):
    """A logging filter that passes every line of a message through :func:`printable`.

    nbgrader logs the files it copies from a submission (``Copying <path> -> <path>``) on the instructor's terminal;
    ``nbgrader_config.py`` attaches this filter to the console handler of every nbgrader command. Line breaks stay
    (tracebacks are logged as one message); everything else that could drive the terminal is escaped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message with its printable form; never drop a record."""
        record.msg = printable_lines(record.getMessage())
        record.args = None
        return True
