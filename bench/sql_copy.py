"""Benchmark: copy one 15-column table from SQLite or PostgreSQL into a DuckDB table, tool against tool.

Run `python -m bench.sql_copy [--source sqlite,postgres] [--rows N] [--repeat K]`. The source table is
generated once per size (see `bench.sql_source`) and every case copies it into `bench.events` of a new
DuckDB file, each as its own process, started when the machine is quiet:

  floor                          ADBC -> Arrow record batches -> DuckDB CREATE TABLE AS (bench.sql_floor)
  dlt-connectorx, dlt-pyarrow    dlt's sql_table source, destination duckdb (bench.sql_dlt)
  sling                          the sling binary, source connection -> duckdb connection
  singer-sdk-tap-devnull         our plain singer-sdk SQL tap (tap-dataops-sql) writing to /dev/null
  singer-sdk-tap-target-duckdb   the same tap | target-duckdb 0.8.0
  tap-to-target-dataops          the same tap | target-dataops (our Singer target)
  dataops                        our tap with its Arrow fast path -> our lake (bench.sql_copy_dataops)

Peer tools run from their own venvs under bench/.venvs/, created on first use with pinned versions. Wall
time is from process start to exit, peak RSS covers the whole process tree, and what landed is counted
afterwards (`count(*)`, `count(DISTINCT id)`), so a fast copy that loses rows cannot look good. Results go
to stdout, bench/results/sql_copy.json (one entry per source and size, kept across runs) and the marked
section of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench.measure import Measurement, add_quiet_wait_option, machine, run_measured, wait_for_quiet
from bench.readme import cell, write_section
from bench.singer_target import ensure_target_duckdb_venv, fresh_lake, stderr_tail
from bench.sql_source import POSTGRES_SCHEMA, SEED, TABLE, sqlite_path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work" / "sql_copy"
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_PATH = BENCH_DIR / "results" / "sql_copy.json"
README_START = "<!-- sql_copy:start -->"
README_END = "<!-- sql_copy:end -->"

DEFAULT_ROWS = 1_000_000
DEFAULT_SLOW_MAX_ROWS = 1_000_000
DEFAULT_TIMEOUT_S = 3600.0
QUIET_BUSY_FRACTION = 0.15
DEFAULT_QUIET_WAIT_S = 300.0
SOURCES = ("sqlite", "postgres")
TARGET_SCHEMA = "bench"
LANDED_TABLE = f"{TARGET_SCHEMA}.{TABLE}"
POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/test"
BIN_DIR = Path(sys.executable).parent
TAP_SQL = BIN_DIR / "tap-dataops-sql"
TARGET_DATAOPS = BIN_DIR / "target-dataops"
# The bar for our target: tap start to committed table at most this multiple of the tap to /dev/null.
TARGET_OVERHEAD_GOAL = 1.1

# Each peer tool gets its own venv, pinned to the versions measured, so a later release cannot silently
# change the comparison. duckdb is pinned to the version the harness reads the lake with where it matters.
VENV_PINS: dict[str, tuple[str, ...]] = {
    "adbc": (
        "adbc-driver-manager==1.13.0",
        "adbc-driver-sqlite==1.13.0",
        "adbc-driver-postgresql==1.13.0",
        "pyarrow==26.0.1",
        "numpy==2.4.6",
        "duckdb==2.0.1",
    ),
    "dlt": (
        "dlt[duckdb,sql_database]==1.31.0",
        "connectorx==0.4.6",
        "pyarrow==26.0.1",
        "sqlalchemy==2.1.9",
        "psycopg2-binary==2.9.13",
        "duckdb==2.0.1",
    ),
    # The `sling` package itself (1.4.11 .. 1.6.5) downloads its binary from GitHub on first import, which
    # cannot work here; `sling-linux-amd64` ships the same binary inside the wheel. Sling drives the duckdb
    # CLI for a DuckDB target and would download that too (and run INSTALL json / httpfs, which downloads
    # extensions even when they are built in): duckdb-cli and the duckdb-ext-* wheels ship them instead.
    "sling": (
        "sling-linux-amd64==1.4.11",
        "duckdb-cli==1.4.4",
        "duckdb-ext-json==1.4.4.20260205",
        "duckdb-ext-httpfs==1.4.4.20260205",
    ),
}
SLING_DUCKDB_VERSION = "1.4.4"


@dataclass(frozen=True)
class Source:
    """One source database holding the generated table, and how each tool addresses it."""

    kind: str
    rows: int
    sqlite_file: Path | None = None

    @property
    def adbc_url(self) -> str:
        """What the ADBC driver connects to: the file path, or a libpq URI."""
        return str(self.sqlite_file) if self.sqlite_file else POSTGRES_URI

    def sqlalchemy_url(self, driver: str) -> str:
        """A SQLAlchemy URL; `driver` is the PostgreSQL DBAPI (psycopg for our tap, psycopg2 for dlt)."""
        if self.sqlite_file:
            return f"sqlite:///{self.sqlite_file}"
        return POSTGRES_URI.replace("postgresql://", f"postgresql+{driver}://")

    @property
    def schema(self) -> str | None:
        """The schema the table lives in (None: SQLite's main)."""
        return None if self.sqlite_file else POSTGRES_SCHEMA


@dataclass(frozen=True)
class Invocation:
    """How to start one case: the command line, or why it cannot run."""

    argv: list[str] = field(default_factory=list)
    unavailable: str = ""


@dataclass(frozen=True)
class Case:
    """One contender: a name for the table, whether it is too slow for big sizes, and how to invoke it."""

    name: str
    slow: bool
    lands: bool
    invoke: Callable[[Source, Path, Path], Invocation]


def venv_python(name: str) -> Path:
    """The interpreter of one benchmark venv."""
    return VENVS_DIR / name / "bin" / "python"


def ensure_venv(name: str) -> Path:
    """Create bench/.venvs/<name> on first use (or when its pins change) and return its directory."""
    venv = VENVS_DIR / name
    stamp = venv / "bench-pins.txt"
    wanted = "\n".join(VENV_PINS[name]) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    print(f"installing {' '.join(VENV_PINS[name])} into {venv}", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    uv = [str(BIN_DIR / "uv")]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    install = [*uv, "pip", "install", "--quiet", "--python", str(venv_python(name))]
    subprocess.run([*install, *VENV_PINS[name]], check=True)
    stamp.write_text(wanted)
    return venv


def venv_or_reason(name: str) -> tuple[Path | None, str]:
    """The venv, or why it could not be installed."""
    try:
        return ensure_venv(name), ""
    except (subprocess.CalledProcessError, OSError) as error:
        return None, f"not available: could not install the {name} venv ({error})"


def module_argv(python: Path, module: str, *args: str) -> list[str]:
    """`python -m bench.<module> ...`, run from the repository so the bench package is importable."""
    return [str(python), "-m", f"bench.{module}", *args]


def with_env(env: dict[str, str], argv: list[str]) -> list[str]:
    """Prefix `env K=V ...` (run_measured starts the command with the harness's environment)."""
    return ["env", *(f"{key}={value}" for key, value in env.items()), *argv]


def invoke_floor(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """floor: ADBC -> Arrow -> DuckDB, in the adbc venv."""
    venv, reason = venv_or_reason("adbc")
    if venv is None:
        return Invocation(unavailable=reason)
    args = ["--source", source.kind, "--url", source.adbc_url, "--db", str(db_path)]
    return Invocation(module_argv(venv_python("adbc"), "sql_floor", *args))


def dlt_env(run_dir: Path) -> dict[str, str]:
    """No telemetry, and dlt's global folder under the run's work folder instead of ~/.dlt."""
    return {"RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(run_dir / "dlt-data")}


def invoke_dlt(backend: str) -> Callable[[Source, Path, Path], Invocation]:
    """dlt-<backend>: dlt's sql_table source into a duckdb destination, in the dlt venv."""

    def invoke(source: Source, run_dir: Path, db_path: Path) -> Invocation:
        venv, reason = venv_or_reason("dlt")
        if venv is None:
            return Invocation(unavailable=reason)
        args = ["--backend", backend, "--url", source.sqlalchemy_url("psycopg2"), "--db", str(db_path)]
        args += ["--work", str(run_dir / "dlt-pipelines")]
        if source.schema:
            args += ["--schema", source.schema]
        return Invocation(with_env(dlt_env(run_dir), module_argv(venv_python("dlt"), "sql_dlt", *args)))

    return invoke


def sling_home(venv: Path) -> Path:
    """A HOME for sling whose ~/.duckdb/extensions is the wheel-shipped extension folder.

    The duckdb CLI looks for installed extensions under $HOME/.duckdb/extensions/<version>/<platform>/, and
    the duckdb-ext-* wheels lay that same tree out in site-packages, so INSTALL finds them and downloads
    nothing.
    """
    home = WORK_DIR / "sling-home"
    extensions = next(venv.glob("lib/python*/site-packages/duckdb_ext/extensions"))
    link = home / ".duckdb" / "extensions"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(extensions)
    return home


def sling_source_conn(source: Source) -> tuple[str, str]:
    """Sling's source connection URL and stream name."""
    if source.sqlite_file:
        return f"sqlite://{source.sqlite_file}", f"main.{TABLE}"
    return f"{POSTGRES_URI}?sslmode=disable", f"{POSTGRES_SCHEMA}.{TABLE}"


def invoke_sling(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """sling: `sling run` from the source table to bench.events of a DuckDB file (full-refresh)."""
    venv, reason = venv_or_reason("sling")
    if venv is None:
        return Invocation(unavailable=reason)
    binary = next(venv.glob("lib/python*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"), None)
    if binary is None:
        return Invocation(unavailable="not available: the sling-linux-amd64 wheel shipped no binary")
    home = sling_home(venv)
    env = {
        "HOME": str(home),
        "SLING_HOME_DIR": str(home / ".sling"),
        "SLING_DISABLE_TELEMETRY": "true",
        "DUCKDB_PATH": str(venv / "bin" / "duckdb"),
        "DUCKDB_VERSION": SLING_DUCKDB_VERSION,
    }
    conn, stream = sling_source_conn(source)
    argv = [str(binary), "run", "--src-conn", conn, "--src-stream", stream]
    argv += ["--tgt-conn", f"duckdb://{db_path}", "--tgt-object", LANDED_TABLE, "--mode", "full-refresh"]
    return Invocation(with_env(env, argv))


def write_json(path: Path, content: Any) -> Path:
    """Write `content` as JSON and return the path."""
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path


def tap_config(source: Source, *, arrow_fast_path: bool) -> dict[str, Any]:
    """tap-dataops-sql's config for the benchmark table.

    `arrow_fast_path` is the flag the Arrow fast path is being added behind; the plain cases pass false
    explicitly. singer-sdk validates the config against the tap's JSON Schema, which allows unknown keys,
    so the key is harmless while the tap does not know it yet.
    """
    config: dict[str, Any] = {"sqlalchemy_url": source.sqlalchemy_url("psycopg"), "tables": [TABLE]}
    if source.schema:
        config["schema"] = source.schema
    config["arrow_fast_path"] = arrow_fast_path
    return config


def selected_catalog(discovered: dict[str, Any]) -> dict[str, Any]:
    """The discovered catalog with every stream selected (metadata `selected: true` at breadcrumb [])."""
    for stream in discovered.get("streams", []):
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry.setdefault("metadata", {})["selected"] = True
    return discovered


def tap_files(source: Source, run_dir: Path) -> tuple[Path, Path]:
    """The plain tap's config and catalog (from its own --discover, not measured) in the run folder."""
    config = write_json(run_dir / "tap-config.json", tap_config(source, arrow_fast_path=False))
    discovered = subprocess.run(
        [str(TAP_SQL), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    catalog = write_json(run_dir / "catalog.json", selected_catalog(json.loads(discovered.stdout)))
    return config, catalog


def tap_pipeline(source: Source, run_dir: Path, downstream: str) -> Invocation:
    """`tap-dataops-sql --config ... --catalog ... <downstream>` as one bash process tree."""
    if not TAP_SQL.exists():
        return Invocation(unavailable=f"not available: {TAP_SQL} does not exist")
    try:
        config, catalog = tap_files(source, run_dir)
    except (subprocess.SubprocessError, json.JSONDecodeError) as error:
        return Invocation(unavailable=f"not available: tap discovery failed ({error})")
    tap = shlex.join([str(TAP_SQL), "--config", str(config), "--catalog", str(catalog)])
    return Invocation(["bash", "-c", f"set -o pipefail; {tap} {downstream}"])


def target_config(run_dir: Path, db_path: Path) -> Path:
    """The config both Singer targets accept: the DuckDB file and the schema to land in."""
    return write_json(
        run_dir / "target-config.json", {"path": str(db_path), "default_target_schema": TARGET_SCHEMA}
    )


def invoke_tap_devnull(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """singer-sdk-tap-devnull: the plain tap, its messages thrown away."""
    return tap_pipeline(source, run_dir, "> /dev/null")


def invoke_tap_target_duckdb(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """singer-sdk-tap-target-duckdb: the plain tap | target-duckdb 0.8.0 (venv from bench.singer_target)."""
    try:
        target = ensure_target_duckdb_venv()
    except (subprocess.CalledProcessError, OSError) as error:
        return Invocation(unavailable=f"not available: could not install target-duckdb ({error})")
    config = target_config(run_dir, db_path)
    return tap_pipeline(source, run_dir, "| " + shlex.join([str(target), "--config", str(config)]))


def invoke_tap_target_dataops(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """tap-to-target-dataops: the plain tap | target-dataops, our Singer target."""
    if not TARGET_DATAOPS.exists():
        return Invocation(unavailable=f"not available: {TARGET_DATAOPS} does not exist")
    config = target_config(run_dir, db_path)
    return tap_pipeline(source, run_dir, "| " + shlex.join([str(TARGET_DATAOPS), "--config", str(config)]))


def invoke_dataops(source: Source, run_dir: Path, db_path: Path) -> Invocation:
    """dataops: our tap with the Arrow fast path -> our lake, run by bench.sql_copy_dataops (catalog stored first).

    The module gets everything it could need: the source kind, a SQLAlchemy URL for the tap, the schema,
    the table, and the DuckDB file to land `bench.events` in.
    """
    args = ["--source", source.kind, "--url", source.sqlalchemy_url("psycopg"), "--table", TABLE]
    args += ["--db", str(db_path), "--target-schema", TARGET_SCHEMA]
    if source.schema:
        args += ["--schema", source.schema]
    argv = module_argv(Path(sys.executable), "sql_copy_dataops", *args)
    subprocess.run([*argv, "--prepare"], cwd=REPO_DIR, check=True, capture_output=True, timeout=300)
    return Invocation(argv)


CASES = [
    Case("floor", False, True, invoke_floor),
    Case("dlt-connectorx", False, True, invoke_dlt("connectorx")),
    Case("dlt-pyarrow", True, True, invoke_dlt("pyarrow")),
    Case("sling", True, True, invoke_sling),
    Case("singer-sdk-tap-devnull", True, False, invoke_tap_devnull),
    Case("singer-sdk-tap-target-duckdb", True, True, invoke_tap_target_duckdb),
    Case("tap-to-target-dataops", True, True, invoke_tap_target_dataops),
    Case("dataops", False, True, invoke_dataops),
]
CASE_NAMES = [case.name for case in CASES]
NOT_IMPLEMENTED = "not implemented yet"


def prepare_source(kind: str, rows: int) -> tuple[Source, float]:
    """Generate (or reuse) the table in one source; return it and the seconds generation took."""
    venv = ensure_venv("adbc")
    started = time.perf_counter()
    args = ["--source", kind, "--rows", str(rows)]
    sqlite_file = sqlite_path(WORK_DIR, rows) if kind == "sqlite" else None
    args += ["--sqlite-path", str(sqlite_file)] if sqlite_file else ["--postgres-uri", POSTGRES_URI]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(module_argv(venv / "bin" / "python", "sql_source", *args), check=True, cwd=REPO_DIR)
    return Source(kind, rows, sqlite_file), time.perf_counter() - started


def warm_source(source: Source) -> None:
    """Read the whole table once so that no case pays for cold disk reads the others do not."""
    if source.sqlite_file:
        with source.sqlite_file.open("rb") as data:
            while data.read(1 << 24):
                pass
        return
    import psycopg

    with psycopg.connect(POSTGRES_URI) as con:
        con.execute(f"SELECT count(*), max(length(payload)) FROM {POSTGRES_SCHEMA}.{TABLE}").fetchone()


def landed(db_path: Path) -> dict[str, Any]:
    """Rows and distinct ids in bench.events, and the column types the case chose."""
    if not db_path.exists():
        return {"rows": None, "distinct_ids": None, "error": "no DuckDB file"}
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            row = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {LANDED_TABLE}").fetchone()
            types = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = '{TARGET_SCHEMA}' AND table_name = '{TABLE}' ORDER BY ordinal_position"
            ).fetchall()
    except duckdb.Error as error:
        return {"rows": None, "distinct_ids": None, "error": f"could not count the table: {error}"}
    rows, distinct = row if row else (None, None)
    return {"rows": rows, "distinct_ids": distinct, "column_types": dict(types)}


def run_status(measurement: Measurement, stderr_path: Path) -> str:
    """ok, timed out, failed, or not available (a stub that says it is not implemented)."""
    if measurement.timed_out:
        return "timed out"
    if measurement.returncode == 0:
        return "ok"
    if NOT_IMPLEMENTED in stderr_path.read_text(errors="replace"):
        return f"not available ({NOT_IMPLEMENTED})"
    return f"failed (exit {measurement.returncode})"


def describe_run(case: Case, source: Source, run_dir: Path, measurement: Measurement) -> dict[str, Any]:
    """Everything recorded for one run of one case."""
    status = run_status(measurement, run_dir / "stderr.txt")
    result: dict[str, Any] = {
        "status": status,
        "wall_s": round(measurement.wall_s, 3),
        "cpu_s": round(measurement.cpu_s, 2),
        "peak_rss_mb": round(measurement.peak_rss_bytes / 2**20, 1),
    }
    if case.lands:
        result.update(landed(run_dir / "lake.duckdb"))
        result["row_exact"] = result["rows"] == source.rows and result["distinct_ids"] == source.rows
    if status != "ok":
        result["stderr_tail"] = stderr_tail(run_dir / "stderr.txt")
    return result


def run_once(case: Case, source: Source, options: argparse.Namespace) -> dict[str, Any]:
    """One run of a case against a fresh DuckDB file, started when the machine is quiet."""
    run_dir = WORK_DIR / "runs" / f"{source.kind}-{source.rows}-{case.name}"
    db_path = fresh_lake(run_dir)
    invocation = case.invoke(source, run_dir, db_path)
    if invocation.unavailable:
        return {"status": invocation.unavailable}
    busy_before = wait_for_quiet(QUIET_BUSY_FRACTION, options.quiet_wait)
    measurement = run_measured(
        invocation.argv, None, run_dir / "stdout.txt", run_dir / "stderr.txt", options.timeout, REPO_DIR
    )
    result = describe_run(case, source, run_dir, measurement)
    result["machine_busy_before"] = round(busy_before, 2)
    for lake_file in run_dir.glob("lake.duckdb*"):
        lake_file.unlink()
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest successful run, else the last one (every wall time is kept beside it)."""
    ok_runs = [run for run in runs if run["status"] == "ok"]
    best = min(ok_runs, key=lambda run: run["wall_s"]) if ok_runs else runs[-1]
    return {**best, "all_wall_s": [run["wall_s"] for run in runs if "wall_s" in run]}


def run_case(case: Case, source: Source, options: argparse.Namespace) -> dict[str, Any]:
    """Run a case `--repeat` times (or skip it when it is too slow for this size)."""
    label = f"{source.kind} {source.rows:,} {case.name}"
    if case.slow and source.rows > options.slow_max_rows:
        print(f"{label}: skipped (slow at this size)", file=sys.stderr)
        return {"case": case.name, "status": "skipped (slow at this size)"}
    runs: list[dict[str, Any]] = []
    for attempt in range(options.repeat):
        run = run_once(case, source, options)
        wall = (
            f", wall {run['wall_s']} s, busy before {run['machine_busy_before']}" if "wall_s" in run else ""
        )
        print(
            f"{label} run {attempt + 1}/{options.repeat}: {run['status']}{wall}", file=sys.stderr, flush=True
        )
        runs.append(run)
        if not run["status"].startswith(("ok", "failed", "timed out")):
            break
    return {"case": case.name, **best_of(runs)}


def add_ratios(results: list[dict[str, Any]]) -> None:
    """Wall time of every case as a multiple of the floor's."""
    floor = next((r for r in results if r["case"] == "floor" and r["status"] == "ok"), None)
    for result in results:
        ok = floor is not None and result["status"] == "ok"
        result["ratio_vs_floor"] = round(result["wall_s"] / floor["wall_s"], 1) if ok and floor else None


def target_overhead(results: list[dict[str, Any]], measure: str = "wall_s") -> float | None:
    """tap | target-dataops over tap > /dev/null (wall or cpu time): the cost of landing what the tap reads."""
    by_name = {result["case"]: result for result in results}
    piped, devnull = by_name.get("tap-to-target-dataops", {}), by_name.get("singer-sdk-tap-devnull", {})
    if piped.get("status") != "ok" or devnull.get("status") != "ok" or not devnull.get(measure):
        return None
    return round(piped[measure] / devnull[measure], 2)


TABLE_HEADER = [
    "case",
    "wall s",
    "cpu s",
    "peak RSS MB",
    "rows landed",
    "distinct ids",
    "x floor",
    "row-exact",
]


def table_row(result: dict[str, Any]) -> list[str]:
    """One case's cells; a case that did not run says why in the wall time column."""
    if "wall_s" not in result or result["status"].startswith("not available"):
        return [result["case"], result["status"], *["-"] * (len(TABLE_HEADER) - 2)]
    status = "" if result["status"] == "ok" else f" [{result['status']}]"
    lands = "rows" in result
    return [
        result["case"] + status,
        cell(result["wall_s"], 2),
        cell(result["cpu_s"], 1),
        cell(result["peak_rss_mb"], 0),
        cell(result.get("rows")) if lands else "n/a (no lake)",
        cell(result.get("distinct_ids")) if lands else "-",
        cell(result.get("ratio_vs_floor"), 1),
        cell(result.get("row_exact")),
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


def overhead_note(run: dict[str, Any]) -> str:
    """The issue's ratio, spelled out; cpu time too, as it is less disturbed by other work on the machine."""
    ratio, cpu_ratio = target_overhead(run["results"]), target_overhead(run["results"], "cpu_s")
    if ratio is None:
        return "tap | target-dataops vs tap > /dev/null: not measured in this run."
    verdict = "meets" if ratio <= TARGET_OVERHEAD_GOAL else "misses"
    return (
        f"tap | target-dataops vs tap > /dev/null: **{ratio:.2f}x** wall time ({verdict} the goal of at most "
        f"{TARGET_OVERHEAD_GOAL}x), {cpu_ratio:.2f}x cpu time."
    )


def type_differences(types: dict[str, str], floor: dict[str, str]) -> str:
    """How a case's column types differ from the floor's: other types, extra columns, missing columns."""
    parts = [f"{name} {kind}" for name, kind in types.items() if name in floor and floor[name] != kind]
    extra = [name for name in types if name not in floor]
    missing = [name for name in floor if name not in types]
    if extra:
        parts.append(f"{len(extra)} extra columns ({', '.join(extra)})")
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    return "; ".join(parts) if parts else "same types"


def type_notes(results: list[dict[str, Any]]) -> list[str]:
    """Column types each case chose, against the floor's (the source's own types, cast where needed)."""
    floor = next((r.get("column_types") for r in results if r["case"] == "floor"), None)
    if not floor:
        return []
    notes = [f"- floor: {', '.join(f'{name} {kind}' for name, kind in floor.items())}"]
    for result in results:
        if result["case"] != "floor" and result.get("column_types"):
            notes.append(f"- {result['case']}: {type_differences(result['column_types'], floor)}")
    return notes


def run_section(run: dict[str, Any]) -> list[str]:
    """One source and size: its heading, table and notes."""
    failures = [
        f"- {result['case']}: {result['stderr_tail'].splitlines()[-1] if result['stderr_tail'] else ''}"
        for result in run["results"]
        if result.get("stderr_tail") and not result["status"].startswith("not available")
    ]
    return [
        f"#### {run['source']}, {run['rows']:,} rows",
        "",
        f"Measured {run['measured_at']} (best of {run['repeat']}; source prepared in "
        f"{run['prepare_s']:.0f} s, cached when it already existed; machine busy just before the runs: at "
        f"most {run['busiest']}; load average before: {', '.join(map(str, run['load_average_before']))}).",
        "",
        markdown_table(run["results"]),
        "",
        overhead_note(run),
        "",
        "Column types landed (other cases: where they differ from the floor):",
        "",
        *type_notes(run["results"]),
        *(["", "Failures (last line of stderr):", *failures] if failures else []),
        "",
    ]


def readme_section(stored: dict[str, Any]) -> str:
    """The generated part of bench/README.md: every source and size measured so far."""
    runs = sorted(stored["runs"].values(), key=lambda run: (SOURCES.index(run["source"]), run["rows"]))
    info = stored["machine"]
    pins = "; ".join(f"{name}: {', '.join(pins)}" for name, pins in stored["venv_pins"].items())
    lines = [README_START, ""]
    for run in runs:
        lines += run_section(run)
    lines += [
        f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB memory, "
        f"Linux {info['kernel']}, Python {info['python']}, duckdb {info['duckdb']}, singer-sdk "
        f"{info['singer_sdk']}. Venvs: {pins}; target-duckdb: as in `bench.singer_target`. `cpu s` is user + "
        "system time of the case's process tree. The machine is shared: compare cases within one table.",
        README_END,
    ]
    return "\n".join(lines)


def busiest(results: list[dict[str, Any]]) -> str:
    """The highest machine busy fraction seen just before any reported run, as a percentage."""
    fractions = [result["machine_busy_before"] for result in results if "machine_busy_before" in result]
    return f"{max(fractions):.0%}" if fractions else "-"


def load_stored() -> dict[str, Any]:
    """Earlier results (one entry per source and size), so a run at one size keeps the others' tables."""
    if RESULTS_PATH.exists():
        try:
            stored: dict[str, Any] = json.loads(RESULTS_PATH.read_text())
            if isinstance(stored.get("runs"), dict):
                return stored
        except json.JSONDecodeError:
            pass
    return {"benchmark": "sql_copy", "runs": {}}


def measure_source(kind: str, options: argparse.Namespace) -> dict[str, Any]:
    """Prepare one source and run every chosen case against it."""
    print(f"preparing {kind} with {options.rows:,} rows", file=sys.stderr, flush=True)
    source, prepare_s = prepare_source(kind, options.rows)
    warm_source(source)
    load_before = [round(load, 2) for load in os.getloadavg()]
    chosen = [case for case in CASES if case.name in options.cases]
    results = [run_case(case, source, options) for case in chosen]
    add_ratios(results)
    return {
        "source": kind,
        "rows": options.rows,
        "seed": SEED,
        "repeat": options.repeat,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "prepare_s": round(prepare_s, 1),
        "load_average_before": load_before,
        "busiest": busiest(results),
        "target_overhead": target_overhead(results),
        "results": results,
    }


def singer_sdk_version() -> str:
    """The singer-sdk the plain tap runs on."""
    from importlib.metadata import version

    return version("singer-sdk")


def names(text: str, allowed: list[str] | tuple[str, ...], option: str) -> list[str]:
    """A comma-separated option, checked against what exists."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise SystemExit(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Benchmark copying a SQL table into DuckDB, tool against tool."
    )
    parser.add_argument("--source", default=",".join(SOURCES), help="sqlite,postgres (default both)")
    parser.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help="rows in the table (default 1,000,000)"
    )
    parser.add_argument(
        "--cases", default=",".join(CASE_NAMES), help="comma-separated case names (default all)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is reported")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per run")
    add_quiet_wait_option(parser, DEFAULT_QUIET_WAIT_S)
    parser.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the section in bench/README.md"
    )
    parser.add_argument(
        "--slow-max-rows",
        type=int,
        default=DEFAULT_SLOW_MAX_ROWS,
        help="skip the slow cases (dlt-pyarrow, sling, the singer-sdk tap ones) above this many rows",
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    args.source = names(args.source, SOURCES, "--source")
    args.cases = names(args.cases, CASE_NAMES, "--cases")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Prepare each source, run the cases, report."""
    args = parse_args(argv)
    stored = load_stored()
    for kind in args.source:
        run = measure_source(kind, args)
        stored["runs"][f"{kind}/{args.rows}"] = run
        print(f"\n{kind}, {args.rows:,} rows\n{markdown_table(run['results'])}\n{overhead_note(run)}")
    stored["machine"] = {**machine(), "singer_sdk": singer_sdk_version()}
    stored["venv_pins"] = {name: list(pins) for name, pins in VENV_PINS.items()}
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(stored, indent=2, default=str) + "\n")
    if not args.no_readme:
        write_section(README_START, README_END, readme_section(stored))
    return stored


if __name__ == "__main__":
    main()
