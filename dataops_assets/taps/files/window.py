"""The ``[start, end)`` window on a replication key, compared as instants when the key is a date-time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def to_instant(value: Any) -> datetime:
    """An aware UTC datetime; naive values mean UTC, as everywhere in this project.

    '2024-01-01T23:30:00-05:00' and '2024-01-02T04:30:00Z' are the same instant, so they compare equal.
    """
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Window:
    """Bounds already converted with ``key``; a record's value is converted the same way before comparing."""

    lower: Any = None
    upper: Any = None
    key: Callable[[Any], Any] = _same

    @classmethod
    def of_instants(cls, lower: Any, upper: Any) -> Window:
        return cls(
            lower=None if lower is None else to_instant(lower),
            upper=None if upper is None else to_instant(upper),
            key=to_instant,
        )

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is inside; a missing value is only inside an unbounded window, as in SQL."""
        if self.lower is None and self.upper is None:
            return True
        if value is None:
            return False
        converted = self.key(value)
        if self.lower is not None and converted < self.lower:
            return False
        return self.upper is None or converted < self.upper
