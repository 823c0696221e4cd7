"""Benchmark: Singer targets landing one stream into a fresh DuckDB lake, against DuckDB's own floor.

Run `python -m bench.singer_target [--records N] [--repeat K] [--keep]`. The four cases read the same
cached input (see `bench.singer_stream`) and each writes a new DuckDB file:

  (a) target-dataops  our standalone Singer target (console script in this venv), if installed
  (b) target-duckdb   target-duckdb 0.8.0 from PyPI, in its own venv under bench/.venvs/
  (c) read_json Singer   DuckDB's read_json unpacking the RECORD messages of the same Singer file
  (d) read_json JSONL    DuckDB's read_json on the bare records: the floor

Each case is timed from process start to exit, its peak RSS covers its whole process tree, and what it
landed is counted afterwards, so a fast target that loses rows cannot look good. Results go to stdout,
bench/results/singer_target.json and the marked section of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench.measure import Measurement, add_quiet_wait_option, machine, run_measured, wait_for_quiet
from bench.readme import cell, write_section
from bench.singer_stream import SEED, StreamFiles, ensure_stream

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_PATH = BENCH_DIR / "results" / "singer_target.json"
README_START = "<!-- singer_target:start -->"
README_END = "<!-- singer_target:end -->"

DEFAULT_RECORDS = 1_000_000
DEFAULT_TIMEOUT_S = 3600.0
# A run starts once the machine is at most this busy (fraction of all cores), or after the wait runs out.
QUIET_BUSY_FRACTION = 0.15
DEFAULT_QUIET_WAIT_S = 300.0
TARGET_SCHEMA = "bench"
TABLE = f"{TARGET_SCHEMA}.events"
# Our target is a console script of this project, installed next to the interpreter running the benchmark.
TARGET_DATAOPS = Path(sys.executable).parent / "target-dataops"
# target-duckdb 0.8.0 declares only `duckdb>=1.0.0` and `jsonschema>=3.2.0`; it installs and runs on
# Python 3.11 as is. duckdb is pinned to the version the harness reads the lake with, the rest to the
# versions it was measured with, so a later release cannot silently change the comparison.
TARGET_DUCKDB_PINS = (
    "target-duckdb==0.8.0",
    "duckdb==2.0.1",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "attrs==26.1.0",
)
TARGET_DUCKDB_VENV = VENVS_DIR / "target-duckdb"


@dataclass(frozen=True)
class Invocation:
    """How to start one case: the command line, what it reads on stdin, or why it cannot run."""

    argv: list[str] = field(default_factory=list)
    stdin: Path | None = None
    unavailable: str = ""


@dataclass(frozen=True)
class Case:
    """One contender: a key for the table, a name, and how to invoke it against a lake file."""

    key: str
    name: str
    is_target: bool
    invoke: Callable[[StreamFiles, Path, Path], Invocation]


def write_target_config(run_dir: Path, db_path: Path) -> Path:
    """The minimal config both targets accept: the DuckDB file and the schema to land in."""
    config = run_dir / "config.json"
    config.write_text(json.dumps({"path": str(db_path), "default_target_schema": TARGET_SCHEMA}) + "\n")
    return config


def invoke_target_dataops(stream: StreamFiles, run_dir: Path, db_path: Path) -> Invocation:
    """(a) `target-dataops --config cfg.json < stream.singer`."""
    if not TARGET_DATAOPS.exists():
        return Invocation(unavailable=f"not available: {TARGET_DATAOPS} does not exist")
    config = write_target_config(run_dir, db_path)
    return Invocation([str(TARGET_DATAOPS), "--config", str(config)], stream.singer)


def ensure_target_duckdb_venv() -> Path:
    """Create bench/.venvs/target-duckdb on first use (or when the pins change) and return its script."""
    stamp = TARGET_DUCKDB_VENV / "bench-pins.txt"
    script = TARGET_DUCKDB_VENV / "bin" / "target-duckdb"
    wanted = "\n".join(TARGET_DUCKDB_PINS) + "\n"
    if script.exists() and stamp.exists() and stamp.read_text() == wanted:
        return script
    print(f"installing {' '.join(TARGET_DUCKDB_PINS)} into {TARGET_DUCKDB_VENV}", file=sys.stderr)
    shutil.rmtree(TARGET_DUCKDB_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(TARGET_DUCKDB_VENV)], check=True)
    pip = [str(TARGET_DUCKDB_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--disable-pip-version-check", *TARGET_DUCKDB_PINS], check=True)
    stamp.write_text(wanted)
    return script


def invoke_target_duckdb(stream: StreamFiles, run_dir: Path, db_path: Path) -> Invocation:
    """(b) `target-duckdb --config cfg.json < stream.singer`, from its own venv."""
    try:
        script = ensure_target_duckdb_venv()
    except (subprocess.CalledProcessError, OSError) as error:
        return Invocation(unavailable=f"not available: could not install target-duckdb ({error})")
    config = write_target_config(run_dir, db_path)
    return Invocation([str(script), "--config", str(config)], stream.singer)


def read_json_argv(mode: str, source: Path, stream: StreamFiles, db_path: Path) -> list[str]:
    """The fresh Python process that runs one read_json case."""
    module = ["-m", "bench.read_json_case", "--mode", mode, "--input", str(source)]
    return [sys.executable, *module, "--schema", str(stream.schema), "--db", str(db_path)]


def invoke_read_json_singer(stream: StreamFiles, run_dir: Path, db_path: Path) -> Invocation:
    """(c) read_json over the Singer file, keeping the RECORD messages."""
    return Invocation(read_json_argv("singer", stream.singer, stream, db_path))


def invoke_read_json_jsonl(stream: StreamFiles, run_dir: Path, db_path: Path) -> Invocation:
    """(d) read_json over the bare records: the floor."""
    return Invocation(read_json_argv("jsonl", stream.jsonl, stream, db_path))


CASES = [
    Case("a", "target-dataops", True, invoke_target_dataops),
    Case("b", "target-duckdb 0.8.0", True, invoke_target_duckdb),
    Case("c", "read_json Singer", False, invoke_read_json_singer),
    Case("d", "read_json JSONL (floor)", False, invoke_read_json_jsonl),
]


def fresh_lake(run_dir: Path) -> Path:
    """A new, empty run folder; the lake file inside it does not exist yet."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    return run_dir / "lake.duckdb"


def counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Rows in the table and distinct ids among them."""
    row = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {TABLE}").fetchone()
    return (row[0], row[1]) if row else (0, 0)


def missing_ids(con: duckdb.DuckDBPyConnection, records: int) -> list[int]:
    """The first few ids of the input that are not in the table."""
    rows = con.execute(
        f"SELECT r.id FROM range(1, {records + 1}) r(id) ANTI JOIN {TABLE} t ON t.id = r.id ORDER BY r.id LIMIT 10"
    ).fetchall()
    return [row[0] for row in rows]


def column_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The table's columns and the DuckDB types the case chose for them."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{TARGET_SCHEMA}' AND table_name = 'events' ORDER BY ordinal_position"
    ).fetchall()
    return dict(rows)


def wrong_values(con: duckdb.DuckDBPyConnection, jsonl: Path) -> dict[str, int]:
    """Rows whose `updated_at` instant or `amount` differs from the input.

    Counting rows is not enough: a target can land every row with the wrong instant (an offset dropped from
    an RFC 3339 timestamp) or a rounded amount. Naive timestamps are read as UTC, the most generous reading.
    """
    con.execute("SET TimeZone = 'UTC'")
    source = (
        f"read_json('{jsonl}', format='newline_delimited', "
        "columns={id: 'BIGINT', updated_at: 'TIMESTAMPTZ', amount: 'DECIMAL(38,2)'})"
    )
    row = con.execute(
        "SELECT count(*) FILTER (WHERE t.updated_at::TIMESTAMPTZ IS DISTINCT FROM s.updated_at), "
        "count(*) FILTER (WHERE t.amount::DECIMAL(38,2) IS DISTINCT FROM s.amount) "
        f"FROM {TABLE} t JOIN {source} s ON t.id = s.id"
    ).fetchone()
    return {"wrong_updated_at": row[0], "wrong_amount": row[1]} if row else {}


def checked_values(con: duckdb.DuckDBPyConnection, jsonl: Path) -> dict[str, Any]:
    """`wrong_values`, or why it could not be checked (a type the casts do not accept)."""
    try:
        return wrong_values(con, jsonl)
    except duckdb.Error as error:
        return {"value_check_error": str(error)}


def landed(db_path: Path, stream: StreamFiles) -> dict[str, Any]:
    """What the case left in its table: counts, lost ids, column types, and values that changed on the way."""
    if not db_path.exists():
        return {"rows": None, "distinct_ids": None, "error": "no lake file"}
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            rows, distinct = counts(con)
            found: dict[str, Any] = {"rows": rows, "distinct_ids": distinct}
            found["missing_ids_sample"] = missing_ids(con, stream.records)
            found["column_types"] = column_types(con)
            found.update(checked_values(con, stream.jsonl))
    except duckdb.Error as error:
        return {"rows": None, "distinct_ids": None, "error": f"could not count the table: {error}"}
    return found


def final_state(stdout_path: Path) -> Any:
    """The last state a target printed on stdout (None if it printed none or not JSON)."""
    lines = [line for line in stdout_path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return None


def stderr_tail(path: Path, lines: int = 8) -> str:
    """The end of a case's stderr, to explain a failure in the results."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def describe_run(case: Case, stream: StreamFiles, run_dir: Path, measurement: Measurement) -> dict[str, Any]:
    """Everything recorded for one run of one case."""
    status = "ok"
    if measurement.timed_out:
        status = "timed out"
    elif measurement.returncode != 0:
        status = f"failed (exit {measurement.returncode})"
    result: dict[str, Any] = {
        "status": status,
        "wall_s": round(measurement.wall_s, 3),
        "cpu_s": round(measurement.cpu_s, 2),
        "peak_rss_mb": round(measurement.peak_rss_bytes / 2**20, 1),
    }
    result.update(landed(run_dir / "lake.duckdb", stream))
    result["row_exact"] = result["rows"] == stream.records and result["distinct_ids"] == stream.records
    if case.is_target:
        state = final_state(run_dir / "stdout.txt")
        result["final_state"] = state
        result["final_state_matches_input"] = state == stream.final_state
    if status != "ok":
        result["stderr_tail"] = stderr_tail(run_dir / "stderr.txt")
    return result


def run_once(case: Case, stream: StreamFiles, options: argparse.Namespace) -> dict[str, Any]:
    """One run of a case against a fresh lake, started when the machine is quiet."""
    run_dir = WORK_DIR / "runs" / f"{case.key}-{stream.records}"
    db_path = fresh_lake(run_dir)
    invocation = case.invoke(stream, run_dir, db_path)
    if invocation.unavailable:
        return {"status": invocation.unavailable}
    busy_before = wait_for_quiet(QUIET_BUSY_FRACTION, options.quiet_wait)
    measurement = run_measured(
        invocation.argv,
        invocation.stdin,
        run_dir / "stdout.txt",
        run_dir / "stderr.txt",
        options.timeout,
        REPO_DIR,
    )
    result = describe_run(case, stream, run_dir, measurement)
    result["machine_busy_before"] = round(busy_before, 2)
    if not options.keep:
        for lake_file in run_dir.glob("lake.duckdb*"):
            lake_file.unlink()
    return result


def run_case(case: Case, stream: StreamFiles, options: argparse.Namespace) -> dict[str, Any]:
    """Run a case `--repeat` times and keep the fastest successful run (all wall times are recorded)."""
    runs: list[dict[str, Any]] = []
    for attempt in range(options.repeat):
        print(f"({case.key}) {case.name}: run {attempt + 1}/{options.repeat}", file=sys.stderr, flush=True)
        run = run_once(case, stream, options)
        measured = (
            f", wall {run['wall_s']} s, busy before {run['machine_busy_before']}" if "wall_s" in run else ""
        )
        print(f"    {run['status']}{measured}", file=sys.stderr)
        runs.append(run)
        if run["status"].startswith("not available"):
            break
    ok_runs = [run for run in runs if run["status"] == "ok"]
    best = min(ok_runs, key=lambda run: run["wall_s"]) if ok_runs else runs[-1]
    summary = {"case": case.key, "name": case.name, **best}
    summary["all_wall_s"] = [run["wall_s"] for run in runs if "wall_s" in run]
    if "wall_s" in best:
        summary["records_per_s"] = round(stream.records / best["wall_s"])
    print(f"({case.key}) {case.name}: {summary['status']} {summary.get('wall_s', '')}", file=sys.stderr)
    return summary


def add_ratios(results: list[dict[str, Any]]) -> None:
    """Wall time of every case as a multiple of the floor (d) and of read_json over Singer (c)."""
    by_key = {result["case"]: result for result in results}
    for result in results:
        for name, key in (("ratio_vs_floor", "d"), ("ratio_vs_read_json_singer", "c")):
            base = by_key.get(key, {})
            ok = result.get("status") == "ok" and base.get("status") == "ok"
            result[name] = round(result["wall_s"] / base["wall_s"], 1) if ok else None


def warm_page_cache(paths: list[Path]) -> None:
    """Read the inputs once so that no case pays for cold disk reads the others do not."""
    for path in paths:
        with path.open("rb") as source:
            while source.read(1 << 24):
                pass


TABLE_HEADER = [
    "case",
    "wall s",
    "cpu s",
    "records/s",
    "peak RSS MB",
    "rows landed",
    "distinct ids",
    "x floor (d)",
    "x read_json (c)",
    "row-exact",
]


def table_row(result: dict[str, Any]) -> list[str]:
    """One case's cells; a case that did not run says why in the wall time column."""
    label = f"({result['case']}) {result['name']}"
    if "wall_s" not in result:
        return [label, result["status"], *["-"] * (len(TABLE_HEADER) - 2)]
    status = "" if result["status"] == "ok" else f" [{result['status']}]"
    return [
        label + status,
        cell(result["wall_s"], 2),
        cell(result["cpu_s"], 1),
        cell(result.get("records_per_s")),
        cell(result["peak_rss_mb"], 0),
        cell(result.get("rows")),
        cell(result.get("distinct_ids")),
        cell(result["ratio_vs_floor"], 1),
        cell(result["ratio_vs_read_json_singer"], 1),
        cell(result["row_exact"]),
    ]


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (also readable as plain text on stdout)."""
    rows = [TABLE_HEADER, *(table_row(result) for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_HEADER))]
    lines = [
        "| " + " | ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def value_note(result: dict[str, Any]) -> str:
    """How many landed rows carry a different `updated_at` instant or `amount` than the input."""
    if "value_check_error" in result:
        return f"values not checked ({result['value_check_error']})"
    return (
        f"{cell(result.get('wrong_updated_at'))} rows with a different updated_at instant, "
        f"{cell(result.get('wrong_amount'))} with a different amount"
    )


def target_notes(results: list[dict[str, Any]], records: int) -> list[str]:
    """One line per target: did it land every row exactly once, and did its last state match the input's."""
    notes = []
    for result in results:
        if not result.get("status", "").startswith("ok") or "final_state" not in result:
            continue
        exact = "row-exact" if result["row_exact"] else "NOT row-exact"
        missing = result.get("missing_ids_sample") or []
        lost = f", missing ids include {missing}" if missing else ""
        state = (
            "matches"
            if result["final_state_matches_input"]
            else f"does not match (it was {result['final_state']})"
        )
        notes.append(
            f"- ({result['case']}) {result['name']}: {exact}: {cell(result['rows'])} rows, "
            f"{cell(result['distinct_ids'])} distinct ids of {records:,}{lost}; {value_note(result)}; "
            f"last state emitted {state} the input's last STATE."
        )
    return notes


def busiest(results: list[dict[str, Any]]) -> str:
    """The highest machine busy fraction seen just before any reported run, as a percentage."""
    fractions = [result["machine_busy_before"] for result in results if "machine_busy_before" in result]
    return f"{max(fractions):.0%}" if fractions else "-"


def readme_section(report: dict[str, Any]) -> str:
    """The generated part of bench/README.md."""
    info = report["machine"]
    lines = [
        README_START,
        f"Measured {report['measured_at']} with `python -m bench.singer_target --records {report['records']}"
        f"{' --repeat ' + str(report['repeat']) if report['repeat'] > 1 else ''}` "
        f"({report['records']:,} records, seed {report['seed']}, best of {report['repeat']}; "
        f"Singer file {report['input_mb']['singer']:,} MB, JSONL {report['input_mb']['jsonl']:,} MB).",
        "",
        markdown_table(report["results"]),
        "",
        *target_notes(report["results"], report["records"]),
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB memory, "
        f"Linux {info['kernel']}, Python {info['python']}, duckdb {info['duckdb']}; "
        f"target-duckdb venv: {', '.join(info['target_duckdb_pins'])}. Load average before the run: "
        f"{', '.join(str(load) for load in report['load_average_before'])} (1, 5, 15 min); machine busy "
        f"just before the reported runs: at most {busiest(report['results'])} of all cores; `cpu s` is user + "
        "system time of the case's process tree.",
        README_END,
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Benchmark Singer targets against DuckDB's read_json floor.")
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="RECORD messages (default 1,000,000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is reported")
    parser.add_argument(
        "--keep", action="store_true", help="keep each case's lake file under bench/.work/runs/"
    )
    parser.add_argument("--cases", default="abcd", help="which cases to run, e.g. 'bcd' (default all)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per run before it is killed"
    )
    add_quiet_wait_option(parser, DEFAULT_QUIET_WAIT_S)
    parser.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the section in bench/README.md"
    )
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Generate or reuse the input, run the cases, report."""
    args = parse_args(argv)
    print(f"preparing {args.records:,} records under {WORK_DIR}", file=sys.stderr, flush=True)
    stream = ensure_stream(WORK_DIR, args.records)
    warm_page_cache([stream.singer, stream.jsonl])
    load_before = [round(load, 2) for load in os.getloadavg()]
    chosen = [case for case in CASES if case.key in args.cases]
    results = [run_case(case, stream, args) for case in chosen]
    add_ratios(results)
    report = {
        "benchmark": "singer_target",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "records": args.records,
        "seed": SEED,
        "repeat": args.repeat,
        "input_mb": {
            "singer": stream.singer.stat().st_size // 2**20,
            "jsonl": stream.jsonl.stat().st_size // 2**20,
        },
        "machine": {**machine(), "target_duckdb_pins": list(TARGET_DUCKDB_PINS)},
        "load_average_before": load_before,
        "results": results,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(markdown_table(results))
    print("\n".join(target_notes(results, args.records)))
    if not args.no_readme:
        write_section(README_START, README_END, readme_section(report))
    return report


if __name__ == "__main__":
    main()
