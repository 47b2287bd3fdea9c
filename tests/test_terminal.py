"""printable() and the grading summary: text from a submission never drives the instructor's terminal."""

from __future__ import annotations

import logging

import pytest

from autograder.engine.grade import Result, summary_lines
from autograder.engine.terminal import PrintableLogFilter, printable

ERASE_LINE_ABOVE = "\x1b[2K\x1b[1A\x1b[2K"


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2K\x1b[1A", "\\x1b[2K\\x1b[1A"),
    ("ok\rFLAG gone", "ok\\rFLAG gone"),
    ("a\nb\tc\x08d\x7f", "a\\nb\\tc\\x08d\\x7f"),
    ("\x9b2K", "\\x9b2K"),  # the one-byte CSI of C1
    ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
    ("zero\u200bwidth\u2028line", "zero\\u200bwidth\\u2028line"),
    ("bad\udcffbyte", "bad\\udcffbyte"),  # a file name that is not UTF-8 (surrogateescape)
])
def test_control_and_format_characters_become_visible_escapes(raw, shown):
    """Is every control, format or separator character shown as a visible escape?"""
    assert printable(raw) == shown


def test_ordinary_text_is_unchanged():
    """Do Hangul, punctuation, backslashes and spaces pass through as they are?"""
    text = "s01: torch.py 파일이 torch를 가려서 복사하지 않았어요 (C:\\x) [100%]"
    assert printable(text) == text


def test_printable_output_can_always_be_printed(capsys):
    """Can the escaped form of a non-UTF-8 file name be printed (print would raise on the raw surrogate)?"""
    print(printable("name\udcff.py"))
    assert capsys.readouterr().out == "name\\udcff.py\n"


def _result(**fields) -> Result:
    return Result(**{"student": "s01", "assignment": "00_tensors", "status": "graded", **fields})


def test_summary_escapes_file_names_in_fixed_lines():
    """Does a FIXED line show a file name's escape codes visibly, so that the FLAG line above it survives?"""
    result = _result(incidents=[{"kind": "tampering", "cell": "c1", "detail": "torch.equal"}],
                     repairs=[f"torch.{ERASE_LINE_ABOVE}.py would shadow the installed module 'torch'; not copied"])
    lines = summary_lines([result])
    assert lines[1].lstrip().startswith("FLAG") and "\x1b" not in "".join(lines)
    assert "torch.\\x1b[2K\\x1b[1A\\x1b[2K.py" in lines[2]


def test_summary_escapes_student_ids_details_and_errors():
    """Are student ids, incident cells and details, and error reasons escaped in every kind of line?"""
    results = [
        _result(student=f"s{ERASE_LINE_ABOVE}", incidents=[{"kind": "forbidden_access", "cell": "c\r1",
                                                           "detail": f"open /course/{ERASE_LINE_ABOVE}"}]),
        _result(student="s\r02", status="error", error=f"x.ipynb is not valid notebook JSON\r{ERASE_LINE_ABOVE}"),
    ]
    text = "\n".join(summary_lines(results))
    assert [ch for ch in text if ch != "\n" and not ch.isprintable()] == []
    assert "s\\x1b[2K" in text and "c\\r1" in text and "open /course/\\x1b[2K" in text and "s\\r02" in text


def test_log_filter_escapes_messages_and_keeps_line_breaks():
    """Does nbgrader's log show a copied file's escape codes visibly, with a traceback's line breaks kept?"""
    record = logging.LogRecord("AutogradeApp", logging.INFO, __file__, 1, "Copying %s -> %s", (
        f"torch.{ERASE_LINE_ABOVE}.py", "dest\r"), None)
    assert PrintableLogFilter().filter(record)
    assert record.getMessage() == "Copying torch.\\x1b[2K\\x1b[1A\\x1b[2K.py -> dest\\r"
    traceback = logging.LogRecord("x", logging.ERROR, __file__, 1, "Traceback:\n  line\x1b[2K", None, None)
    PrintableLogFilter().filter(traceback)
    assert traceback.getMessage() == "Traceback:\n  line\\x1b[2K"
