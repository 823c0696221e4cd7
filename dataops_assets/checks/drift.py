"""Distribution drift: do this load's rows look like the rows before them?

Population stability index (PSI) per column: numeric columns are cut into bins at the reference rows'
deciles, text and boolean columns binned by value; NULL is a bin of its own, so a column that starts
arriving empty drifts too. PSI = sum((new% - ref%) * ln(new% / ref%)); the usual reading is < 0.1 stable,
0.1-0.2 moderate, > 0.2 shifted (the default threshold).

The rows compared: for partitioned sources, the partitions of this load against the ``history_window``
partitions before them (``_dataops_partition``); for unpartitioned ones, the rows this load wrote
(``_sdc_batched_at`` from this load's oldest batch on) against every earlier row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from dataops_assets.checks.lake_checks import in_list, quoted_table
from dataops_assets.checks.names import DISTRIBUTION_DRIFT
from dataops_assets.checks.outcome import CheckOutcome
from dataops_assets.config.models import CheckSettings
from dataops_assets.lake.names import quote_identifier, quote_literal
from dataops_assets.landing.layout import UNPARTITIONED

_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
NUMERIC_TYPES = frozenset(
    [*_INTEGERS, *(f"U{kind}" for kind in _INTEGERS), "FLOAT", "DOUBLE", "DECIMAL", "REAL"]
)
CATEGORICAL_TYPES = ("VARCHAR", "BOOLEAN")
_EPSILON = 1e-4  # stands in for an empty bin, so ln() stays finite
_DECILES = [step / 10 for step in range(1, 10)]


def psi(reference: Sequence[float], new: Sequence[float]) -> float:
    """PSI of two histograms over the same bins (counts or shares; each is normalized)."""
    reference_total, new_total = sum(reference), sum(new)
    if reference_total <= 0 or new_total <= 0:
        return 0.0
    total = 0.0
    for expected, actual in zip(reference, new, strict=True):
        e = max(expected / reference_total, _EPSILON)
        a = max(actual / new_total, _EPSILON)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True)
class Comparison:
    """Which rows are new and which are the reference, as SQL predicates over the table."""

    new: str
    reference: str
    description: str
    history: int | None = None  # earlier partitions in the reference (partitioned sources)


def comparison_for_load(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    partitions: Sequence[str],
    loaded_since: Any,
    window: int,
) -> Comparison | None:
    dated = sorted(partition for partition in partitions if partition != UNPARTITIONED)
    if dated:
        rows = connection.execute(
            f"SELECT DISTINCT _dataops_partition FROM {quoted_table(table)} "
            f"WHERE _dataops_partition < ? AND _dataops_partition <> ? ORDER BY 1 DESC LIMIT ?",
            [dated[0], UNPARTITIONED, window],
        ).fetchall()
        earlier = [str(row[0]) for row in rows]
        if not earlier:
            return None
        return Comparison(
            new=f"_dataops_partition IN ({in_list(dated)})",
            reference=f"_dataops_partition IN ({in_list(earlier)})",
            description=f"partitions {dated[0]}..{dated[-1]} vs {earlier[-1]}..{earlier[0]}",
            history=len(earlier),
        )
    if loaded_since is None:
        return None
    since = f"TIMESTAMPTZ {quote_literal(str(loaded_since))}"
    return Comparison(
        new=f"_sdc_batched_at >= {since}",
        reference=f"_sdc_batched_at < {since}",
        description=f"rows loaded since {loaded_since} vs earlier rows",
    )


def drift_candidates(
    columns: dict[str, str], stream: str, excluded: Sequence[str], settings: CheckSettings
) -> dict[str, str]:
    """Columns worth comparing, with their kind (``numeric``/``categorical``).

    Automatic: numeric, text and boolean columns, except keys and other ``excluded`` columns, the
    ``_sdc_*``/``_dataops_*`` metadata, and identifiers (``id``, ``*_id``), whose values grow with time
    and would always look shifted. ``drift_columns`` replaces the automatic choice.
    """

    def named(name: str, patterns: Sequence[str]) -> bool:
        return name in patterns or f"{stream}.{name}" in patterns

    chosen = [name for name in columns if settings.drift_columns and named(name, settings.drift_columns)]
    if not chosen:
        chosen = [
            name
            for name in columns
            if not name.startswith(("_sdc_", "_dataops_"))
            and name not in excluded
            and name != "id"
            and not name.endswith("_id")
        ]
    kinds = {name: _kind(columns[name]) for name in chosen if not named(name, settings.drift_exclude)}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def _kind(column_type: str) -> str | None:
    base = column_type.upper().split("(")[0].strip()
    if base in NUMERIC_TYPES:
        return "numeric"
    if base in CATEGORICAL_TYPES:
        return "categorical"
    return None  # timestamps, dates, structs, lists, JSON


def distribution_drift(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    candidates: dict[str, str],
    comparison: Comparison | None,
    settings: CheckSettings,
) -> CheckOutcome:
    if comparison is None:
        return CheckOutcome(DISTRIBUTION_DRIFT, True, f"{table}: skipped, no earlier rows to compare with")
    if comparison.history is not None and comparison.history < settings.min_history:
        return CheckOutcome(
            DISTRIBUTION_DRIFT,
            True,
            f"{table}: skipped, {comparison.history} earlier partitions (needs {settings.min_history})",
        )
    counts = connection.execute(
        f"SELECT count(*) FILTER (WHERE {comparison.new}), count(*) FILTER (WHERE {comparison.reference}) "
        f"FROM {quoted_table(table)}"
    ).fetchone()
    new_rows, reference_rows = (int(value) for value in counts) if counts else (0, 0)
    metadata: dict[str, Any] = {
        "compared": comparison.description,
        "new_rows": new_rows,
        "reference_rows": reference_rows,
        "psi_threshold": settings.psi_threshold,
    }
    if min(new_rows, reference_rows) < settings.min_rows:
        return CheckOutcome(
            DISTRIBUTION_DRIFT,
            True,
            f"{table}: skipped, {new_rows} new and {reference_rows} reference rows (needs {settings.min_rows} each)",
            metadata,
        )
    scores: dict[str, float] = {}
    for column, kind in candidates.items():
        if kind == "numeric":
            score = _numeric_psi(connection, table, column, comparison)
        else:
            score = _categorical_psi(connection, table, column, comparison, settings.max_categories)
        if score is not None:
            scores[column] = round(score, 4)
    metadata |= {f"psi/{column}": score for column, score in scores.items()}
    drifted = {column: score for column, score in scores.items() if score > settings.psi_threshold}
    if drifted:
        shown = ", ".join(
            f"{column} (PSI {score:.2f})"
            for column, score in sorted(drifted.items(), key=lambda item: -item[1])
        )
        return CheckOutcome(
            DISTRIBUTION_DRIFT,
            False,
            f"{table}: {shown} shifted beyond PSI {settings.psi_threshold:g} ({comparison.description}): "
            "a source change, a bug upstream, or a real change in the business?",
            metadata,
        )
    return CheckOutcome(
        DISTRIBUTION_DRIFT,
        True,
        f"{table}: {len(scores)} columns within PSI {settings.psi_threshold:g} ({comparison.description})",
        metadata,
    )


def _numeric_psi(
    connection: duckdb.DuckDBPyConnection, table: str, column: str, comparison: Comparison
) -> float | None:
    name = f"CAST({quote_identifier(column)} AS DOUBLE)"
    row = connection.execute(
        f"SELECT quantile_cont({name}, {_DECILES}) FROM {quoted_table(table)} WHERE {comparison.reference}"
    ).fetchone()
    edges = sorted({edge for edge in (row[0] if row and row[0] else []) if edge is not None})
    if not edges:
        return None
    # Bin number: how many edges the value exceeds; NULL is bin -1.
    bin_of = " + ".join(f"({name} > {edge!r})::INTEGER" for edge in edges)
    return _psi_of_bins(connection, table, f"CASE WHEN {name} IS NULL THEN -1 ELSE {bin_of} END", comparison)


def _categorical_psi(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    comparison: Comparison,
    max_categories: int,
) -> float | None:
    name = f"CAST({quote_identifier(column)} AS VARCHAR)"
    row = connection.execute(
        f"SELECT count(DISTINCT {name}) FROM {quoted_table(table)} WHERE {comparison.reference}"
    ).fetchone()
    if not row or int(row[0]) > max_categories:
        return None  # free text or an identifier: not a category
    return _psi_of_bins(connection, table, f"coalesce({name}, '\x00null')", comparison)


def _psi_of_bins(
    connection: duckdb.DuckDBPyConnection, table: str, bin_expression: str, comparison: Comparison
) -> float:
    rows = connection.execute(
        f"SELECT {bin_expression} AS bin, count(*) FILTER (WHERE {comparison.reference}), "
        f"count(*) FILTER (WHERE {comparison.new}) FROM {quoted_table(table)} "
        f"WHERE ({comparison.reference}) OR ({comparison.new}) GROUP BY ALL"
    ).fetchall()
    return psi([float(row[1]) for row in rows], [float(row[2]) for row in rows])
