"""Incremental reads bounded by ``[start, end)`` on the replication key, pushed down into SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from singer_sdk import SQLStream
from singer_sdk.helpers.types import Context
from sqlalchemy.sql import selectable

from dataops_assets.taps.sql.connector import DataopsSQLConnector


class DataopsSQLStream(SQLStream):
    """One table, read in replication-key order between the bookmark (or start_date) and end_date.

    The SDK's own filter binds the bookmark as a string, which SQLite's DATETIME type refuses, and it has no
    upper bound. Both bounds are converted to the column's own type here, so the database compares instants.
    """

    connector_class = DataopsSQLConnector

    def apply_query_filters(
        self,
        query: selectable.Select,
        table: sa.Table,
        *,
        context: Context | None = None,
    ) -> selectable.Select:
        """ORDER BY the replication key (the bookmark stays resumable) and keep ``start <= key < end``."""
        if not self.replication_key:
            return query
        column = table.columns[self.replication_key]
        query = query.order_by(column.asc())

        lower = self.get_starting_replication_key_value(context)
        if lower is not None:
            query = query.where(column >= to_column_value(column.type, lower))
        upper = self.config.get("end_date")
        if upper and is_temporal(column.type):
            query = query.where(column < to_column_value(column.type, upper))
        return query

    def get_starting_replication_key_value(self, context: Context | None) -> Any | None:
        """The bookmark, else start_date, except that a date cannot bound a numeric key.

        With no bookmark the SDK hands back ``start_date`` for any replication key, which would compare an
        integer id with a date string.
        """
        value = super().get_starting_replication_key_value(context)
        if value is None or not self.replication_key:
            return value
        column_type = self.schema["properties"].get(self.replication_key, {})
        if value == self.config.get("start_date") and not _is_temporal_schema(column_type):
            return None
        return value


def is_temporal(column_type: sa.types.TypeEngine) -> bool:
    return isinstance(column_type, (sa.DateTime, sa.Date))


def to_column_value(column_type: sa.types.TypeEngine, value: Any) -> Any:
    """A bound value of the column's Python type; naive date-times are read as UTC.

    Naive columns get naive UTC values, aware columns get aware ones: comparing a naive PostgreSQL
    TIMESTAMP with an aware parameter would convert through the session time zone.
    """
    if isinstance(column_type, sa.DateTime):
        instant = _as_utc(value)
        return instant if column_type.timezone else instant.replace(tzinfo=None)
    if isinstance(column_type, sa.Date):
        return value if isinstance(value, date) and not isinstance(value, datetime) else _as_utc(value).date()
    return value


def _as_utc(value: Any) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _is_temporal_schema(property_schema: dict[str, Any]) -> bool:
    return property_schema.get("format") in {"date-time", "date"}
