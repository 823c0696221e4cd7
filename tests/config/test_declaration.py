"""The declaration file: loaded once, and every mistake named by file, key and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dataops_assets.config import ConfigError, LoadMethod, load_pipeline

VALID = """
lake:
  path: lake/lake.duckdb
sources:
  shop:
    tap: tap-dataops-sql
    config:
      sqlalchemy_url: postgresql://app:${SHOP_PASSWORD}@db/shop
      schema: ${SHOP_SCHEMA:-public}
    streams:
      orders: {replication_key: updated_at, load_method: append}
      customers:
    partitions: {start_date: 2024-01-01, end_date: 2024-03-01}
    schedule: {cron: "0 2 * * *"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dataops.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_declaration_loads_with_paths_resolved_and_secrets_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", "s3cret-pw")
    pipeline = load_pipeline(write(tmp_path, VALID))

    assert pipeline.lake.path == tmp_path / "lake/lake.duckdb"
    assert pipeline.lake.landing_dir == tmp_path / ".dataops/landing"
    shop = pipeline.source("shop")
    assert shop.config["sqlalchemy_url"] == "postgresql://app:s3cret-pw@db/shop"
    assert shop.config["schema"] == "public"
    assert shop.secret_values == frozenset({"s3cret-pw"})
    assert shop.streams["orders"].load_method is LoadMethod.APPEND
    assert shop.streams["customers"].replication_key is None
    assert shop.lake_schema == "raw_shop"


def test_a_dotenv_file_supplies_secrets_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("SHOP_PASSWORD='from-dotenv'\nSHOP_SCHEMA=sales\n")
    monkeypatch.delenv("SHOP_PASSWORD", raising=False)
    monkeypatch.setenv("SHOP_SCHEMA", "from-env")
    shop = load_pipeline(write(tmp_path, VALID)).source("shop")
    assert shop.config["sqlalchemy_url"] == "postgresql://app:from-dotenv@db/shop"
    assert shop.config["schema"] == "from-env"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [", r"dataops\.yaml: not valid YAML"),
        ("lake: {}\n", r"dataops\.yaml: sources: declare at least one source"),
        (
            VALID.replace("${SHOP_PASSWORD}", "${NO_SUCH_VARIABLE_X}"),
            r"sources\.shop\.config\.sqlalchemy_url: environment variable NO_SUCH_VARIABLE_X is not set",
        ),
        (
            VALID.replace("load_method: append", "load_method: merge"),
            r"sources\.shop\.streams\.orders\.load_method: Input should be 'upsert', 'append' or 'overwrite'",
        ),
        (
            VALID.replace('"0 2 * * *"', '"every day"'),
            r"sources\.shop\.schedule\.cron: 'every day' is not a valid cron expression",
        ),
        (
            VALID.replace("  shop:", "  Shop-DB:"),
            r"sources\.Shop-DB: source name 'Shop-DB' must be lower-case",
        ),
        (
            VALID.replace("end_date: 2024-03-01", "end_date: 2023-03-01"),
            r"sources\.shop\.partitions: end_date 2023-03-01 must be after start_date",
        ),
        (VALID.replace("    tap: tap-dataops-sql\n", ""), r"sources\.shop\.tap: Field required"),
        (VALID.replace("lake:", "lakes:"), r"lakes: Extra inputs are not permitted"),
        (
            VALID.replace("  path: lake/lake.duckdb", "  path: lake/lake.duckdb\n  memory_limit: lots"),
            r"lake\.memory_limit: String should match pattern",
        ),
        (
            VALID.replace("      customers:\n", "").replace(
                "      orders: {replication_key: updated_at, load_method: append}\n", "      {}\n"
            ),
            r"sources\.shop: select at least one stream",
        ),
    ],
)
def test_mistakes_are_reported_with_file_key_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", "pw")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as raised:
        load_pipeline(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the declaration file"):
        load_pipeline(tmp_path / "nope.yaml")
