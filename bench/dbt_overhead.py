"""What does running dbt through our Dagster assets cost on top of dbt itself? And where does it go?

A generated project (``bench/dbt_project_gen.py``: five raw lake tables, N dbt models in ref chains, ~1.5
tests per model, a ``dataops.yaml`` declaring them) is built from the same pristine lake by each case, every
run a fresh process measured with ``bench.measure.run_measured``:

* **(a) plain dbt**: ``dbt build`` in the project, with its ``profiles.yml``.
* **(b) ours**: ``dagster asset materialize -m dataops_assets.definitions`` of every dbt asset, through our
  code location, with a new ``DAGSTER_HOME`` holding the project's ``dagster_home/dagster.yaml`` (SQLite).
  **(b0) ours before** is the same with ``dataops_assets`` taken from git ``--baseline REF``; **(b-)** is
  ours with ``dbt: {model_metadata: false}``.
* **(c) ours in-process**: ``dagster.materialize()`` of the same assets in one Python process, with
  Dagster's ephemeral in-memory instance: no SQLite writes, no CLI, no run launch.
* **(d) dagster-dbt defaults**: a plain ``@dbt_assets`` yielding ``dbt.cli(["build"]).stream()``, default
  translator (tests as asset checks), default executor and a default instance; **(d+)** adds
  ``.fetch_row_counts().fetch_column_metadata()``, the metadata ours attaches.

For the Dagster cases the run's own event log gives the phases: process start to the first event (imports,
code location, run creation), the planned-asset events, run start to step start, step start to the dbt
command, dbt running, dbt's exit to the step's end (metadata, event writes), and the process exit.

    .venv/bin/python -m bench.dbt_overhead --repeat 3 --baseline HEAD
    .venv/bin/python -m bench.dbt_overhead --models 30 --repeat 1 --no-readme
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.dbt_project_gen import generate
from bench.measure import machine, run_measured, wait_for_quiet
from bench.readme import write_section

ROOT = Path(__file__).resolve().parent
REPOSITORY = ROOT.parent
WORK = ROOT / ".work" / "dbt_overhead"
RESULTS = ROOT / "results"
README_START = "<!-- dbt_overhead:start -->"
README_END = "<!-- dbt_overhead:end -->"
VENV_BIN = Path(sys.executable).parent
DBT_SELECTION = "group:staging or group:marts"
QUIET_THRESHOLD = 0.15
TIMEOUT_S = 1800.0

DEFAULTS_MODULE = '''\
"""dagster-dbt as its documentation shows it: @dbt_assets streaming `dbt build`, nothing else."""
import os
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

project = DbtProject(project_dir=Path(os.environ["BENCH_DBT_PROJECT"]))
WITH_METADATA = os.environ.get("BENCH_DBT_METADATA") == "1"


@dbt_assets(manifest=project.manifest_path, project=project)
def bench_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    events = dbt.cli(["build"], context=context).stream()
    if WITH_METADATA:
        events = events.fetch_row_counts().fetch_column_metadata()
    yield from events


defs = dg.Definitions(assets=[bench_dbt_assets], resources={"dbt": DbtCliResource(project_dir=project)})
'''


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    dagster_home: bool = False  # a Dagster CLI run whose event log gives the phases


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    returncode: int
    busy_before: float
    phases: dict[str, float] = field(default_factory=dict)
    events_stored: int = 0


def dagster_home(path: Path, instance_yaml: str) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text(instance_yaml)
    return path


def baseline_tree(ref: str) -> Path:
    """``dataops_assets`` as of ``ref``, unpacked beside the work files and put first on PYTHONPATH."""
    target = WORK / f"baseline-{ref.replace('/', '_')}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref, "dataops_assets"], cwd=REPOSITORY, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def build_cases(declaration: Path, baseline: str | None) -> list[Case]:
    project = WORK / "dbt_project"
    materialize = [str(VENV_BIN / "dagster"), "asset", "materialize"]
    ours = [*materialize, "-m", "dataops_assets.definitions", "--select", DBT_SELECTION]
    no_metadata = WORK / "dataops.no_metadata.yaml"
    no_metadata.write_text(declaration.read_text().replace("dbt:\n", "dbt:\n  model_metadata: false\n", 1))
    (WORK / "defaults_defs.py").write_text(DEFAULTS_MODULE)
    defaults = [*materialize, "-f", str(WORK / "defaults_defs.py"), "--select", "*"]
    cases = [
        Case("a", "(a) plain dbt build", [str(VENV_BIN / "dbt"), "build", "--profiles-dir", str(project)]),
        Case("b", "(b) ours", ours, {"DATAOPS_CONFIG": str(declaration)}, dagster_home=True),
    ]
    if baseline:
        tree = baseline_tree(baseline)
        env = {"DATAOPS_CONFIG": str(declaration), "PYTHONPATH": str(tree)}
        cases.append(Case("b0", f"(b0) ours before ({baseline})", ours, env, dagster_home=True))
    cases += [
        Case("b-", "(b-) ours, model_metadata: false", ours, {"DATAOPS_CONFIG": str(no_metadata)}, True),
        Case(
            "c",
            "(c) ours in-process, ephemeral instance",
            [sys.executable, "-m", "bench.dbt_overhead", "--child-in-process"],
            {"DATAOPS_CONFIG": str(declaration), "PYTHONPATH": str(REPOSITORY)},
        ),
        Case("d", "(d) dagster-dbt defaults", defaults, {"BENCH_DBT_PROJECT": str(project)}, True),
        Case(
            "d+",
            "(d+) dagster-dbt defaults + fetch_row_counts + fetch_column_metadata",
            defaults,
            {"BENCH_DBT_PROJECT": str(project), "BENCH_DBT_METADATA": "1"},
            True,
        ),
    ]
    return cases


def child_in_process() -> None:
    """Case (c): our dbt assets materialized by ``dagster.materialize()`` in this one process."""
    import dagster as dg

    from dataops_assets.definitions import defs

    definitions = defs()
    result = dg.materialize(
        list(definitions.assets or []),  # type: ignore[arg-type]
        selection=dg.AssetSelection.groups("staging", "marts"),
        resources=dict(definitions.resources or {}),
    )
    sys.exit(0 if result.success else 1)


def run_case(case: Case, index: int, quiet_wait: float, instance_yaml: dict[str, str]) -> Run:
    shutil.copy(WORK / "lake.pristine.duckdb", WORK / "lake.duckdb")
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DATAOPS_LAKE_PATH": str(WORK / "lake.duckdb"),
        "PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),  # as in an activated venv
        **case.env,
    }
    home = None
    if case.dagster_home:
        home = dagster_home(WORK / "homes" / f"{case.key}-{index}", instance_yaml[case.key[0]])
        env["DAGSTER_HOME"] = str(home)
    busy = wait_for_quiet(QUIET_THRESHOLD, quiet_wait) if quiet_wait > 0 else -1.0
    logs = WORK / "logs"
    logs.mkdir(exist_ok=True)
    cwd = WORK / "dbt_project" if case.key == "a" else WORK
    out, err = logs / f"{case.key}-{index}.out", logs / f"{case.key}-{index}.err"
    started = time.time()
    measured = run_measured(case.argv, None, out, err, TIMEOUT_S, cwd, env)
    run = Run(measured.wall_s, measured.cpu_s, measured.returncode, busy)
    if measured.returncode != 0:
        raise SystemExit(
            f"{case.label} failed (exit {measured.returncode}), see {logs}/{case.key}-{index}.err"
        )
    if home is not None:
        run.phases, run.events_stored = phases(home, started, started + measured.wall_s)
    return run


def phases(home: Path, started: float, ended: float) -> tuple[dict[str, float], int]:
    """Seconds per phase of the one run in ``home``, from its event log's timestamps."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        entries = instance.all_logs(run.run_id)
    marks: dict[str, float] = {"first_event": entries[0].timestamp}
    for entry in entries:
        kind = entry.dagster_event_type.value if entry.dagster_event_type else ""
        message = entry.user_message or ""
        if kind in ("PIPELINE_START", "RUN_START", "STEP_START", "STEP_SUCCESS", "PIPELINE_SUCCESS"):
            marks.setdefault(kind.replace("PIPELINE", "RUN"), entry.timestamp)
        elif message.startswith("Running dbt command"):
            marks.setdefault("dbt_start", entry.timestamp)
        elif message.startswith("Finished dbt command"):
            marks.setdefault("dbt_end", entry.timestamp)
    order = [
        ("start_to_first_event", started, marks["first_event"]),
        ("planned_events", marks["first_event"], marks["RUN_START"]),
        ("run_start_to_step", marks["RUN_START"], marks["STEP_START"]),
        ("step_to_dbt", marks["STEP_START"], marks["dbt_start"]),
        ("dbt_running", marks["dbt_start"], marks["dbt_end"]),
        ("dbt_exit_to_step_end", marks["dbt_end"], marks["STEP_SUCCESS"]),
        ("step_end_to_run_end", marks["STEP_SUCCESS"], marks["RUN_SUCCESS"]),
        ("run_end_to_exit", marks["RUN_SUCCESS"], ended),
        ("step", marks["STEP_START"], marks["STEP_SUCCESS"]),
    ]
    return {name: round(end - begin, 2) for name, begin, end in order}, len(entries)


PHASE_LABELS = {
    "start_to_first_event": "process start -> first event (imports, code location, run created)",
    "planned_events": "planned-asset and planned-check events (one write each)",
    "run_start_to_step": "run start -> step start (executor, resources)",
    "step_to_dbt": "step start -> dbt command starts (dbt --version, adapter, selection)",
    "dbt_running": "dbt running (dbt, plus our process reading its JSON log)",
    "dbt_exit_to_step_end": "dbt exit -> step end (metadata, one write per event)",
    "step_end_to_run_end": "step end -> run end",
    "run_end_to_exit": "run end -> process exit",
}


def best(runs: Sequence[Run]) -> Run:
    return min(runs, key=lambda run: run.wall_s)


def report(cases: Sequence[Case], runs: dict[str, list[Run]], args: argparse.Namespace) -> str:
    plain = best(runs["a"]).wall_s
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = f"python -m bench.dbt_overhead --models {args.models} --repeat {args.repeat}"
    if args.baseline:
        command += f" --baseline {args.baseline}"
    lines = [
        f"Measured {when} with `{command}` ({args.models} models, ~1.5 tests each; best of {args.repeat} "
        "by wall time, cases interleaved).",
        "",
        "| case | wall s | x plain dbt | dbt step s | step x plain dbt | cpu s | events stored |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        run = best(runs[case.key])
        step = run.phases.get("step")
        lines.append(
            f"| {case.label} | {run.wall_s:.1f} | {run.wall_s / plain:.2f} | "
            f"{f'{step:.1f}' if step is not None else '-'} | "
            f"{f'{step / plain:.2f}' if step is not None else '-'} | {run.cpu_s:.1f} | "
            f"{run.events_stored or '-'} |"
        )
    with_phases = [case for case in cases if case.dagster_home]
    lines += [
        "",
        "Where the time goes (seconds, from each best run's event log):",
        "",
        "| phase | " + " | ".join(case.label.split(" ", 1)[0] for case in with_phases) + " |",
        "|---|" + "---|" * len(with_phases),
    ]
    for phase, label in PHASE_LABELS.items():
        values = " | ".join(f"{best(runs[case.key]).phases[phase]:.1f}" for case in with_phases)
        lines.append(f"| {label} | {values} |")
    info = machine()
    busy = max(run.busy_before for case_runs in runs.values() for run in case_runs)
    lines += [
        "",
        f"Machine: {info['nproc']} CPUs, Python {info['python']}, duckdb {info['duckdb']}; "
        + (f"busy before a run: at most {busy:.0%} of all cores." if busy >= 0 else "no quiet wait."),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="", help="comma-separated case keys (default: all)")
    parser.add_argument("--baseline", help="also run (b0): dataops_assets at this git ref")
    parser.add_argument("--quiet-wait", type=float, default=120.0)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--child-in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_in_process:
        child_in_process()
        return

    declaration = generate(WORK, args.models)
    shutil.copy(WORK / "lake.pristine.duckdb", WORK / "lake.duckdb")
    env = {**os.environ, "DATAOPS_LAKE_PATH": str(WORK / "lake.duckdb"), "DO_NOT_TRACK": "1"}
    project = WORK / "dbt_project"
    subprocess.run(
        [str(VENV_BIN / "dbt"), "parse", "--profiles-dir", str(project), "--quiet"],
        cwd=project, env=env, check=True,
    )  # fmt: skip
    instance_yaml = {
        "b": (REPOSITORY / "dagster_home" / "dagster.yaml").read_text(),
        "d": "telemetry:\n  enabled: false\n",
    }
    cases = build_cases(declaration, args.baseline)
    if args.cases:
        wanted = {"a", *args.cases.split(",")}
        cases = [case for case in cases if case.key in wanted]
    runs: dict[str, list[Run]] = {case.key: [] for case in cases}
    for index in range(args.repeat):
        for case in cases:
            run = run_case(case, index, args.quiet_wait, instance_yaml)
            runs[case.key].append(run)
            phase_text = ", ".join(f"{name} {value}" for name, value in run.phases.items())
            print(f"{case.label} #{index + 1}: {run.wall_s:.1f}s {phase_text}", flush=True)
    section = report(cases, runs, args)
    print(section)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "args": vars(args),
        "machine": machine(),
        "cases": {
            case.key: {"label": case.label, "runs": [asdict(run) for run in runs[case.key]]} for case in cases
        },
    }
    (RESULTS / f"dbt_overhead-{stamp}.json").write_text(json.dumps(raw, indent=2))
    if not args.no_readme:
        write_section(
            README_START,
            README_END,
            f"{README_START}\n{section}\n{README_END}",
            intro="## dbt through Dagster (`bench/dbt_overhead.py`)\n\n",
        )
    shutil.rmtree(WORK / "homes", ignore_errors=True)


if __name__ == "__main__":
    main()
