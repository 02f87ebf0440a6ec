"""How numbers read in the book's tables and sentences: an interval, a signed difference, a count, a table."""

import math
from collections.abc import Sequence


def plus_minus(mean: float, ci: float, digits: int = 2) -> str:
    """"mean ± ci" at `digits` decimals; the mean alone when there is no interval, "" when there is no mean."""
    if math.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def signed(value: float) -> str:
    """A signed two-decimal number in which a value that rounds to zero reads +0.00, never -0.00."""
    return f"{0.0 if round(value, 2) == 0 else value:+.2f}"


def table_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the header, its rule (|---|---|) and one line per row."""
    head, *body = ("| " + " | ".join(cells) + " |" for cells in [header, *rows])
    return "\n".join([head, "|" + "---|" * len(header), *body])


def count(n: int, noun: str) -> str:
    """'1 paired test', '3 paired tests'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
