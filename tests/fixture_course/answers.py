"""What the fixture's synthetic students write into the solution cells, besides the reference and the stubs.

``MISTAKES``: wrong answers, each losing the points of the test cells in ``loses_on``; ``caught_by`` says whether
the cell's visible test already fails it ("visible") or only the hidden check does ("hidden"). ``ALTERNATIVES``:
correct answers written differently from the reference (full marks).
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

DOUBLE, COLUMNS, PREFIX = "double_solution", "column_sums_solution", "prefix_sums_solution"
TEST_OF = {
    DOUBLE: "double_keeps_dtype",
    COLUMNS: "column_sums_starts_from_zero",
    PREFIX: "prefix_sums_fills_every_element",
}


@dataclass(frozen=True)
class Mistake:
    name: str
    replaces: dict[str, str]
    caught_by: str  # "visible" | "hidden"

    @property
    def loses_on(self) -> tuple[str, ...]:
        return tuple(TEST_OF[cell] for cell in self.replaces)


def _cell(source: str) -> str:
    return dedent(source).strip("\n")


MISTAKES = {m.name: m for m in [
    Mistake("double_adds_one", {DOUBLE: _cell('''
        def double(x):
            return x * 2 + 1
    ''')}, "visible"),
    Mistake("double_in_place", {DOUBLE: _cell('''
        def double(x):
            return x.mul_(2)
    ''')}, "hidden"),
    Mistake("columns_row_sums", {COLUMNS: _cell('''
        def column_sums(x):
            return x.sum(dim=1)
    ''')}, "visible"),
    Mistake("columns_first_two_rows", {COLUMNS: _cell('''
        def column_sums(x):
            return x[0] + x[1]
    ''')}, "hidden"),
    Mistake("columns_start_from_empty", {COLUMNS: _cell('''
        def column_sums(x):
            total = torch.empty(x.shape[1], dtype=x.dtype)
            for row in x:
                total += row
            return total
    ''')}, "hidden"),
    Mistake("prefix_skips_first", {PREFIX: _cell('''
        def prefix_sums(x):
            out = torch.zeros_like(x)
            for i in range(1, len(x)):
                out[i] = out[i - 1] + x[i]
            return out
    ''')}, "visible"),
    Mistake("prefix_always_float32", {PREFIX: _cell('''
        def prefix_sums(x):
            return torch.cumsum(x, dim=0, dtype=torch.float32)
    ''')}, "hidden"),
]}
"""``columns_start_from_empty`` reads uninitialized memory: its visible test may pass by luck, its hidden check never."""

ALTERNATIVES = {
    DOUBLE: _cell('''
        def double(x):
            return x + x
    '''),
    COLUMNS: _cell('''
        def column_sums(x):
            return x.sum(dim=0)
    '''),
    PREFIX: _cell('''
        def prefix_sums(x):
            return torch.cumsum(x, dim=0)
    '''),
}
