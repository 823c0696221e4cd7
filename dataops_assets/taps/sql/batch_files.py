"""Arrow record batches into files of bounded size, one singer-sdk BATCH message per file.

A file is closed every ``rows_per_file`` rows so a consumer can load (and commit) the stream in pieces while
the tap reads on, and so memory and the tap's scratch space stay bounded by the file, not the table.

Parquet is what every BATCH-aware target reads. Arrow IPC files are the tap's columns written as they are
in memory: for dataops' own pipeline, which maps them back without decoding, they cost the tap almost
nothing to write (1M rows of 15 columns: 0.02 s against 0.44 s for uncompressed Parquet, measured here).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

# BATCH ``encoding.format`` values this module writes; "arrow" is an extension of the Singer spec that
# dataops' loaders read (other targets know "jsonl" and "parquet").
FILE_FORMATS = ("parquet", "arrow")

# Row groups of this many rows: driver batches are small (SQLite: 64k rows), and a Parquet row group per
# driver batch would make files slow to read.
ROW_GROUP_ROWS = 131_072


@dataclass(frozen=True)
class WrittenFile:
    """One closed Parquet file and the largest replication-key value in it (None: no key, or all NULL)."""

    path: Path
    rows: int
    max_key: Any


def write_batch_files(
    batches: Iterable[pa.RecordBatch],
    directory: Path,
    prefix: str,
    rows_per_file: int,
    replication_key: str | None,
    file_format: str = "parquet",
) -> Iterator[WrittenFile]:
    """Write ``batches`` to ``directory/<prefix>-NNNNNN.<format>`` files, yielding each once it is closed."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"batch file format {file_format!r} is not one of {', '.join(FILE_FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)
    writer: _FileWriter | None = None
    for group in _row_groups(batches, min(ROW_GROUP_ROWS, rows_per_file)):
        if writer is None:
            path = directory / f"{prefix}-{next(numbers):06d}.{file_format}"
            writer = _FileWriter(path, group[0].schema, replication_key, file_format)
        writer.write(group)
        if writer.rows >= rows_per_file:
            yield writer.close()
            writer = None
    if writer is not None:
        yield writer.close()


def _row_groups(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """Driver batches gathered into lists of at least ``rows`` rows (the last may hold fewer)."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= rows:
            yield pending
            pending, pending_rows = [], 0
    if pending:
        yield pending


class _FileWriter:
    def __init__(self, path: Path, schema: pa.Schema, replication_key: str | None, file_format: str) -> None:
        self.path = path
        self.rows = 0
        self._replication_key = replication_key
        self._max_key: Any = None
        # scratch files, read once by the loader next to them: no compression, no dictionaries to build
        self._writer: pq.ParquetWriter | ipc.RecordBatchFileWriter = (
            ipc.new_file(path, schema)
            if file_format == "arrow"
            else pq.ParquetWriter(path, schema, compression="none", use_dictionary=False)
        )

    def write(self, batches: list[pa.RecordBatch]) -> None:
        table = pa.Table.from_batches(batches)
        if isinstance(self._writer, pq.ParquetWriter):
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        else:
            self._writer.write_table(table, max_chunksize=ROW_GROUP_ROWS)
        self.rows += table.num_rows
        if self._replication_key is not None:
            batch_max = pc.max(table.column(self._replication_key)).as_py()
            if batch_max is not None and (self._max_key is None or batch_max > self._max_key):
                self._max_key = batch_max

    def close(self) -> WrittenFile:
        self._writer.close()
        return WrittenFile(path=self.path, rows=self.rows, max_key=self._max_key)
