"""Benchmark: how long the code location takes to load, against the cost of importing Dagster at all.

Run `python -m bench.code_location [--repeat K] [--sizes 200s-300m,500s-1000m]`. For each size a synthetic
project is generated (`bench/big_project.py`), then each case runs K times, each time in a fresh process:

  (a) floor       `import dagster, dagster_dbt`, nothing else
  (b) ours        import `dataops_assets.definitions`, call its `defs` entry point (what `dagster dev`
                  and a code server call; `DATAOPS_CONFIG` names the generated project), then
                  `Definitions.validate_loadable` (the repository resolved: every asset, check, job,
                  schedule and sensor, the asset graph and partitions), as a code server does on load
  (c) dagster-dbt the same manifest through one plain `@dbt_assets` (default translator, no sources, no
                  taps), resolved the same way: what dagster-dbt itself costs at this size

Each process also builds the repository snapshot the code server sends to the web UI
(`RepositorySnap.from_def`); it is timed as its own phase and reported apart, because it is Dagster's work
on what we defined and not part of "load and resolve". The children exit with `os._exit` so that
interpreter teardown is not measured (a code server never tears down after loading). Each case runs
once unmeasured first: it fills the bytecode cache (uv installs packages without compiling them) and the
page cache. Runs of the cases alternate (a, b, c, a, b, c, ...) so that other work on the machine spreads
over all of them, and best and median are reported.

The ours process also checks what loading must not do: it records, with `sys.addaudithook`, every process
it starts (`subprocess.Popen`, `os.posix_spawn`, `os.fork`, `os.system`, `os.exec*`; the one allowed is
`file -b <python>`, which `platform.architecture()` runs when Dagster's vendored croniter is imported) and
every file it opens
under the lake or landing folder, and the parent checks that the lake file still does not exist and that
the prepared manifest was not rewritten. Any of those fails the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.big_project import LAKE_FILE, Size, generate
from bench.measure import machine, wait_for_quiet
from bench.readme import write_section

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "results" / "code_location.json"
README_START = "<!-- code_location:start -->"
README_END = "<!-- code_location:end -->"

DEFAULT_SIZES = "200s-300m,500s-1000m"
DEFAULT_REPEAT = 5
TARGET_SIZE = Size(200, 300)
TARGET_OVER_FLOOR_S = 0.6
QUIET_BUSY_FRACTION = 0.15
DEFAULT_QUIET_WAIT_S = 60.0
TIMEOUT_S = 600.0
# Modules the load path should not need: the runtime's (taps, the lake, dataframes) and dbt's parser.
HEAVY_MODULES = (
    "singer_sdk", "sqlalchemy", "duckdb", "pandas", "pyarrow", "polars", "numpy",
    "dbt.parser.manifest", "dbt.cli.main",
)  # fmt: skip

# Shared by every child: phase timer, then a JSON line on stdout and an exit without teardown.
CHILD_PRELUDE = """
import json, os, sys, time
_phases = {}
_last = [time.perf_counter(), time.process_time()]
def phase(name):
    now = [time.perf_counter(), time.process_time()]
    _phases[name] = {"wall_s": now[0] - _last[0], "cpu_s": now[1] - _last[1]}
    _last[:] = now
def finish(extra):
    sys.stdout.write(json.dumps({"phases": _phases, **extra}) + "\\n")
    sys.stdout.flush()
    os._exit(0)
"""

# both load cases: resolve the definitions as a code server does, then build the snapshot it sends the UI
RESOLVE_AND_SNAPSHOT = """
dg.Definitions.validate_loadable(defs)
repository = defs.get_repository_def()
phase("resolve")
from dagster._core.remote_representation.external_data import RepositorySnap
RepositorySnap.from_def(repository)
phase("snapshot")
graph = repository.asset_graph
"""

CHILD_FLOOR = (
    CHILD_PRELUDE
    + """
import dagster, dagster_dbt
phase("import")
finish({})
"""
)

# ours: the audit hook goes in first, so everything the load does is seen.
CHILD_OURS = (
    CHILD_PRELUDE
    + """
from pathlib import Path
project, lake, landing = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
_seen = []
_PROCESS_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.system", "os.exec", "os.spawn"}
def _audit(event, args):
    if event == "subprocess.Popen" and list(args[1])[:2] == ["file", "-b"]:
        return  # platform.architecture() probing the interpreter (Dagster's vendored croniter, at import)
    if event in _PROCESS_EVENTS:
        _seen.append(f"{event}: {str(args[:2])[:200]}")
    elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.startswith(lake) or path.startswith(landing):
            _seen.append(f"open: {path}")
sys.addaudithook(_audit)
import dagster as dg
from dataops_assets.definitions import defs as load_definitions
phase("import")
defs = load_definitions()  # the code location's entry point; DATAOPS_CONFIG names the generated project
phase("build")
"""
    + RESOLVE_AND_SNAPSHOT
    + """finish({
    "forbidden": _seen,
    "modules": sorted(name for name in HEAVY if name in sys.modules),
    "counts": {
        "assets": len(graph.get_all_asset_keys()),
        "asset_checks": len(graph.asset_check_keys),
        "jobs": len(repository.get_all_jobs()),
        "schedules": len(repository.schedule_defs),
        "sensors": len(repository.sensor_defs),
    },
})
"""
)

CHILD_DBT = (
    CHILD_PRELUDE
    + """
from pathlib import Path
project_dir = Path(sys.argv[1])
import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
phase("import")

@dbt_assets(manifest=project_dir / "target" / "manifest.json")
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()

defs = dg.Definitions(assets=[dbt_models], resources={"dbt": DbtCliResource(project_dir=str(project_dir))})
phase("build")
"""
    + RESOLVE_AND_SNAPSHOT
    + """finish({"modules": sorted(name for name in HEAVY if name in sys.modules), "counts": {
    "assets": len(graph.get_all_asset_keys()), "asset_checks": len(graph.asset_check_keys)}})
"""
)

CASES = {
    "floor": ("(a) floor: import dagster, dagster_dbt", CHILD_FLOOR),
    "ours": ("(b) ours: load + resolve", CHILD_OURS),
    "dbt": ("(c) dagster-dbt only: load + resolve", CHILD_DBT),
}


def child_env() -> dict[str, str]:
    """The benchmark's environment, with bytecode caching on (a deployed code server has its .pyc files)."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONDONTWRITEBYTECODE"}}
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DAGSTER_HOME": tempfile.gettempdir(),
            # as in an activated virtualenv: dagster-dbt's resource looks for the dbt executable on PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    env.pop("DAGSTER_IS_DEV_CLI", None)  # under `dagster dev` the dbt project would be re-parsed on load
    env.pop("DATAOPS_CONFIG", None)
    return env


def run_child(case: str, project: Path) -> dict[str, Any]:
    """One fresh process; its wall time from start to exit, and the phases it timed itself."""
    env = child_env()
    if case == "ours":
        env["DATAOPS_CONFIG"] = str(project / "dataops.yaml")
    code = f"HEAVY = {HEAVY_MODULES!r}\n" + CASES[case][1]
    lake = project / LAKE_FILE
    args = {
        "floor": [],
        "ours": [str(project), str(lake), str(project / ".dataops" / "landing")],
        "dbt": [str(project / "dbt_project")],
    }[case]
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"case {case} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    snapshot = report["phases"].get("snapshot", {"wall_s": 0.0})["wall_s"]
    report["process_s"] = wall
    report["load_s"] = wall - snapshot  # everything up to a resolved repository
    report["cpu_load_s"] = sum(
        phase["cpu_s"] for name, phase in report["phases"].items() if name != "snapshot"
    )
    return report


def check_untouched(project: Path, manifest_mtime: float, report: dict[str, Any]) -> list[str]:
    """What the load did that it must not: start processes, open or create the lake, re-parse dbt."""
    problems = list(report.get("forbidden", []))
    if (project / LAKE_FILE).exists():
        problems.append(f"the lake file {project / LAKE_FILE} exists after loading")
    manifest = project / "dbt_project" / "target" / "manifest.json"
    if manifest.stat().st_mtime != manifest_mtime:
        problems.append(f"{manifest} was rewritten (dbt parsed at load)")
    return problems


def summarize(values: list[float]) -> dict[str, float]:
    return {"best": min(values), "median": statistics.median(values)}


def measure_size(size: Size, repeat: int, quiet_wait_s: float) -> dict[str, Any]:
    print(f"generating {size.label}", file=sys.stderr, flush=True)
    project = generate(size)
    manifest_mtime = (project / "dbt_project" / "target" / "manifest.json").stat().st_mtime
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    busy: list[float] = []
    for case in CASES:  # warm-up: bytecode and page caches
        run_child(case, project)
    for attempt in range(repeat):
        busy.append(wait_for_quiet(QUIET_BUSY_FRACTION, quiet_wait_s))
        for case in CASES:
            report = run_child(case, project)
            if case == "ours" and (problems := check_untouched(project, manifest_mtime, report)):
                raise SystemExit("loading did what it must not:\n  " + "\n  ".join(problems))
            runs[case].append(report)
        print(
            f"  {size.label} run {attempt + 1}/{repeat}: "
            + ", ".join(f"{case} {runs[case][-1]['load_s']:.2f}s" for case in CASES),
            file=sys.stderr,
            flush=True,
        )
    summary: dict[str, Any] = {"size": size.label, "streams": size.streams, "models": size.models}
    for case in CASES:
        reports = runs[case]
        summary[case] = {
            "load_s": summarize([r["load_s"] for r in reports]),
            "cpu_load_s": summarize([r["cpu_load_s"] for r in reports]),
            "phases_s": {
                name: summarize([r["phases"][name]["wall_s"] for r in reports])
                for name in reports[0]["phases"]
            },
            "modules": reports[0].get("modules", []),
            "counts": reports[0].get("counts", {}),
            "runs": reports,
        }
    summary["busy_before_runs"] = busy
    return summary


def over_floor(size: dict[str, Any], case: str, stat: str) -> float:
    return float(size[case]["load_s"][stat] - size["floor"]["load_s"][stat])


def cpu_over(size: dict[str, Any], case: str, base: str) -> float:
    return float(size[case]["cpu_load_s"]["median"] - size[base]["cpu_load_s"]["median"])


def verdicts(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"- {size['size']}: ours - floor {over_floor(size, 'ours', 'best'):.2f} s best, "
        f"{over_floor(size, 'ours', 'median'):.2f} s median ({cpu_over(size, 'ours', 'floor'):.2f} s cpu); "
        f"dagster-dbt alone - floor {over_floor(size, 'dbt', 'best'):.2f} / {over_floor(size, 'dbt', 'median'):.2f} s "
        f"({cpu_over(size, 'dbt', 'floor'):.2f} s cpu); so ours beyond what dagster-dbt itself costs: "
        f"{over_floor(size, 'ours', 'best') - over_floor(size, 'dbt', 'best'):.2f} s best, "
        f"{over_floor(size, 'ours', 'median') - over_floor(size, 'dbt', 'median'):.2f} s median "
        f"({cpu_over(size, 'ours', 'dbt'):.2f} s cpu)."
        for size in sizes
    ]
    target = next((size for size in sizes if size["size"] == TARGET_SIZE.label), None)
    if target is not None:
        best, median = over_floor(target, "ours", "best"), over_floor(target, "ours", "median")
        met = (
            "met"
            if median < TARGET_OVER_FLOOR_S
            else ("met at best, not at median" if best < TARGET_OVER_FLOOR_S else "NOT met")
        )
        lines.append(
            f"- Target ours - floor < {TARGET_OVER_FLOOR_S} s at {TARGET_SIZE.streams} streams + "
            f"{TARGET_SIZE.models} models: {best:.2f} s best, {median:.2f} s median: **{met}**."
        )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for stat in ("best", "median"):
            ours_growth = over_floor(large, "ours", stat) / max(over_floor(small, "ours", stat), 1e-9)
            dbt_growth = over_floor(large, "dbt", stat) / max(over_floor(small, "dbt", stat), 1e-9)
            ours_added = over_floor(large, "ours", stat) - over_floor(small, "ours", stat)
            dbt_added = over_floor(large, "dbt", stat) - over_floor(small, "dbt", stat)
            lines.append(
                f"- Growth {small['size']} -> {large['size']} ({stat}): ours - floor x{ours_growth:.2f} "
                f"(+{ours_added:.2f} s), dagster-dbt - floor x{dbt_growth:.2f} (+{dbt_added:.2f} s): "
                f"**{'no faster' if ours_growth <= dbt_growth else 'FASTER'}** than dagster-dbt."
            )
    return lines


def markdown_table(sizes: list[dict[str, Any]]) -> str:
    header = (
        "| size | case | load s best | load s median | cpu s median | - floor (best / median) | "
        "import / build / resolve s (median) | snapshot s (median) |"
    )
    rows = [header, "|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        for case, (label, _) in CASES.items():
            data = size[case]
            phases = data["phases_s"]
            split = " / ".join(
                f"{phases[name]['median']:.2f}" for name in ("import", "build", "resolve") if name in phases
            )
            snap = f"{phases['snapshot']['median']:.2f}" if "snapshot" in phases else "-"
            minus = (
                "-"
                if case == "floor"
                else f"{over_floor(size, case, 'best'):.2f} / {over_floor(size, case, 'median'):.2f}"
            )
            rows.append(
                f"| {size['streams']} streams, {size['models']} models | {label} | {data['load_s']['best']:.2f} | "
                f"{data['load_s']['median']:.2f} | {data['cpu_load_s']['median']:.2f} | {minus} | {split} | {snap} |"
            )
    return "\n".join(rows)


def readme_section(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    info = report["machine"]
    counts = [
        f"{size['size']}: {size['ours']['counts']['assets']:,} assets, {size['ours']['counts']['asset_checks']:,} "
        f"checks, {size['ours']['counts']['jobs']} jobs, {size['ours']['counts']['schedules']} schedules, "
        f"{size['ours']['counts']['sensors']} sensors"
        for size in sizes
    ]
    modules = sorted({module for size in sizes for module in size["ours"]["modules"]})
    return "\n".join(
        [
            README_START,
            f"Measured {report['measured_at']} with `python -m bench.code_location --repeat {report['repeat']} "
            f"--sizes {','.join(size['size'] for size in sizes)}` (each case {report['repeat']} times in a fresh "
            "process, after one unmeasured warm-up run).",
            "",
            markdown_table(sizes),
            "",
            *verdicts(sizes),
            f"- Loaded (ours): {'; '.join(counts)}.",
            "- While loading, ours started no process, opened nothing under the lake or landing folder, did not "
            "create the lake file and did not rewrite the manifest (checked on every run). Heavy runtime "
            f"modules imported by the load: {', '.join(modules) or 'none'}.",
            "",
            f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB memory, Python "
            f"{info['python']}; dagster {report['versions']['dagster']}, dagster-dbt {report['versions']['dagster_dbt']}, "
            f"dbt-core {report['versions']['dbt']}. Machine busy before each round of runs: "
            f"{', '.join(f'{busy:.0%}' for size in sizes for busy in size['busy_before_runs'])} of all cores "
            "(the machine is shared: `cpu s` is less disturbed by other work than wall time).",
            README_END,
        ]
    )


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"dagster": version("dagster"), "dagster_dbt": version("dagster-dbt"), "dbt": version("dbt-core")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure how long the code location takes to load.")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="measured runs per case")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated <streams>s-<models>m")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=DEFAULT_QUIET_WAIT_S,
        help="before each round, wait up to this many seconds for the machine to be at most 15%% busy",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    sizes = [measure_size(Size.parse(text), args.repeat, args.quiet_wait) for text in args.sizes.split(",")]
    for size in sizes:
        for case in CASES:
            for run in size[case]["runs"]:
                run.pop("forbidden", None)
    report = {
        "benchmark": "code_location",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "repeat": args.repeat,
        "machine": machine(),
        "versions": versions(),
        "sizes": sizes,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(sizes))
    print("\n".join(verdicts(sizes)))
    if not args.no_readme:
        write_section(README_START, README_END, readme_section(report))
    return report


if __name__ == "__main__":
    main()
