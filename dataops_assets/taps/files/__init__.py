"""``tap-dataops-files``: a singer-sdk tap reading JSONL/CSV files from a folder, incrementally if asked."""

from dataops_assets.taps.files.tap import TapDataopsFiles

__all__ = ["TapDataopsFiles"]
