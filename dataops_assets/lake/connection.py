"""Open the DuckDB lake, waiting out another process's write lock instead of failing on it.

DuckDB allows one writing process per file. Dagster pools serialize our own writers (loads, dbt), but a
reader, a second run or a ``dbt`` started by hand can still hold the lock for a moment: every open goes
through :func:`open_lake`, which retries with backoff until ``timeout_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

_LOCK_MESSAGES = ("Could not set lock", "Conflicting lock", "database is locked")
_log = logging.getLogger(__name__)


class LakeLockTimeout(TimeoutError):
    """The lake stayed locked by another process for longer than the configured timeout."""


def is_lock_error(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException | duckdb.Error) and any(
        message in str(error) for message in _LOCK_MESSAGES
    )


def connect_lake(
    path: Path, *, read_only: bool = False, timeout_seconds: float = 900.0, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection to the lake file, created (with its folder) on first write.

    Without ``memory_limit`` DuckDB may cache up to 80% of the machine's memory while it writes.
    """
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_seconds
    delay = 0.05
    while True:
        try:
            # Row order in a lake table means nothing (every reader orders what it needs), and keeping it
            # costs a load of 10M rows about half its time: inserts then run on one thread.
            connection = duckdb.connect(
                str(path), read_only=read_only, config={"preserve_insertion_order": False}
            )
        except duckdb.Error as error:
            if not is_lock_error(error):
                raise
            if time.monotonic() >= deadline:
                raise LakeLockTimeout(
                    f"the lake {path} stayed locked by another process for {timeout_seconds:.0f}s: {error}"
                ) from error
            _log.info("lake %s is locked by another process; waiting %.2fs", path, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        return configure_session(connection, memory_limit)


def configure_session(
    connection: duckdb.DuckDBPyConnection, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """UTC sessions everywhere: day boundaries and TIMESTAMPTZ text must not depend on the machine's zone."""
    connection.execute("SET TimeZone = 'UTC'")
    if memory_limit is not None:
        connection.execute(f"SET memory_limit = '{memory_limit}'")  # validated in LakeSettings
    return connection


def in_memory_connection(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A private DuckDB for transforming files; it never touches (or locks) the lake file."""
    connection = duckdb.connect(config={"preserve_insertion_order": False})
    return configure_session(connection, memory_limit)


@contextmanager
def open_lake(
    path: Path, *, read_only: bool = False, timeout_seconds: float = 900.0, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_lake(
        path, read_only=read_only, timeout_seconds=timeout_seconds, memory_limit=memory_limit
    )
    try:
        yield connection
    finally:
        connection.close()
