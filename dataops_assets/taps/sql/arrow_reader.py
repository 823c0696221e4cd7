"""A stream's query as Arrow record batches through ADBC: the columnar read behind the fast path.

SQLAlchemy turns every row into Python objects, which costs a singer-sdk tap about 50 s per million rows of
15 columns before any JSON is printed. ADBC drivers hand rows over as Arrow columns instead; the stream then
writes them to Parquet and the lake reads those files without a Python object per value. SQLAlchemy still
builds the query (filters, bounds, ordering), so both paths read exactly the same rows.
"""

from __future__ import annotations

import contextlib
import importlib.util
import queue
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.sql import selectable

from dataops_assets.taps.sql.connector import UTC_SESSION_SQL

ADBC_DRIVERS = {"sqlite": "adbc_driver_sqlite", "postgresql": "adbc_driver_postgresql"}

# SQLite is dynamically typed: ADBC infers each column's Arrow type from the first batch it reads, so a
# column that is NULL there would be taken for int64 and fail on its first text value. One leading row of
# values of the declared types pins every column before the real rows; it is dropped again on read.
_SQLITE_PINS: tuple[tuple[type[sa.types.TypeEngine], str], ...] = (
    (sa.Boolean, "0"),
    (sa.Integer, "0"),
    (sa.Numeric, "0.0"),  # NUMERIC affinity stores whole values as integers: read them as float
    (sa.Float, "0.0"),  # not a Numeric since SQLAlchemy 2.1; unpinned, REAL came as 15-digit text
    (sa.LargeBinary, "X''"),
)
_SQLITE_BATCH_ROWS = 65_536

# PostgreSQL types ADBC returns as something the lake would misread (UUIDs as 16 raw bytes, ranges and
# network types as opaque extension values): read as text, which is what the SDK path prints for them too.
_POSTGRES_NATIVE = (
    sa.Integer,
    sa.Numeric,
    sa.Float,  # not a Numeric since SQLAlchemy 2.1
    sa.String,
    sa.Boolean,
    sa.DateTime,
    sa.Date,
    sa.Time,
    sa.LargeBinary,
)
# singer-sdk declares arrays and JSON documents as strings: they land as JSON text, as the SDK path prints them.
_POSTGRES_AS_JSON_TEXT = (sa.JSON, sa.ARRAY)


class ArrowReadError(RuntimeError):
    """The database driver refused a value while reading columns, e.g. text in a SQLite INTEGER column."""


def arrow_driver_available(url: sa.URL) -> bool:
    """True when the URL's database has an ADBC driver installed in this environment."""
    module = ADBC_DRIVERS.get(url.get_backend_name())
    return module is not None and importlib.util.find_spec(module) is not None


def select_for_arrow(table: sa.Table, dialect_name: str) -> selectable.Select:
    """SELECT every column of ``table`` in a shape ADBC reads faithfully (see ``_POSTGRES_NATIVE``)."""
    columns: list[Any] = []
    for column in table.columns:
        if dialect_name != "postgresql" or isinstance(column.type, _POSTGRES_NATIVE):
            columns.append(column)
        elif isinstance(column.type, _POSTGRES_AS_JSON_TEXT):
            columns.append(sa.cast(sa.func.to_json(column), sa.Text).label(column.name))
        else:
            columns.append(sa.cast(column, sa.Text).label(column.name))
    return sa.select(*columns).select_from(table)


def read_batches(engine: sa.Engine, query: selectable.Select) -> Iterator[pa.RecordBatch]:
    """Stream ``query``'s rows as record batches; memory holds one driver batch at a time."""
    dialect = engine.dialect
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    pinned = dialect.name == "sqlite"
    if pinned:
        sql = _pin_sqlite_types(sql, query)
    with _adbc_statement(engine.url) as statement:
        if pinned:
            statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_SQLITE_BATCH_ROWS)})
        elif (session := UTC_SESSION_SQL.get(dialect.name)) is not None:
            statement.set_sql_query(session)
            statement.execute_update()
        statement.set_sql_query(sql)
        stream, _rows = statement.execute_query()
        with pa.RecordBatchReader._import_from_c(stream.address) as reader:
            first = True
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except OSError as error:  # the driver's message names the column by position
                    raise ArrowReadError(_explain(error, query)) from None
                if first and pinned:
                    batch = batch.slice(1)
                first = False
                if batch.num_rows:
                    yield _sqlite_temporals(batch, query) if pinned else _plain_types(batch)


def python_value(column: sa.Column[Any], dialect: sa.Dialect, value: Any) -> Any:
    """The value SQLAlchemy would have returned for ``value`` as read by ADBC.

    Bookmarks in the Singer state must look the same whichever path read the rows. Only SQLite text that
    did not convert to a timestamp (see ``_sqlite_temporals``) still needs SQLAlchemy's own parsing.
    """
    if not isinstance(value, str):
        return value
    processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return processor(value) if processor is not None else value


@contextlib.contextmanager
def _adbc_statement(url: sa.URL) -> Iterator[Any]:
    """A statement on a new ADBC connection to ``url``, through the driver manager's own API.

    Its DB-API layer (``adbc_driver_*.dbapi``) imports pyarrow.dataset and with it pandas: 0.2-0.3 s of
    every tap start (measured here), for nothing the fast path uses.
    """
    import adbc_driver_manager

    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite

        database = adbc_driver_sqlite.connect(url.database or ":memory:")
    else:
        import adbc_driver_postgresql

        # libpq takes the plain URL: no SQLAlchemy driver suffix (+psycopg), and %20, not +, for spaces
        # in parameters such as options=-c TimeZone=...
        plain = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
        if url.query:
            plain += "?" + urllib.parse.urlencode(url.query, doseq=True, quote_via=urllib.parse.quote)
        database = adbc_driver_postgresql.connect(plain)
    with (
        contextlib.closing(database),
        contextlib.closing(adbc_driver_manager.AdbcConnection(database)) as connection,
        contextlib.closing(adbc_driver_manager.AdbcStatement(connection)) as statement,
    ):
        yield statement


def _pin_sqlite_types(sql: str, query: selectable.Select) -> str:
    pins = ", ".join(
        f"{_sqlite_pin(column.type)} AS {_quoted(column.name)}" for column in query.selected_columns
    )
    return f"SELECT {pins} UNION ALL SELECT * FROM ({sql})"


def _sqlite_pin(column_type: sa.types.TypeEngine) -> str:
    return next((pin for kind, pin in _SQLITE_PINS if isinstance(column_type, kind)), "''")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_temporals(batch: pa.RecordBatch, query: selectable.Select) -> pa.RecordBatch:
    """SQLite keeps dates and times as text; typed Arrow columns make the Parquet files self-describing.

    Naive text is UTC, as on the SQLAlchemy path. Text Arrow cannot parse (e.g. with a zone offset) stays
    text: the lake's DuckDB cast reads offsets correctly.
    """
    arrays = list(batch.columns)
    for index, column in enumerate(query.selected_columns):
        target = next(
            (kinds for base, kinds in _SQLITE_TEMPORAL.items() if isinstance(column.type, base)), None
        )
        if target is None or not pa.types.is_string(arrays[index].type):
            continue
        try:
            naive = pc.cast(arrays[index], target[0])
        except pa.ArrowInvalid:
            continue
        arrays[index] = naive.cast(target[1])
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


_SQLITE_TEMPORAL: dict[type[sa.types.TypeEngine], tuple[pa.DataType, pa.DataType]] = {
    sa.DateTime: (pa.timestamp("us"), pa.timestamp("us", tz="UTC")),
    sa.Date: (pa.date32(), pa.date32()),
}


def _plain_types(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Extension types (PostgreSQL numeric and json, as arrow.opaque) as their storage, which every reader knows."""
    if not any(isinstance(field.type, pa.BaseExtensionType) for field in batch.schema):
        return batch
    arrays = [
        array.storage if isinstance(array.type, pa.BaseExtensionType) else array for array in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _explain(error: OSError, query: selectable.Select) -> str:
    names = [column.name for column in query.selected_columns]
    return (
        f"the columnar reader could not read a value ({error}); the columns are, by position from 0: "
        f"{', '.join(names)}. A value that does not match its column's declared type (SQLite stores any "
        "type in any column) needs the row-by-row path: set arrow_fast_path: false in the tap config."
    )


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """``batches``, read by a thread up to ``depth`` batches ahead of the consumer.

    The driver reads and the consumer writes Parquet in native code that releases the GIL, so the two
    overlap on two cores; memory grows by ``depth`` batches at most.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        handoff.put(("batch", batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(("end", None))
        except BaseException as error:  # handed to the consumer, which raises it as its own
            handoff.put(("error", error))

    reader = threading.Thread(target=produce, name="arrow-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "batch":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        reader.join()
