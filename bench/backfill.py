"""A year of the demo at 10x its scale, backfilled from an empty lake in one run, against a one-day run.

Dagster spends seconds on every run (process, code location, event log), so a backfill of N days as N runs
pays that N times: at 60 days that was 282 s against 4.9 s as one run. Our assets take a partition range
in one run (Dagster's single-run backfill policy): one tap process per source over the whole window, one
load, one dbt invocation. This benchmark shows that it holds at a year of data and what it costs.

Each case is its own process (`python -m bench.backfill --case ...`), measured from outside like the other
benchmarks: the project's own `dataops.yaml` with the calendar stretched to 365 days, the demo generated at
`--scale 10` over that year, a fresh lake and a fresh local Dagster instance (SQLite event log, as `make
run` uses). Afterwards the run's steps are counted: each layer must have run exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import machine, run_measured, wait_for_quiet
from bench.readme import write_section

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "bench" / ".work" / "backfill"
RESULTS_PATH = ROOT / "bench" / "results" / "backfill.json"
README_START, README_END = "<!-- backfill:start -->", "<!-- backfill:end -->"
START = date(2024, 1, 1)
DEFAULT_DAYS, DEFAULT_SCALE = 365, 10.0


def project_dir(days: int, scale: float) -> Path:
    return WORK_DIR / f"{days}d-x{scale:g}"


def prepare(days: int, scale: float) -> Path:
    """Demo data for the year (cached) and a dataops.yaml like the project's, over ``days`` days."""
    from dataops_assets.demo.generate import generate_demo

    project = project_dir(days, scale)
    data = project / "data"
    if not (data / "shop.sqlite").exists():
        shutil.rmtree(data, ignore_errors=True)
        generate_demo(data, scale=scale, start=START, days=days)
    end = (START + timedelta(days=days)).isoformat()
    declaration = (ROOT / "dataops.yaml").read_text()
    declaration = declaration.replace("end_date: 2024-03-01", f"end_date: {end}")
    declaration = declaration.replace("${DATAOPS_DEMO_DIR}", str(data))
    declaration = declaration.replace("project_dir: dbt_project", f"project_dir: {ROOT / 'dbt_project'}")
    (project / "dataops.yaml").write_text(declaration)
    return project


def reset_state(project: Path) -> None:
    """An empty lake, landing area and Dagster instance."""
    for name in (".dataops", "dagster_home"):
        shutil.rmtree(project / name, ignore_errors=True)
    (project / "dagster_home").mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", project / "dagster_home" / "dagster.yaml")


def run_case(project: Path, first: str, last: str) -> None:
    """Inside the measured process: the main job over ``first..last`` as one run; print what ran."""
    import dagster as dg

    from dataops_assets.automation.schedules import MAIN_JOB, partition_range_tags
    from dataops_assets.config import load_pipeline
    from dataops_assets.definitions import build_definitions

    defs = build_definitions(load_pipeline(project / "dataops.yaml"))
    job = defs.resolve_job_def(MAIN_JOB)
    tags = partition_range_tags(first, last) if first != last else {"dagster/partition": first}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        runs = instance.get_runs_count()
    steps: dict[str, int] = {}
    for event in result.all_events:
        if event.is_step_start and event.step_key:
            steps[event.step_key] = steps.get(event.step_key, 0) + 1
    print(json.dumps({"success": result.success, "runs": runs, "steps": steps}))


def lake_rows(project: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(project / ".dataops" / "lake.duckdb"), read_only=True) as lake:
        tables = lake.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'raw_%' OR table_schema = 'main' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": int(lake.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0])  # type: ignore[index]
            for schema, table in tables
        }


def measure(project: Path, name: str, first: str, last: str, timeout_s: float) -> dict[str, Any]:
    """One case as a child process; wall time covers its whole life (imports, run, instance writes)."""
    environment = {**os.environ, "DAGSTER_HOME": str(project / "dagster_home"), "DO_NOT_TRACK": "1"}
    stdout, stderr = project / f"{name}.out", project / f"{name}.err"
    argv = [sys.executable, "-m", "bench.backfill", "--case", str(project), first, last]
    busy = wait_for_quiet(0.15, 120)
    measured = run_measured(argv, None, stdout, stderr, timeout_s, cwd=ROOT, env=environment)
    lines = stdout.read_text().strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"success": False}
    return {
        "case": name,
        "days": (date.fromisoformat(last) - date.fromisoformat(first)).days + 1,
        "wall_s": round(measured.wall_s, 2),
        "cpu_s": round(measured.cpu_s, 2),
        "peak_rss_mb": measured.peak_rss_bytes // 2**20,
        "busy_before": round(busy, 2),
        **report,
    }


def readme_section(report: dict[str, Any]) -> str:
    backfill, day = report["results"]
    per_day = day["wall_s"]
    lines = [
        README_START,
        f"Measured {report['measured_at']}: the demo over {report['days']} days at scale {report['scale']:g} "
        f"({report['source_rows']:,} rows in the sources), from an empty lake and instance.",
        "",
        "| case | days | runs | steps (each ran once) | wall s | cpu s | peak RSS MB |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for result in report["results"]:
        steps = result.get("steps", {})
        once = all(count == 1 for count in steps.values())
        lines.append(
            f"| {result['case']} | {result['days']} | {result.get('runs', '?')} | {len(steps)} steps, "
            f"{'each once' if once else steps} | {result['wall_s']} | {result['cpu_s']} | {result['peak_rss_mb']} |"
        )
    lines += [
        "",
        f"The {report['days']} days as one run took **{backfill['wall_s'] / per_day:.1f}x** the time of one day as one run; "
        f"as {report['days']} daily runs it would take about {report['days'] * per_day:,.0f} s "
        f"({report['days'] * per_day / backfill['wall_s']:.0f}x the single-run backfill). Lake rows after the "
        f"backfill: {', '.join(f'{name} {rows:,}' for name, rows in report['lake_rows'].items())}.",
        "",
        f"Machine: {report['machine']['nproc']} CPUs, {report['machine']['memory_gib']} GiB, "
        f"Python {report['machine']['python']}. Raw results: `bench/results/backfill.json`.",
        README_END,
    ]
    return "\n".join(lines)


def source_rows(project: Path) -> int:
    import sqlite3

    data = project / "data"
    with sqlite3.connect(data / "shop.sqlite") as shop:
        tables = [row[0] for row in shop.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = sum(shop.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables)
    for events in (data / "events").glob("*.jsonl"):
        with events.open("rb") as handle:
            rows += sum(1 for _ in handle)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description="A year's backfill as one run, against a one-day run.")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--case", nargs=3, metavar=("PROJECT", "FIRST", "LAST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        run_case(Path(args.case[0]), args.case[1], args.case[2])
        return None

    print(f"preparing {args.days} days at scale {args.scale:g} under {WORK_DIR}", file=sys.stderr)
    started = time.monotonic()
    project = prepare(args.days, args.scale)
    print(f"  data ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    first, last = START.isoformat(), (START + timedelta(days=args.days - 1)).isoformat()
    reset_state(project)
    backfill = measure(project, "backfill from empty", first, last, args.timeout)
    rows = lake_rows(project)
    day = measure(project, "one day (the last), after it", last, last, args.timeout)
    report = {
        "benchmark": "backfill",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "days": args.days,
        "scale": args.scale,
        "source_rows": source_rows(project),
        "machine": machine(),
        "lake_rows": rows,
        "results": [backfill, day],
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    section = readme_section(report)
    print(section)
    if not args.no_readme:
        write_section(
            README_START,
            README_END,
            section,
            intro="## Backfill: a year in one run (`bench/backfill.py`)\n\n",
        )
    return report


if __name__ == "__main__":
    main()
