"""The names of the lake checks, apart from the checks themselves.

Declaring the checks (``specs.py``, when the code location loads) needs only these names; running them
needs DuckDB, which loading the code location should not import.
"""

RECONCILIATION = "reconciliation"
PRIMARY_KEY = "primary_key"
FRESHNESS = "freshness"
SCHEMA_DRIFT = "schema_drift"
VOLUME_ANOMALY = "volume_anomaly"
DISTRIBUTION_DRIFT = "distribution_drift"
