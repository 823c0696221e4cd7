"""What do the lake checks add to a load? Time the demo's lake loads with and without them.

The demo is generated and extracted once (Singer taps -> landing Parquet, the same files `make run` lands),
then loaded into a new lake file per repetition, two ways:

* **full range**: every stream of every source, all 60 days in one load per source, as `make run` does.
  Distribution drift and volume have no earlier partitions then and skip; the other checks run in full.
* **daily**: the first 53 days in one load, then each of the last 7 days as its own load, as the daily
  schedule runs: every check has history and computes its statistics.

Load time is `load_source` (merge, bookkeeping, commit); check time is `check_stream` over the loaded
streams on the same connection, right after, exactly as the load asset runs them.

    .venv/bin/python -m bench.checks_cost                 # demo scale 1 (make run), best of 3
    .venv/bin/python -m bench.checks_cost --scale 0.2 --repeat 1 --no-readme
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import duckdb

from bench.readme import write_section
from dataops_assets.checks.evaluate import check_stream
from dataops_assets.config import load_pipeline
from dataops_assets.config.models import PipelineConfig
from dataops_assets.demo.generate import generate_demo
from dataops_assets.landing.layout import LandingArea
from dataops_assets.landing.partitioning import ExtractionWindow
from dataops_assets.pipeline.extract import ExtractRequest, extract_source
from dataops_assets.pipeline.load import load_source

ROOT = Path(__file__).resolve().parent
REPOSITORY = ROOT.parent
WORK = ROOT / ".work" / "checks_cost"
README_START = "<!-- checks_cost:start -->"
README_END = "<!-- checks_cost:end -->"
DAILY_TAIL = 7


def prepare(scale: float) -> PipelineConfig:
    """Generate the demo and land every partition of every source once."""
    shutil.rmtree(WORK, ignore_errors=True)
    generate_demo(WORK / "demo", scale=scale)
    declaration = (REPOSITORY / "dataops.yaml").read_text().replace("${DATAOPS_DEMO_DIR}", str(WORK / "demo"))
    declaration = declaration.replace(
        "project_dir: dbt_project", f"project_dir: {REPOSITORY / 'dbt_project'}"
    )
    (WORK / "dataops.yaml").write_text(declaration)
    pipeline = load_pipeline(WORK / "dataops.yaml")
    for source in pipeline.sources.values():
        settings = source.partitions
        assert settings is not None and settings.end_date is not None, "the demo sources are partitioned"
        request = ExtractRequest(
            source=source,
            streams=list(source.streams),
            window=ExtractionWindow(settings.start_date, settings.end_date, settings.timezone),
            run_id="bench",
        )
        extract_source(request, LandingArea(pipeline.lake.landing_dir), lambda _: None)
    return pipeline


Figures = tuple[float, float, list[str]]  # seconds loading, seconds checking, the checks that failed


def load_and_check(
    pipeline: PipelineConfig, lake: duckdb.DuckDBPyConnection, partitions: Sequence[str]
) -> Figures:
    """One load per source over ``partitions``."""
    load_seconds = check_seconds = 0.0
    failed: list[str] = []
    for source in pipeline.sources.values():
        started = time.perf_counter()
        result = load_source(
            lake, source, list(source.streams), partitions, LandingArea(pipeline.lake.landing_dir), "bench"
        )
        loaded = time.perf_counter()
        for stream in result.streams.values():
            failed += [f"{stream.table} {o.name}" for o in check_stream(lake, source, stream) if not o.passed]
        blocking = [name for name in failed if name.endswith((" reconciliation", " primary_key"))]
        if blocking:
            raise SystemExit(f"blocking checks failed on the demo: {blocking}")
        load_seconds += loaded - started
        check_seconds += time.perf_counter() - loaded
    return load_seconds, check_seconds, failed


def measure(pipeline: PipelineConfig, repeat: int) -> dict[str, Figures]:
    source = next(iter(pipeline.sources.values()))
    assert source.partitions is not None and source.partitions.end_date is not None
    days = ExtractionWindow(source.partitions.start_date, source.partitions.end_date).partition_keys
    best: dict[str, Figures] = {}
    for _ in range(repeat):
        pipeline.lake.path.unlink(missing_ok=True)
        with duckdb.connect(str(pipeline.lake.path)) as lake:
            full = load_and_check(pipeline, lake, days)
        pipeline.lake.path.unlink()
        with duckdb.connect(str(pipeline.lake.path)) as lake:
            load_and_check(pipeline, lake, days[:-DAILY_TAIL])
            daily = [load_and_check(pipeline, lake, [day]) for day in days[-DAILY_TAIL:]]
        per_day = (
            sum(run[0] for run in daily) / len(daily),
            sum(run[1] for run in daily) / len(daily),
            [name for run in daily for name in run[2]],
        )
        for name, figures in {"full": full, "daily": per_day}.items():
            if name not in best or sum(figures[:2]) < sum(best[name][:2]):
                best[name] = figures
    return best


def lake_rows(pipeline: PipelineConfig) -> int:
    with duckdb.connect(str(pipeline.lake.path), read_only=True) as lake:
        tables = lake.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'raw_%'"
        ).fetchall()
        return sum(
            int(lake.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0])  # type: ignore[index]
            for schema, name in tables
        )


def readme_section(scale: float, repeat: int, best: dict[str, Figures], rows: int) -> str:
    def row(label: str, figures: Figures) -> str:
        load, checks, failed = figures
        return f"| {label} | {load:.2f} | {load + checks:.2f} | {checks:.2f} | {100 * checks / load:.0f}% | {len(failed)} |"

    return "\n".join(
        [
            README_START,
            f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `python -m bench.checks_cost --scale {scale:g}"
            f" --repeat {repeat}` (demo scale {scale:g}: {rows:,} lake rows in 5 tables, best of {repeat}).",
            "",
            "| load | without checks s | with checks s | checks s | checks cost | checks failed |",
            "|---|---|---|---|---|---|",
            row("full range: 60 days, one load per source (`make run`)", best["full"]),
            row(f"daily: one day per load, mean of the last {DAILY_TAIL} days", best["daily"]),
            "",
            "Failed checks (none blocking; the script stops if a blocking one fails): "
            + (
                ", ".join(
                    f"{name} x{count}" for name, count in Counter(best["full"][2] + best["daily"][2]).items()
                )
                or "none"
            )
            + ". Machine: "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, duckdb {duckdb.__version__}.",
            README_END,
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale (make run uses 1)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--no-readme", action="store_true", help="print the result, leave README.md alone")
    args = parser.parse_args(argv)
    pipeline = prepare(args.scale)
    best = measure(pipeline, args.repeat)
    section = readme_section(args.scale, args.repeat, best, lake_rows(pipeline))
    print(section)
    if not args.no_readme:
        write_section(
            README_START, README_END, section, intro="## Cost of the lake checks (`bench/checks_cost.py`)\n\n"
        )


if __name__ == "__main__":
    main()
