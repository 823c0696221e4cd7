"""dataops-assets: Singer taps -> DuckDB lake -> dbt, as Dagster software-defined assets."""
