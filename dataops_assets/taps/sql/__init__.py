"""``tap-dataops-sql``: a singer-sdk SQL tap reading one schema incrementally by replication key."""

from dataops_assets.taps.sql.tap import TapDataopsSQL

__all__ = ["TapDataopsSQL"]
