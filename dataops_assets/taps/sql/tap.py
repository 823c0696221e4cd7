"""``tap-dataops-sql``: any SQLAlchemy database (SQLite, PostgreSQL, MySQL/MariaDB) as Singer streams."""

from __future__ import annotations

from typing import Any, ClassVar

import singer_sdk.typing as th
from singer_sdk import SQLTap

from dataops_assets.taps.catalog import honor_replication_method
from dataops_assets.taps.sql.batch_files import FILE_FORMATS
from dataops_assets.taps.sql.stream import DataopsSQLStream


class TapDataopsSQL(SQLTap):
    """Streams are tables of one schema, named by bare table name, keyed by their primary key."""

    name = "tap-dataops-sql"
    default_stream_class = DataopsSQLStream

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property(
            "sqlalchemy_url",
            th.StringType,
            required=True,
            secret=True,
            description="SQLAlchemy URL, e.g. sqlite:///shop.sqlite or postgresql+psycopg://user@host/db.",
        ),
        th.Property(
            "schema",
            th.StringType,
            description="Schema to discover. Default: the connection's default schema "
            "('main' for SQLite, 'public' for PostgreSQL, the current database for MySQL/MariaDB).",
        ),
        th.Property(
            "tables",
            th.ArrayType(th.StringType),
            description="Only discover these tables. Default: every table and view in the schema.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Inclusive lower bound on the replication key when the state has no later bookmark.",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Exclusive upper bound on the replication key.",
        ),
        th.Property(
            "arrow_fast_path",
            th.BooleanType,
            default=True,
            description="Read SQLite and PostgreSQL through ADBC into Parquet BATCH files instead of "
            "RECORD messages (other databases always use RECORD). Off: every row goes through SQLAlchemy, "
            "e.g. for SQLite columns holding values of another type than declared.",
        ),
        th.Property(
            "batch_rows",
            th.IntegerType,
            default=1_000_000,
            description="Rows per BATCH file on the fast path; a STATE follows every file.",
        ),
        th.Property(
            "batch_file_format",
            th.StringType,
            allowed_values=list(FILE_FORMATS),
            default="parquet",
            description="Files of the fast path's BATCH messages: parquet, which any BATCH-aware target "
            "reads, or arrow (Arrow IPC, uncompressed: about 20x cheaper to write, read by dataops' own "
            "pipeline and target-dataops only). dataops' pipeline asks for arrow.",
        ),
        th.Property(
            "batch_dir",
            th.StringType,
            description="Folder for the fast path's BATCH files (default: a new temporary folder). The "
            "loader reads them; dataops' own pipeline points this into its staging area and removes it.",
        ),
    ).to_dict()

    def __init__(self, *, catalog: Any = None, **kwargs: Any) -> None:
        """Accept the standard Singer ``replication-method`` metadata, see ``honor_replication_method``."""
        if isinstance(catalog, dict):
            catalog = honor_replication_method(catalog)
        super().__init__(catalog=catalog, **kwargs)


if __name__ == "__main__":
    TapDataopsSQL.cli()
