"""Loading the code location declares assets; it does not import what only running them needs."""

from __future__ import annotations

import json
import subprocess
import sys

# The taps' runtime (singer-sdk pulls in joblib and numpy), the SQL tap's drivers and the dataframe
# libraries: a code server imports the definitions again on every reload, so these must wait for a run.
RUNTIME_ONLY = ("singer_sdk", "sqlalchemy", "pandas", "pyarrow", "polars", "numpy", "dataops_assets.taps")


def test_importing_the_definitions_leaves_the_runtime_unimported() -> None:
    code = (
        "import json, sys\n"
        "import dataops_assets.definitions\n"
        f"print(json.dumps([name for name in {RUNTIME_ONLY!r} if name in sys.modules]))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


def test_the_entry_point_leaves_the_garbage_collector_on() -> None:
    """``defs()`` turns the collector off while it builds the definitions; a code server needs it back on."""
    code = "import gc\nfrom dataops_assets.definitions import defs\ndefs()\nprint(gc.isenabled())\n"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert completed.stdout.strip().splitlines()[-1] == "True"
