"""The DuckDB lake: connections that wait out the write lock, safe names, types, tables, merges, state."""
