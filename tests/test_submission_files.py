"""autograder.engine.submission_files and autograder.engine.nbgrader.submission_exporter: a submission is looked at without following links."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import nbformat
import pytest
from nbconvert.preprocessors import Preprocessor

from autograder.engine.intake import submission_digest
from autograder.engine.nbgrader.submission_exporter import CheckedNotebookExporter
from autograder.engine.submission_files import RefusedSubmission, SubmissionFiles, read_regular, shown


@pytest.fixture
def submission(tmp_path) -> Path:
    """An ordinary submission folder: a notebook, a data subfolder, a checkpoints folder."""
    folder = tmp_path / "submitted" / "alice" / "00_tensors"
    (folder / "data" / "labels").mkdir(parents=True)
    (folder / "00_tensors.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "data" / "train.csv").write_text("x,y\n1,2\n")
    (folder / "data" / "labels" / "readme.txt").write_text("라벨")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "00_tensors-checkpoint.ipynb").write_text("{}")
    return folder


def _refusal(folder: Path, files: SubmissionFiles | None = None, **kwargs) -> str:
    with pytest.raises(RefusedSubmission) as refused:
        (files or SubmissionFiles()).check(folder, **kwargs)
    return str(refused.value)


def test_an_ordinary_submission_is_copied_exactly(submission, tmp_path):
    """Does a submission of regular files and folders copy byte for byte, with its mtimes, and nothing else?"""
    copy = tmp_path / "copy"
    tally = SubmissionFiles().copy(submission, copy)
    copied = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    assert copied == sorted(p.relative_to(submission) for p in submission.rglob("*"))
    for path in submission.rglob("*"):
        if path.is_file():
            assert (copy / path.relative_to(submission)).read_bytes() == path.read_bytes()
            assert (copy / path.relative_to(submission)).stat().st_mtime_ns == path.stat().st_mtime_ns
    assert tally.entries == 7 and tally.bytes == sum(p.stat().st_size for p in submission.rglob("*") if p.is_file())


def test_skipped_top_level_names_are_not_copied(submission, tmp_path):
    """Are the top-level entries named in ``skip`` left out of the copy (and not even looked at)?"""
    os.symlink("/etc/passwd", submission / ".hidden_link")
    SubmissionFiles().copy(submission, tmp_path / "copy", skip={".ipynb_checkpoints", ".hidden_link"})
    assert not (tmp_path / "copy" / ".ipynb_checkpoints").exists()
    assert not os.path.lexists(tmp_path / "copy" / ".hidden_link")


@pytest.mark.parametrize("where", ["top", "nested"])
@pytest.mark.parametrize("target", ["file", "folder", "dangling"])
def test_a_link_anywhere_is_refused(submission, tmp_path, where, target):
    """Is a symbolic link (to a file, to a folder, or to nothing), at the top or deep inside, refused unread?"""
    secret = tmp_path / "secret.txt"
    secret.write_text("root only")
    pointing = {"file": secret, "folder": tmp_path, "dangling": tmp_path / "nothing"}[target]
    link = (submission if where == "top" else submission / "data" / "labels") / "link"
    link.symlink_to(pointing)
    message = _refusal(submission)
    relative = "link" if where == "top" else "data/labels/link"
    assert f"{relative} is a symbolic link" in message and "학생 안내" in message


def test_a_notebook_that_is_a_link_is_refused(submission):
    """Is a notebook replaced by a link to the source notebook refused?"""
    (submission / "00_tensors.ipynb").unlink()
    (submission / "00_tensors.ipynb").symlink_to(Path(__file__).resolve())
    assert "00_tensors.ipynb is a symbolic link" in _refusal(submission)


@pytest.mark.parametrize("level", ["student", "assignment"])
def test_a_linked_submission_folder_is_refused(submission, tmp_path, level):
    """Is a student or assignment folder that is itself a link refused (the folder above is trusted)?"""
    submitted = tmp_path / "submitted"
    elsewhere = tmp_path / "elsewhere"
    if level == "student":
        os.rename(submitted / "alice", elsewhere)
        (submitted / "alice").symlink_to(elsewhere)
        expected = "alice is a symbolic link"
    else:
        os.rename(submission, elsewhere)
        submission.symlink_to(elsewhere)
        expected = "alice/00_tensors is a symbolic link"
    assert expected in _refusal(submission, below=submitted)


def test_a_trusted_link_above_the_student_folder_is_followed(submission, tmp_path):
    """Is ``submitted/`` itself allowed to be a link an instructor made?"""
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "submitted").symlink_to(tmp_path / "submitted")
    linked = tmp_path / "course" / "submitted"
    assert SubmissionFiles().check(linked / "alice" / "00_tensors", below=linked).entries == 7


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_node_is_refused(submission):
    """Is a character device (here one that reads like /dev/zero) refused before it is opened?"""
    os.mknod(submission / "zeros.bin", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    assert "zeros.bin is a device file" in _refusal(submission)


def test_a_fifo_is_refused_without_blocking(submission):
    """Is a named pipe refused (opening it for reading would block the grader forever)?"""
    os.mkfifo(submission / "data" / "pipe")
    assert "data/pipe is a named pipe" in _refusal(submission)


def test_too_many_files_are_refused(submission):
    """Is a submission with more files and folders than the cap refused, saying the cap?"""
    message = _refusal(submission, SubmissionFiles(max_files=6))
    assert "more than 6 files and folders" in message and "6개" in message


def test_too_many_bytes_are_refused(submission):
    """Is a submission whose files together exceed the byte cap refused, saying the cap?"""
    with open(submission / "data" / "big.bin", "wb") as handle:
        handle.truncate((1 << 20) + 1)
    message = _refusal(submission, SubmissionFiles(max_mb=1))
    assert "more than 1 MiB" in message


def test_a_copy_over_its_byte_cap_is_refused(submission, tmp_path):
    """Does a copy stop at an explicit byte cap (the kernel's disk quota) with a refusal, not a full disk?"""
    with pytest.raises(RefusedSubmission, match="more than"):
        SubmissionFiles().copy(submission, tmp_path / "copy", max_files=None, max_bytes=10)


def test_file_names_are_shown_without_control_characters():
    """Is a file name with terminal escape codes shown escaped, with Hangul kept?"""
    assert shown("a\x1b[2Jb\n노트.txt") == "a\\x1b[2Jb\\n노트.txt"


def test_read_regular_refuses_links_and_caps_size(tmp_path):
    """Does read_regular read a regular file, refuse a link to one, and refuse one over its cap?"""
    real = tmp_path / "real.txt"
    real.write_bytes(b"12345")
    (tmp_path / "link.txt").symlink_to(real)
    assert read_regular(real, 5) == b"12345"
    with pytest.raises(RefusedSubmission, match="symbolic link"):
        read_regular(tmp_path / "link.txt", 100)
    with pytest.raises(RefusedSubmission, match="more than"):
        read_regular(real, 4)


def test_exporter_never_reads_a_notebook_through_a_link(submission):
    """Does the exporter of plain nbgrader refuse to read a notebook that is a link, and read a real one?"""
    exporter = CheckedNotebookExporter()
    output, resources = exporter.from_filename(str(submission / "00_tensors.ipynb"))
    assert json.loads(output)["nbformat"] == 4 and resources["metadata"]["name"] == "00_tensors"
    (submission / "linked.ipynb").symlink_to(submission / "00_tensors.ipynb")
    with pytest.raises(RefusedSubmission, match="symbolic link"):
        exporter.from_filename(str(submission / "linked.ipynb"))


class _BreaksTheNotebook(Preprocessor):
    def preprocess(self, nb, resources):
        nb.cells.append({"id": "broken", "cell_type": "code", "source": "x"})  # no outputs or metadata: invalid
        return nb, resources


class _PassesItOn(Preprocessor):
    def preprocess(self, nb, resources):
        return nb, resources


def test_a_notebook_a_preprocessor_made_invalid_is_still_refused(submission):
    """Validating once after the last preprocessor (instead of after each): is a notebook made invalid in the middle
    of the pipeline still refused, and a valid one still exported?"""
    exporter = CheckedNotebookExporter()
    assert exporter.optimistic_validation
    exporter.register_preprocessor(_PassesItOn(), enabled=True)
    exporter.from_filename(str(submission / "00_tensors.ipynb"))
    exporter.register_preprocessor(_BreaksTheNotebook(), enabled=True)
    exporter.register_preprocessor(_PassesItOn(), enabled=True)
    with pytest.raises(nbformat.ValidationError):
        exporter.from_filename(str(submission / "00_tensors.ipynb"))


def test_submission_digest_never_follows_a_link(submission, tmp_path):
    """Does the digest of a submission folder hash a link by its name, never by what it points to?"""
    target = tmp_path / "target.txt"
    target.write_text("one")
    (submission / "link").symlink_to(target)
    before = submission_digest(submission)
    target.write_text("two")
    assert submission_digest(submission) == before
    os.mkfifo(submission / "pipe")  # hashed by name and kind, never opened
    assert submission_digest(submission) != before
