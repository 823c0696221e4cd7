"""Keep the lake pool moving: hand free slots to waiting steps, take slots back from dead runs.

Dagster (1.13) gives a freed pool slot to the oldest waiting step at the moment the slot is freed. A step
that joins the queue in the instant between seeing no free slot and adding itself to the queue, while the
last holder frees the slot, is never handed one: its run waits for the ``duckdb_lake`` pool forever (seen
in the live test, four runs taking turns on the lake: the slot free, one step waiting, for minutes). This
sensor repeats the hand-over every few seconds while a slot is free. Dagster's own check guards the claim,
so a step handed a slot twice over still runs alone.

A run worker killed without a word (the kernel's OOM killer, ``kill -9``) is marked failed by the code
server that started it, and the daemon's run monitoring then frees its slots (``run_monitoring`` in
``dagster.yaml``). When that code server is gone too (killed with it, or restarted), nobody notices: the run
stays STARTED and holds its slot, and every later lake write waits behind it forever, because Dagster's
default run launcher cannot check a worker's health. On a local instance (SQLite storage: every run worker
is a process of this machine) the sensor looks up the pid each run worker logs when it starts; a run
holding a pool slot whose worker is gone is marked failed, saying so, and its slots are freed. The lake is
consistent either way: its writes are transactions, and the killed one never committed.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

POOL_WATCHDOG = "pool_watchdog"
_WORKER_STARTED = "Started process for run"  # the engine event a run worker logs first, with its pid


def pool_watchdog_sensor(pools: Sequence[str]) -> dg.SensorDefinition:
    @dg.sensor(
        name=POOL_WATCHDOG,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
        description="Hands a free lake-pool slot to a waiting step that Dagster's own hand-over missed, "
        "and frees the slots of runs whose worker process died.",
    )
    def hand_over_free_slots(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        # imported here: it imports SQLAlchemy, which loading the code location does not need
        from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

        storage = context.instance.event_log_storage
        if not isinstance(storage, SqlEventLogStorage):  # other storages keep Dagster's own hand-over
            return dg.SkipReason("the instance's event log storage has no pool queue to repair")
        released = release_slots_of_dead_runs(context.instance)
        free = [pool for pool in pools if storage.has_unassigned_slots(pool)]
        storage.assign_pending_steps(free)  # the oldest waiting step of each, if any waits
        done = [f"slots of dead runs freed: {', '.join(released)}"] if released else []
        done.append(f"free slots handed on: {', '.join(free)}" if free else "no free slot")
        return dg.SkipReason("; ".join(done))

    return hand_over_free_slots


def release_slots_of_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every STARTED run that holds pool slots but whose local worker process is gone; its run ids."""
    from dagster._core.launcher import DefaultRunLauncher
    from dagster._core.storage.runs import SqliteRunStorage

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []  # another launcher runs workers elsewhere (and may check their health itself)
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []  # a shared instance: its run workers may live on other machines, their pids mean nothing here
    holders = instance.event_log_storage.get_concurrency_run_ids()
    if not holders:
        return []
    released = []
    for run in instance.get_runs(
        dg.RunsFilter(run_ids=list(holders), statuses=[dg.DagsterRunStatus.STARTED])
    ):
        pid = run_worker_pid(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run,
            f"The run's worker process (pid {pid}) is gone, killed without a word (out of memory?); "
            "the run is marked failed and its pool slots are freed. Nothing it was writing to the lake "
            "was committed: re-run it.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's worker logged when it started, if it did."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if entry.dagster_event is None or not entry.message.startswith(_WORKER_STARTED):
            continue
        pid = entry.dagster_event.engine_event_data.metadata.get("pid")
        if isinstance(pid, dg.TextMetadataValue) and pid.value.isdigit():
            return int(pid.value)
    return None


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc to ask: it exists, that is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
