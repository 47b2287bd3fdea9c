"""Lint Korean in messages the course generates: particles must fit the word they follow.

A Korean particle depends on how the word before it ends (을/를, 이/가, 은/는, 와/과, 으로/로), which a program
cannot know for code or numbers it pastes in. Messages therefore never glue a particle to code, a number or a
value filled in at run time; they use a noun or a colon instead ("자료형(dtype)이 달라요. 기대: torch.float32,
받은 값: torch.int64"). Mechanical forms such as "을(를)" are not used either.

:func:`problems` checks a finished message; :func:`template_problems` checks a message template, where ``{}`` marks
a value filled in later. Both return one line per problem (empty when the text is fine).
"""

from __future__ import annotations

import re

MECHANICAL = re.compile(r"을\(를\)|를\(을\)|이\(가\)|가\(이\)|은\(는\)|는\(은\)|와\(과\)|과\(와\)|\(으\)로|\((?:이|을|를|은|는|과|와)\)")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
COUNTERS = ("가지", "개", "번째", "번", "초", "점", "칸", "줄", "차원", "배", "바이트", "명", "회", "분", "시간", "행",
            "열", "단계", "년", "월", "퍼센트", "씩")
"""Words that follow a number without being a particle ("4가지", "2차원", "60초")."""
_CODE_CHARS = re.compile(r"[A-Za-z0-9_.]")
_CODE_JOINERS = "=.(_[/"
_OPENERS = {")": "(", "]": "[", "}": "{"}


def _is_hangul(char: str) -> bool:
    return bool(HANGUL.fullmatch(char))


def _glued(text: str, index: int) -> str | None:
    """Why the Hangul at ``index``, glued to what precedes it, is a particle after code or a number (None: fine)."""
    before = text[index - 1]
    rest = text[index:]
    if before.isdigit() or before == "}":
        return None if rest.startswith(COUNTERS) else "a particle right after a number or a filled-in value"
    if before == "`":
        return "a particle right after `code`"
    if before in "'\"":
        return "a particle right after a quoted value"
    if before in _OPENERS:
        opener, depth, position = _OPENERS[before], 0, index - 1
        while position >= 0:
            if text[position] == before:
                depth += 1
            elif text[position] == opener:
                depth -= 1
                if depth == 0:
                    break
            position -= 1
        if position > 0 and _is_hangul(text[position - 1]):
            return None  # a Korean word glossed in parentheses: 자료형(dtype)이
        return "a particle right after a bracketed value or code"
    if _CODE_CHARS.fullmatch(before):
        start = index - 1
        while start > 0 and _CODE_CHARS.fullmatch(text[start - 1]):
            start -= 1
        token = text[start:index]
        joined = start > 0 and text[start - 1] in _CODE_JOINERS
        if re.search(r"[0-9_.]", token) or joined:
            return f"a particle right after the code {token!r}"
    return None


def _glued_problems(text: str) -> list[str]:
    found = []
    for index in range(1, len(text)):
        if _is_hangul(text[index]) and not _is_hangul(text[index - 1]) and not text[index - 1].isspace():
            reason = _glued(text, index)
            if reason:
                found.append(f"{reason}: ...{text[max(0, index - 25):index + 6]}...")
    return found


def template_problems(template: str) -> list[str]:
    """Problems of a message template whose run-time values are written ``{}`` (or ``{name}``)."""
    found = [f"mechanical particle {match.group()!r}" for match in MECHANICAL.finditer(template)]
    return found + _glued_problems(template)


def problems(message: str) -> list[str]:
    """Problems of a finished message: the template checks, and no message may end in a bare colon."""
    found = template_problems(message)
    if message.rstrip().endswith(":"):
        found.append(f"ends with a colon and nothing after it: ...{message.rstrip()[-30:]}")
    return found
