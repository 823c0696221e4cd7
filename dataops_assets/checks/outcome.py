"""A check's verdict as plain data, so the computations stay testable without Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
