"""Discovery for one database schema, with streams named by bare table name.

singer-sdk names SQL streams ``<schema>-<table>`` and walks every schema it can see. The project addresses
streams as ``<source>/<table>`` and a source is one schema, so discovery is narrowed to the configured schema
(or the connection's default one) and the optional ``tables`` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from singer_sdk import SQLConnector
from sqlalchemy.engine import reflection

# Naive timestamps mean UTC in this project. Sessions are pinned to UTC so the database converts
# TIMESTAMP WITH TIME ZONE (PostgreSQL) and TIMESTAMP (MySQL) values to UTC, not the server's local zone.
UTC_SESSION_SQL = {
    "postgresql": "SET TIME ZONE 'UTC'",
    "mysql": "SET time_zone = '+00:00'",
    "mariadb": "SET time_zone = '+00:00'",
}
_DECIMAL_DIGITS = 38  # the most DuckDB's DECIMAL holds


class DataopsSQLConnector(SQLConnector):
    """A SQLConnector that discovers a single schema and reads in UTC."""

    def create_engine(self) -> sa.Engine:
        """The SDK's engine, with every new connection's session time zone set to UTC."""
        engine = super().create_engine()
        statement = UTC_SESSION_SQL.get(engine.dialect.name)
        if statement is not None:
            sa.event.listen(engine, "connect", _session_setter(statement))
        return engine

    def to_jsonschema_type(self, sql_type: Any) -> dict:
        """The SDK's JSON Schema, with ``multipleOf`` for exact decimals (NUMERIC(12, 2) -> 0.01, NUMERIC(20) -> 1).

        Without it a money column or a 20-digit identifier is a plain ``number`` and lands as DOUBLE (cents
        and digits past the 16th lost); with it the lake keeps DECIMAL(38, scale), exact, as taps such as
        pipelinewise-tap-postgres declare it. Precisions above 38 digits, which DuckDB's DECIMAL cannot
        hold, and NUMERIC without a declared precision stay plain numbers.
        """
        schema = super().to_jsonschema_type(sql_type)
        if isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float):
            precision, scale = sql_type.precision, sql_type.scale
            if precision is not None and 0 <= (scale or 0) <= precision <= _DECIMAL_DIGITS:
                schema["multipleOf"] = float(f"1e-{scale}") if scale else 1
        return schema

    def discovered_schema(self, inspected: reflection.Inspector) -> str | None:
        """The configured schema, else the connection's default ('main', 'public', the current database)."""
        configured = self.config.get("schema")
        return str(configured) if configured else inspected.default_schema_name

    def discover_catalog_entries(
        self,
        *,
        exclude_schemas: Sequence[str] = (),
        reflect_indices: bool = True,
    ) -> list[dict]:
        """Catalog entries for the tables and views of one schema, limited to ``tables`` when set."""
        inspected = sa.inspect(self._engine)
        schema = self.discovered_schema(inspected)
        if schema in exclude_schemas:
            return []
        wanted: list[str] | None = self.config.get("tables") or None

        primary_keys = inspected.get_multi_pk_constraint(schema=schema, filter_names=wanted)
        indices = inspected.get_multi_indexes(schema=schema, filter_names=wanted) if reflect_indices else {}
        entries: list[dict] = []
        for kind, is_view in ((reflection.ObjectKind.TABLE, False), (reflection.ObjectKind.ANY_VIEW, True)):
            columns = inspected.get_multi_columns(schema=schema, kind=kind, filter_names=wanted)
            for key, table_columns in sorted(columns.items(), key=lambda item: item[0][1]):
                entry = self.discover_catalog_entry(
                    self._engine,
                    inspected,
                    schema,
                    key[1],
                    is_view,
                    reflected_columns=table_columns,
                    reflected_pk=primary_keys.get(key),
                    reflected_indices=indices.get(key, []),
                )
                # Bare table names: the schema is fixed per source and lives in the 'schema-name' metadata.
                entry.tap_stream_id = entry.stream = key[1]
                entries.append(entry.to_dict())
        self._report_missing_tables(wanted, entries)
        return entries

    def _report_missing_tables(self, wanted: list[str] | None, entries: list[dict]) -> None:
        """A misspelt table name would otherwise just produce an empty catalog entry list."""
        found = {entry["tap_stream_id"] for entry in entries}
        missing = sorted(set(wanted or ()) - found)
        if missing:
            self.logger.warning("Tables not found in the discovered schema: %s", ", ".join(missing))


def _session_setter(statement: str) -> Any:
    def set_session(dbapi_connection: Any, _connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        # PostgreSQL undoes a SET when its transaction rolls back, which the pool does on every check-in.
        dbapi_connection.commit()

    return set_session
