"""Singer taps built with singer-sdk: one for SQL databases, one for folders of JSONL/CSV files.

Each runs as its own console script (``tap-dataops-sql``, ``tap-dataops-files``) and speaks plain Singer on
stdout, so the rest of the package treats them like any third-party tap.
"""
