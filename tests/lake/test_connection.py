"""Lake connections: settings every step's DuckDB session gets."""

from __future__ import annotations

from pathlib import Path

from dataops_assets.lake.connection import open_lake


def test_a_lake_connection_keeps_duckdb_to_the_declared_memory_limit_and_utc(tmp_path: Path) -> None:
    with open_lake(tmp_path / "lake.duckdb", memory_limit="256MB") as connection:
        limit, zone = connection.execute(
            "SELECT current_setting('memory_limit'), current_setting('TimeZone')"
        ).fetchone() or ("", "")
    assert (limit, zone) == ("244.1 MiB", "UTC")  # 256 MB, as DuckDB spells it
