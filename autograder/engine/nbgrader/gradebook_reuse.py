"""One gradebook connection per grading worker, instead of about ten per notebook.

nbgrader's converter and preprocessors open a fresh ``Gradebook`` for every step of every notebook: each one is a
new SQLAlchemy engine whose tables are inspected and created, whose course is checked and whose SQL is compiled
again (its statement cache lives in the engine). During a run of the grading command, :func:`reused_gradebooks`
hands each worker thread one ``Gradebook`` per database and course instead; every ``with`` block still gets a
session of its own (``Gradebook.close`` ends the session, never the engine), so what nbgrader reads and writes is
unchanged. A sqlite gradebook is written in write-ahead mode during the run (a commit then costs microseconds,
not a synced rollback journal) where the disk allows it, and is a single file in rollback mode again afterwards.
Plain ``nbgrader autograde`` is not affected.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from nbgrader import api
from sqlalchemy import create_engine, event, text

_PATCHED_MODULES = (
    "nbgrader.converters.autograde", "nbgrader.preprocessors.overwritecells", "nbgrader.preprocessors.saveautogrades",
    "nbgrader.preprocessors.latesubmissions", "nbgrader.preprocessors.overwritekernelspec", "autograder.engine.nbgrader.preprocessors",
)
"""Modules whose ``Gradebook`` name the grading pipeline calls for each notebook."""


class _Reuse:
    """The gradebooks of one run: one per (thread, database, course), all closed when the run ends."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.opened: list[api.Gradebook] = []
        self.lock = threading.Lock()

    def __call__(self, db_url: str, course_id: str = "default_course", authenticator: Any = None) -> api.Gradebook:
        books = self.local.__dict__.setdefault("books", {})
        key = (db_url, course_id, authenticator)
        if key not in books:
            book = api.Gradebook(db_url, course_id, authenticator)
            if book.engine.dialect.name == "sqlite":
                event.listen(book.engine, "connect", _write_ahead)
                book.engine.dispose()  # the connection opened by __init__ is replaced by one with the pragmas
            books[key] = book
            with self.lock:
                self.opened.append(book)
        return books[key]

    def close(self) -> None:
        """Close every engine, then put each sqlite gradebook back in rollback-journal mode (a single file)."""
        sqlite_urls = set()
        for book in self.opened:
            book.db.remove()
            if book.engine.dialect.name == "sqlite":
                sqlite_urls.add(book.engine.url)
            book.engine.dispose()
        self.opened.clear()
        for url in sqlite_urls:
            engine = create_engine(url)
            try:
                with engine.connect() as connection:
                    connection.execute(text("PRAGMA journal_mode=DELETE"))
            except Exception:  # noqa: BLE001 - another process has it open: it stays in WAL mode, still consistent
                pass
            finally:
                engine.dispose()


def _write_ahead(connection: Any, _record: Any) -> None:
    """Write-ahead log with normal syncing: committed data is safe from a crash of the grader (not of the
    machine's power, for the last commits); where the filesystem has no shared memory, sqlite keeps its journal."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@contextlib.contextmanager
def reused_gradebooks() -> Iterator[Any]:
    """Within this block, the grading pipeline's ``Gradebook(...)`` calls reuse one gradebook per worker thread;
    yields the same opener for the caller's own gradebook reads."""
    import importlib

    reuse = _Reuse()
    modules = [importlib.import_module(name) for name in _PATCHED_MODULES]
    originals = [module.Gradebook for module in modules]
    for module in modules:
        module.Gradebook = reuse
    try:
        yield reuse
    finally:
        for module, original in zip(modules, originals):
            module.Gradebook = original
        reuse.close()
