"""Benchmark: target-dataops's peak memory follows its batch size, not the length of the stream.

Run `python -m bench.target_memory [--records N]` (default 10,000,000). The input is the benchmark stream of
`bench.singer_stream` (same seed, same bytes as its cached files), but generated on the fly by a second
process and piped into the target's stdin: 10 million records would be a ~5.5 GB file, and a pipe also
proves the target never needs to see the whole stream. Each run lands into a fresh DuckDB file; the target's
peak RSS is the kernel's high-water mark for its process (VmHWM, polled, and wait4's ru_maxrss at exit), and
what landed is counted afterwards with count(*) and count(DISTINCT id).

Runs: default settings at 1M, 3M and N records (a bounded target has the same peak at every length), then
`batch_size_rows` 100,000 and 1,000,000 at N (the peak should move with the batch). Results go to stdout,
bench/results/target_memory.json and the marked section of bench/README.md.

Wall time includes the generator: it is one Python process building text (~100k records/s on one core),
so on a small machine records/s here measures the generator as much as the target. `cpu s` shows the
target's own work; bench/singer_target.py measures its speed from a file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bench.measure import add_quiet_wait_option, machine, read_status_kb, wait_for_quiet, wait_with_timeout
from bench.readme import write_section
from bench.singer_stream import SEED, STATE_EVERY, schema_line, state_value, write_block
from dataops_assets.target.settings import TargetSettings

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work" / "target_memory"
RESULTS_PATH = BENCH_DIR / "results" / "target_memory.json"
README_START = "<!-- target_memory:start -->"
README_END = "<!-- target_memory:end -->"
README_INTRO = """
## Memory of target-dataops over long streams (`bench/target_memory.py`)

Does `target-dataops` need more memory for a longer stream? It should not: it commits every
`batch_size_rows` records, and at most one batch loads while the next is read. This benchmark pipes the
benchmark stream (`bench/singer_stream.py`, generated on the fly by a second process, so no multi-GB file is
written) into the target and records its peak RSS at several stream lengths and batch sizes.

```bash
.venv/bin/python -m bench.target_memory                   # 1M, 3M, 10M records, then batch sizes at 10M
.venv/bin/python -m bench.target_memory --records 2000000 # a quicker ladder: 1M, 2M, batch sizes at 2M
.venv/bin/python -m bench.target_memory --records 3000000 --ladder "" --batch-sizes "" --memory-limits 256MB,1GB
```

`peak RSS` is the target process's kernel high-water mark (VmHWM, and ru_maxrss at exit). `RSS by quarter`
is the highest resident size sampled in each quarter of the run: flat quarters mean memory does not grow
with the records already loaded. Wall time includes the generator (one Python process, ~100k records/s on
one core), so `records/s` is bounded by it on small machines; `cpu s` is the target's own user + system
time. Rows are counted afterwards with `count(*)` and `count(DISTINCT id)`; `state ok` means the last state
the target printed is the stream's last STATE.
"""

DEFAULT_RECORDS = 10_000_000
DEFAULT_LADDER = (1_000_000, 3_000_000)
DEFAULT_BATCH_SIZES = (100_000, 1_000_000)
DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_QUIET_WAIT_S = 60.0
QUIET_BUSY_FRACTION = 0.15
SAMPLE_SECONDS = 0.1
TARGET_SCHEMA = "bench"
TABLE = f"{TARGET_SCHEMA}.events"
TARGET_DATAOPS = Path(sys.executable).parent / "target-dataops"
DEFAULT_BATCH_SIZE = TargetSettings.model_fields["batch_size_rows"].default
DEFAULT_MEMORY_LIMIT = TargetSettings.model_fields["memory_limit"].default


# --- the generator process ----------------------------------------------------------------------------


class _Discard(io.TextIOBase):
    """Where `write_block`'s bare-JSONL copy goes: this benchmark only needs the Singer stream."""

    def write(self, text: str) -> int:
        return len(text)


def generate_to_stdout(records: int, state_path: Path, seed: int = SEED) -> None:
    """Write the benchmark stream for `records` to stdout, byte for byte what `singer_stream.generate`
    writes to its Singer file, and the final STATE value to `state_path` for the comparison afterwards."""
    rng = random.Random(seed)
    out = open(sys.stdout.fileno(), "w", encoding="ascii", buffering=1 << 20, closefd=False)  # noqa: SIM115
    updated_at = ""
    try:
        out.write(schema_line())
        for block, first_id in enumerate(range(1, records + 1, STATE_EVERY)):
            count = min(STATE_EVERY, records + 1 - first_id)
            updated_at = write_block(rng, first_id, count, block, out, _Discard())
        out.flush()
    except BrokenPipeError:  # the target died; its exit status tells the story
        os._exit(1)
    state_path.write_text(json.dumps(state_value(updated_at)) + "\n")


# --- measuring one run --------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Polls one process's VmRSS (for the per-quarter profile) and VmHWM (its kernel high-water mark)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self.hwm_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stopped.is_set():
            rss = read_status_kb(self.pid, "VmRSS")
            if rss:
                self.samples.append((time.perf_counter() - started, rss))
            self.hwm_kb = max(self.hwm_kb, read_status_kb(self.pid, "VmHWM"))
            self.stopped.wait(SAMPLE_SECONDS)

    def by_quarter_mb(self) -> list[float]:
        """The highest sampled RSS in each quarter of the run, in MB."""
        if not self.samples:
            return []
        end = self.samples[-1][0] or 1.0
        quarters = [0] * 4
        for at, rss in self.samples:
            index = min(3, int(4 * at / end))
            quarters[index] = max(quarters[index], rss)
        return [round(kb / 1024, 0) for kb in quarters]


@dataclass(frozen=True)
class RunSpec:
    """One run: how many records, the batch size and DuckDB's memory limit (None: the target's default)."""

    records: int
    batch_size_rows: int | None
    memory_limit: str | None = None

    @property
    def label(self) -> str:
        batch = f"{self.batch_size_rows}" if self.batch_size_rows else "default"
        limit = f"-mem{self.memory_limit}" if self.memory_limit else ""
        return f"{self.records}-{batch}{limit}"


@dataclass
class RunResult:
    """What one run produced; `status` is 'ok' or why not."""

    spec: RunSpec
    status: str
    wall_s: float = 0.0
    target_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    rss_by_quarter_mb: list[float] = field(default_factory=list)
    rows: int | None = None
    distinct_ids: int | None = None
    final_state_ok: bool = False
    lake_mb: float = 0.0
    machine_busy_before: float = 0.0
    stderr_tail: str = ""

    @property
    def records_per_s(self) -> float:
        return self.spec.records / self.wall_s if self.wall_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.spec.records,
            "batch_size_rows": self.spec.batch_size_rows or DEFAULT_BATCH_SIZE,
            "batch_size_is_default": self.spec.batch_size_rows is None,
            "memory_limit": self.spec.memory_limit or DEFAULT_MEMORY_LIMIT,
            "status": self.status,
            "wall_s": round(self.wall_s, 2),
            "records_per_s": round(self.records_per_s),
            "target_cpu_s": round(self.target_cpu_s, 1),
            "generator_cpu_s": round(self.generator_cpu_s, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "rss_by_quarter_mb": self.rss_by_quarter_mb,
            "rows": self.rows,
            "distinct_ids": self.distinct_ids,
            "final_state_ok": self.final_state_ok,
            "lake_mb": round(self.lake_mb, 1),
            "machine_busy_before": round(self.machine_busy_before, 2),
            "stderr_tail": self.stderr_tail,
        }


def write_config(run_dir: Path, spec: RunSpec) -> Path:
    """The target's config: the lake file, the schema, and the batch size and memory limit if not default."""
    settings: dict[str, Any] = {"path": str(run_dir / "lake.duckdb"), "default_target_schema": TARGET_SCHEMA}
    if spec.batch_size_rows:
        settings["batch_size_rows"] = spec.batch_size_rows
    if spec.memory_limit:
        settings["memory_limit"] = spec.memory_limit
    config = run_dir / "config.json"
    config.write_text(json.dumps(settings) + "\n")
    return config


def count_landed(lake: Path) -> tuple[int | None, int | None]:
    """Rows and distinct ids in the table (None when there is no table to count)."""
    if not lake.exists():
        return None, None
    try:
        with duckdb.connect(str(lake), read_only=True) as con:
            row = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {TABLE}").fetchone()
    except duckdb.Error:
        return None, None
    return (row[0], row[1]) if row else (None, None)


def last_line_json(path: Path) -> Any:
    """The last JSON line of a file, or None."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def measure(spec: RunSpec, timeout_s: float, quiet_wait_s: float, keep: bool) -> RunResult:
    """Pipe a generator into target-dataops and measure the target process."""
    run_dir = WORK_DIR / spec.label
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config = write_config(run_dir, spec)
    state_path = run_dir / "input-final-state.json"
    busy = wait_for_quiet(QUIET_BUSY_FRACTION, quiet_wait_s)
    generator_argv = [sys.executable, "-m", "bench.target_memory", "--generate", str(spec.records)]
    with contextlib.ExitStack() as files:
        out = files.enter_context((run_dir / "stdout.txt").open("wb"))
        err = files.enter_context((run_dir / "stderr.txt").open("wb"))
        generator = subprocess.Popen(
            [*generator_argv, "--state-file", str(state_path)],
            stdout=subprocess.PIPE,
            cwd=REPO_DIR,
            start_new_session=True,
        )
        started = time.perf_counter()
        target = subprocess.Popen(
            [str(TARGET_DATAOPS), "--config", str(config)],
            stdin=generator.stdout,
            stdout=out,
            stderr=err,
            cwd=REPO_DIR,
            start_new_session=True,
        )
        assert generator.stdout is not None
        generator.stdout.close()  # the target holds the read end now; it must see EOF when the generator ends
        sampler = RssSampler(target.pid)
        sampler.start()
        returncode, usage, timed_out = wait_with_timeout(target, timeout_s)
        wall = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
        if returncode != 0:  # the generator may be blocked on a pipe nobody reads any more
            with contextlib.suppress(ProcessLookupError):
                os.killpg(generator.pid, signal.SIGKILL)
        _, generator_status, generator_usage = os.wait4(generator.pid, 0)  # reaped here for its CPU time
        generator.returncode = os.waitstatus_to_exitcode(generator_status)
    result = RunResult(spec, "ok", machine_busy_before=busy)
    result.wall_s = wall
    result.target_cpu_s = usage.ru_utime + usage.ru_stime
    result.generator_cpu_s = generator_usage.ru_utime + generator_usage.ru_stime
    result.peak_rss_mb = max(sampler.hwm_kb, usage.ru_maxrss) / 1024
    result.rss_by_quarter_mb = sampler.by_quarter_mb()
    if timed_out:
        result.status = "timed out"
    elif returncode != 0:
        result.status = f"target failed (exit {returncode})"
    elif generator.returncode != 0:
        result.status = f"generator failed (exit {generator.returncode})"
    if result.status != "ok":
        result.stderr_tail = "\n".join((run_dir / "stderr.txt").read_text(errors="replace").splitlines()[-8:])
    lake = run_dir / "lake.duckdb"
    result.rows, result.distinct_ids = count_landed(lake)
    result.lake_mb = lake.stat().st_size / 2**20 if lake.exists() else 0.0
    expected_state = json.loads(state_path.read_text()) if state_path.exists() else None
    result.final_state_ok = (
        expected_state is not None and last_line_json(run_dir / "stdout.txt") == expected_state
    )
    if not keep:
        for lake_file in run_dir.glob("lake.duckdb*"):
            lake_file.unlink()
    return result


# --- reporting ----------------------------------------------------------------------------------------


HEADER = [
    "records",
    "batch_size_rows",
    "memory_limit",
    "wall s",
    "records/s",
    "target cpu s",
    "generator cpu s",
    "peak RSS MB",
    "RSS by quarter MB",
    "rows landed",
    "distinct ids",
    "state ok",
]


def table_row(result: RunResult) -> list[str]:
    """One run's cells; a failed run says why next to its record count."""
    spec = result.spec
    batch = f"{spec.batch_size_rows:,}" if spec.batch_size_rows else f"{DEFAULT_BATCH_SIZE:,} (default)"
    status = "" if result.status == "ok" else f" [{result.status}]"

    def count(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    return [
        f"{spec.records:,}{status}",
        batch,
        spec.memory_limit or f"{DEFAULT_MEMORY_LIMIT} (default)",
        f"{result.wall_s:,.1f}",
        f"{result.records_per_s:,.0f}",
        f"{result.target_cpu_s:,.1f}",
        f"{result.generator_cpu_s:,.1f}",
        f"{result.peak_rss_mb:,.0f}",
        " / ".join(f"{mb:.0f}" for mb in result.rss_by_quarter_mb) or "-",
        count(result.rows),
        count(result.distinct_ids),
        "yes" if result.final_state_ok else "no",
    ]


def markdown_table(results: list[RunResult]) -> str:
    """The results as a Markdown table (readable as plain text on stdout too)."""
    rows = [HEADER, *(table_row(result) for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def summary(results: list[RunResult]) -> str:
    """The figures the table is for, in one sentence each: peak RSS against length, batch size and limit."""
    ok = [result for result in results if result.status == "ok"]
    defaults = sorted(
        (r for r in ok if r.spec.batch_size_rows is None and r.spec.memory_limit is None),
        key=lambda r: r.spec.records,
    )
    lines = []
    if len(defaults) > 1:
        short, long = defaults[0], defaults[-1]
        lines.append(
            f"- Default settings: peak RSS {short.peak_rss_mb:,.0f} MB at {short.spec.records:,} records, "
            f"{long.peak_rss_mb:,.0f} MB at {long.spec.records:,} ({long.spec.records / short.spec.records:.0f}x "
            f"the records, {long.peak_rss_mb / short.peak_rss_mb:.1f}x the memory)."
        )
    longest = max((r.spec.records for r in ok), default=0)
    by_batch = sorted(
        (r for r in ok if r.spec.records == longest and r.spec.memory_limit is None),
        key=lambda r: r.spec.batch_size_rows or DEFAULT_BATCH_SIZE,
    )
    if len(by_batch) > 1:
        lines.append(
            f"- At {longest:,} records, by batch_size_rows: "
            + ", ".join(
                f"{r.spec.batch_size_rows or DEFAULT_BATCH_SIZE:,} -> {r.peak_rss_mb:,.0f} MB"
                for r in by_batch
            )
            + "."
        )
    by_limit = [r for r in ok if r.spec.records == longest and r.spec.memory_limit]
    if by_limit:
        lines.append(
            f"- At {longest:,} records, by DuckDB memory_limit: "
            + ", ".join(f"{r.spec.memory_limit} -> {r.peak_rss_mb:,.0f} MB" for r in by_limit)
            + "."
        )
    return "\n".join(lines)


def readme_section(report: dict[str, Any], results: list[RunResult]) -> str:
    """The generated part of bench/README.md, between this benchmark's markers."""
    info = report["machine"]
    return "\n".join(
        [
            README_START,
            f"Measured {report['measured_at']} with `python -m bench.target_memory --records "
            f"{report['records']}` (seed {SEED}; target defaults: batch_size_rows {DEFAULT_BATCH_SIZE:,}, "
            f"memory_limit {DEFAULT_MEMORY_LIMIT}).",
            "",
            markdown_table(results),
            "",
            summary(results),
            "",
            f"The target's DuckDB connection runs with `memory_limit` {DEFAULT_MEMORY_LIMIT} by default, and DuckDB "
            "uses memory up to that limit whatever the batch size (read buffers, the merge's joins, cached "
            "blocks of the growing table): the limit, more than the batch, sets the ceiling. "
            "`--memory-limits 256MB,1GB` measures how the peak follows it.",
            "",
            f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB memory, Linux "
            f"{info['kernel']}, Python {info['python']}, duckdb {info['duckdb']}. Load average (1, 5, 15 min) "
            f"before the runs {', '.join(map(str, report['load_average_before']))}, after them "
            f"{', '.join(map(str, report['load_average_after']))}: the machine is shared, and other work "
            "stretches wall time (the target waits for the CPU and the disk) far more than it moves peak RSS.",
            README_END,
        ]
    )


# --- command line -------------------------------------------------------------------------------------


def run_specs(
    records: int, ladder: list[int], batch_sizes: list[int], memory_limits: list[str]
) -> list[RunSpec]:
    """Default settings at each ladder length below `records` and at `records`; then each batch size and
    each DuckDB memory limit at `records`."""
    lengths = sorted({n for n in ladder if n < records} | {records})
    return (
        [RunSpec(n, None) for n in lengths]
        + [RunSpec(records, size) for size in batch_sizes]
        + [RunSpec(records, None, limit) for limit in memory_limits]
    )


def int_list(text: str) -> list[int]:
    """A comma-separated list of counts ('' is an empty list)."""
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Peak memory of target-dataops over long Singer streams.")
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="longest stream (default 10M)")
    parser.add_argument(
        "--ladder",
        type=int_list,
        default=list(DEFAULT_LADDER),
        help="shorter lengths run with default settings (default 1000000,3000000)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=int_list,
        default=list(DEFAULT_BATCH_SIZES),
        help="batch_size_rows values run at --records (default 100000,1000000)",
    )
    parser.add_argument(
        "--memory-limits",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=[],
        help="DuckDB memory_limit values run at --records with the default batch size, e.g. 256MB,1GB",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per run")
    add_quiet_wait_option(parser, DEFAULT_QUIET_WAIT_S)
    parser.add_argument("--keep", action="store_true", help="keep each run's lake file under bench/.work/")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the section in README.md")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)  # the generator process
    parser.add_argument("--state-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Run every spec one after another (they share the machine), then report."""
    args = parse_args(argv)
    if args.generate is not None:
        generate_to_stdout(args.generate, args.state_file)
        return None
    if not TARGET_DATAOPS.exists():
        sys.exit(f"{TARGET_DATAOPS} does not exist: install the project (make setup) first")
    load_before = [round(load, 2) for load in os.getloadavg()]
    results = []
    for spec in run_specs(args.records, args.ladder, args.batch_sizes, args.memory_limits):
        print(f"{spec.label}: running", file=sys.stderr, flush=True)
        result = measure(spec, args.timeout, args.quiet_wait, args.keep)
        print(
            f"{spec.label}: {result.status}, {result.wall_s:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    report = {
        "benchmark": "target_memory",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "records": args.records,
        "seed": SEED,
        "defaults": {"batch_size_rows": DEFAULT_BATCH_SIZE, "memory_limit": DEFAULT_MEMORY_LIMIT},
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
        "results": [result.to_json() for result in results],
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(results))
    print(summary(results))
    info = report["machine"]
    print(f"machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB memory")
    if not args.no_readme:
        write_section(
            README_START, README_END, readme_section(report, results), intro=README_INTRO.lstrip("\n") + "\n"
        )
    return report


if __name__ == "__main__":
    main()
