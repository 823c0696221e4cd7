"""`make bench`: every comparison the project makes, one after another, each writing its README section.

The Makefile calls this module, so a new benchmark only has to be added here to run with the others. They
share the machine, so they never run in parallel; each waits for the machine to be quiet before a case.
The whole run takes about an hour on 2 cores, most of it the slow peers (singer-sdk tap into target-duckdb,
Sling) and the year-long backfill; `--only NAME ...` runs some of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import backfill, code_location, dbt_overhead, singer_target, sql_copy

BENCHMARKS: dict[str, Callable[[], object]] = {
    # Singer stream -> lake: target-dataops against target-duckdb and DuckDB's own read_json
    "singer_target": lambda: singer_target.main([]),
    # a SQL table -> lake: our tap's fast path against ADBC -> DuckDB, dlt, Sling, singer-sdk -> target-duckdb
    "sql_copy": lambda: sql_copy.main([]),
    # the same at 10M rows: the slow peers are skipped there (about 30 minutes each)
    "sql_copy_10m": lambda: sql_copy.main(["--rows", "10000000"]),
    # a year at 10x the demo in one run per layer, against a one-day run
    "backfill": lambda: backfill.main([]),
    # dbt build of 100 models plain, through our assets, and with dagster-dbt defaults
    "dbt_overhead": lambda: dbt_overhead.main(["--repeat", "2"]),
    # code location load at 200 streams + 300 models and 500 + 1000, against the import floor
    "code_location": lambda: code_location.main([]),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks (all by default).")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these")
    chosen = parser.parse_args(argv).only or list(BENCHMARKS)
    for name in chosen:
        print(f"== bench: {name}", flush=True)
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
