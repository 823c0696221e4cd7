"""bench/README.md is shared: each benchmark rewrites only its own section, between its two markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README_PATH = Path(__file__).resolve().parent / "README.md"


def write_section(start: str, end: str, section: str, intro: str = "") -> None:
    """Replace what lies from ``start`` to ``end`` with ``section`` (which holds both markers).

    The file is read right before writing, since other benchmarks write their sections too. A section not
    there yet is appended, after ``intro`` (its heading and prose).
    """
    text = README_PATH.read_text() if README_PATH.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + intro + section + "\n"
    README_PATH.write_text(text)


def cell(value: Any, digits: int = 0) -> str:
    """A table cell: dashes for missing values, thousands separators for counts."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
