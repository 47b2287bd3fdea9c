"""Korean of every message students see from the checks: no mechanical particles, none glued to code or numbers."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.checks import uninit
from autograder.checks import values as checks
from autograder.course import REPO_ROOT, published_assignments
from autograder.engine import judge
from autograder.engine.judge import LocalStudent, StudentFunction, local_function, strip_hidden_tests
from autograder.hidden import tensors as hidden_tensors
from autograder.mistakes import alternatives_for, mistakes_for
from autograder.tools.in_process import grade_in_process, release_stubs, with_solutions
from autograder.tools.korean_text import HANGUL, problems, template_problems

MESSAGE_MODULES = [Path(module.__file__) for module in (judge, checks, uninit, hidden_tensors)]


@pytest.mark.parametrize("message", [
    "`pick_device`을(를) 실행하다가 NotImplementedError 오류가 났어요: ",
    "자료형(dtype)이 torch.int64이어야 해요",
    "자료형(dtype)이 torch.float32이에요",
    "모양이 (2, 3)이어야 하는데",
    "[0, 1)을 10칸으로 나누면",
    "keepdim=True를 썼는지",
    "'cuda'가 나왔어요",
])
def test_linter_flags_what_the_issue_found(message):
    """Does the linter flag mechanical particles, particles glued to code or numbers, and a dangling colon?"""
    assert problems(message)


@pytest.mark.parametrize("message", [
    "자료형(dtype)이 달라요. 기대: torch.float32, 받은 값: torch.int64",
    "메모리를 4가지 값(실수라면 NaN, 아주 큰 양수, 아주 큰 음수, 0)으로 채워 가며",
    "GPU가 있는 환경: 나온 장치가 달라요.",
    "seeded_rand((4,), 123) 실행 중에 오류가 났어요.\nValueError: not enough values to unpack",
])
def test_linter_accepts_well_formed_messages(message):
    """Does the linter leave alone particles after Korean words, glosses, plain English words and counters?"""
    assert problems(message) == []


def _templates_in(source: str) -> list[str]:
    """Every string literal with Hangul in Python source except docstrings; f-strings with ``{}`` for values."""
    found, inside_fstrings = [], set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            inside_fstrings.add(id(node.body[0].value))  # a docstring explains code; it is not a message

        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(part) for part in node.values)
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
            found.append(text)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstrings:
            found.append(node.value)
    return [text for text in found if HANGUL.search(text)]


def _notebook_templates() -> list[tuple[str, str]]:
    from autograder.course import source_notebook
    from autograder.tools.in_process import read_notebook

    found = []
    for assignment in published_assignments():
        for cell in read_notebook(source_notebook(assignment)).cells:
            if cell.cell_type == "code":
                for text in _templates_in(strip_hidden_tests(cell.source)):
                    found.append((f"{assignment}: {cell.id}", text))
    return found


def test_message_templates_read_well():
    """Do the message templates of the checks and of the notebooks' cells put no particle after code or a value?"""
    templates = [(str(path.relative_to(REPO_ROOT)), text) for path in MESSAGE_MODULES
                 for text in _templates_in(path.read_text(encoding="utf-8"))]
    templates += _notebook_templates()
    assert len(templates) > 50, "the scan found too few messages to be looking at the right files"
    bad = {f"{where}: {text[:60]!r}": template_problems(text) for where, text in templates if template_problems(text)}
    assert bad == {}


def _grading_messages(assignment: str) -> list[str]:
    from autograder.course import release_notebook, source_notebook
    from autograder.tools.in_process import read_notebook

    source = read_notebook(source_notebook(assignment))
    variants = [release_stubs(read_notebook(release_notebook(assignment)))]
    variants += [mistake.replaces for mistake in mistakes_for(assignment)]
    variants += [alternative.replaces for alternative in alternatives_for(assignment)]
    grades = [grade_in_process(with_solutions(source, replaces)) for replaces in variants]
    return [cell.error for grade in grades for cell in grade.cells.values() if cell.error]


@pytest.mark.parametrize("assignment", published_assignments())
def test_every_message_of_the_mistake_bank_reads_well(assignment):
    """Does every failure that the blank notebook and the banked mistakes produce read as good Korean?"""
    messages = _grading_messages(assignment)
    assert len(messages) >= len(mistakes_for(assignment))
    assert {message: problems(message) for message in messages if problems(message)} == {}


def _failure(action) -> str:
    with pytest.raises(AssertionError) as failure:
        action()
    return str(failure.value)


def test_messages_no_banked_mistake_reaches_read_well():
    """Do the checks' rarer failures (wrong type, empty error, missing function, impostor...) read well too?"""
    fancy = torch.zeros(2).as_subclass(type("Fancy", (torch.Tensor,), {}))
    messages = [
        _failure(lambda: checks.expect_plain_tensor([1.0], "seeded_rand((2, 3), 0) 결과")),
        _failure(lambda: checks.expect_plain_tensor(torch.zeros(2), "결과", dtype=torch.int64)),
        _failure(lambda: checks.expect_plain_tensor(torch.zeros(2), "결과", shape=(3,))),
        _failure(lambda: checks.expect_unchanged(torch.zeros(2), torch.ones(2), "row_proportions")),
        _failure(lambda: local_function(lambda: (_ for _ in ()).throw(ValueError()), "quiet")()),
        _failure(lambda: local_function(lambda: (_ for _ in ()).throw(NotImplementedError()), "blank")()),
        _failure(lambda: StudentFunction("nowhere", LocalStudent({}).send)()),
        _failure(lambda: local_function(lambda: fancy, "fancy")()),
        _failure(lambda: uninit.assert_no_uninitialized_reads(lambda v: torch.empty(3) + v, torch.ones(3))),
        _failure(lambda: hidden_tensors.check_pick_device(local_function(lambda: 3.5, "pick_device"))),
        _failure(lambda: hidden_tensors.check_seeded_rand(local_function(
            lambda shape, seed: torch.sigmoid(torch.randn(shape, generator=torch.Generator().manual_seed(seed))),
            "seeded_rand"))),
        _failure(lambda: hidden_tensors.check_numpy_to_float32(local_function(torch.from_numpy, "numpy_to_float32"))),
    ]
    assert all(HANGUL.search(message) for message in messages)
    assert {message: problems(message) for message in messages if problems(message)} == {}


def test_numpy_is_a_plain_array_here():
    """(Guard) Is numpy the real package, so that the checks above ran on real arrays?"""
    assert isinstance(np.zeros(1), np.ndarray)
