"""Data checks on every lake table: reconciliation, keys, freshness, schema and distribution drift, volume."""
