"""Dagster assets built from the declaration: one factory for every source, one for dbt."""
