"""The executor of launched runs: the steps of a run in its own process, or a process per step."""

from __future__ import annotations

import dagster as dg

from dataops_assets.config.models import RunSettings


def run_executor(settings: RunSettings) -> dg.ExecutorDefinition:
    """In process by default: a process per step re-imports and rebuilds the project (seconds on a small
    machine), more than it saves while a run's steps mostly wait on each other (extract, then load).

    With ``runs.max_concurrent_steps`` above 1, Dagster's multiprocess executor, started from a forkserver
    that has imported this code location once per run: the extracts of different sources overlap, which
    is what a run of several slow taps needs. The lake's writers still hold a ``duckdb_lake`` slot each.
    """
    if settings.max_concurrent_steps == 1:
        return dg.in_process_executor
    return dg.multiprocess_executor.configured(
        {"max_concurrent": settings.max_concurrent_steps, "start_method": {"forkserver": {}}},
        name="multiprocess_executor",
    )
