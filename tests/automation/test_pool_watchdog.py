"""The watchdog sensor keeps the lake pool moving: missed hand-overs, runs whose worker was killed."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.monitoring import concurrency as concurrency_monitoring

from dataops_assets.assets.sources import LAKE_POOL
from dataops_assets.automation.pool_watchdog import pool_watchdog_sensor

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_step_that_missed_the_hand_over_gets_the_free_slot() -> None:
    with dg.instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(LAKE_POOL, 1)
        assert storage.claim_concurrency_slot(LAKE_POOL, "run-a", "load_shop").is_claimed
        # Dagster's race, step by step: run b sees no free slot, run a frees it (handing it to nobody:
        # b is not queued yet), then b queues itself as waiting for an assignment that never comes
        no_free_slot = storage.has_unassigned_slots(LAKE_POOL)  # type: ignore[attr-defined]
        storage.free_concurrency_slot_for_step("run-a", "load_shop")
        storage.add_pending_step(LAKE_POOL, "run-b", "load_web", should_assign=no_free_slot)  # type: ignore[attr-defined]
        assert not storage.claim_concurrency_slot(LAKE_POOL, "run-b", "load_web").is_claimed

        sensor = pool_watchdog_sensor([LAKE_POOL])
        with dg.build_sensor_context(instance=instance) as context:
            result = sensor.evaluate_tick(context)
        assert result.skip_message == f"free slots handed on: {LAKE_POOL}"
        assert storage.claim_concurrency_slot(LAKE_POOL, "run-b", "load_web").is_claimed
        with dg.build_sensor_context(instance=instance) as context:  # the slot is taken: nothing to do
            assert sensor.evaluate_tick(context).skip_message == "no free slot"


@contextlib.contextmanager
def worker_processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Three stand-in run workers: one killed and reaped, one killed and left a zombie, one alive."""
    workers = {name: subprocess.Popen(["sleep", "60"]) for name in ("killed", "zombie", "alive")}
    try:
        for name in ("killed", "zombie"):
            workers[name].send_signal(signal.SIGKILL)
        workers["killed"].wait()
        yield workers
    finally:
        for worker in workers.values():
            worker.kill()
            worker.wait()


def test_a_run_whose_worker_was_killed_gives_its_lake_slot_back() -> None:
    with dg.instance_for_test() as instance, worker_processes() as workers:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(LAKE_POOL, 3)
        runs = {}
        for name, worker in workers.items():
            run = create_run_for_test(instance, job_name="ingest_shop", status=dg.DagsterRunStatus.STARTED)
            # what every run worker logs first (dagster/_grpc/impl.py)
            instance.report_engine_event(
                f"Started process for run (pid: {worker.pid}).", run, EngineEventData.in_process(worker.pid)
            )
            assert storage.claim_concurrency_slot(LAKE_POOL, run.run_id, "load_shop").is_claimed
            runs[name] = run.run_id
        storage.set_concurrency_slots(LAKE_POOL, 1)  # the project's limit: a step now waits behind them
        assert not storage.claim_concurrency_slot(LAKE_POOL, "run-next", "load_web").is_claimed

        sensor = pool_watchdog_sensor([LAKE_POOL])
        with dg.build_sensor_context(instance=instance) as context:
            message = sensor.evaluate_tick(context).skip_message
        assert message is not None and "slots of dead runs freed" in message

        for name in ("killed", "zombie"):
            run = instance.get_run_by_id(runs[name])
            assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
            failure = instance.all_logs(runs[name], of_type=dg.DagsterEventType.RUN_FAILURE)[0]
            assert f"pid {workers[name].pid}) is gone" in failure.message
        alive = instance.get_run_by_id(runs["alive"])
        assert alive is not None and alive.status == dg.DagsterRunStatus.STARTED
        holders = [slot.run_id for slot in storage.get_concurrency_info(LAKE_POOL).claimed_slots]
        assert holders == [runs["alive"]]
        workers["alive"].kill()
        workers["alive"].wait()
        with dg.build_sensor_context(instance=instance) as context:
            sensor.evaluate_tick(context)
        assert storage.claim_concurrency_slot(LAKE_POOL, "run-next", "load_web").is_claimed


def test_the_project_instance_frees_the_slots_of_a_run_that_ended_holding_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed worker's run is failed by its code server (or force-terminated in the UI); then this."""
    shutil.copy(REPOSITORY / "dagster_home/dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert "MONITORING" in instance.get_required_daemon_types()
        storage = instance.event_log_storage
        storage.set_concurrency_slots(LAKE_POOL, 1)
        run = create_run_for_test(instance, job_name="ingest_shop", status=dg.DagsterRunStatus.STARTED)
        assert storage.claim_concurrency_slot(LAKE_POOL, run.run_id, "load_shop").is_claimed
        instance.report_run_failed(run)  # what its code server does when the worker process dies
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        monkeypatch.setattr(concurrency_monitoring, "get_current_datetime", lambda: later)

        list(
            concurrency_monitoring.execute_concurrency_slots_iteration(
                _Workspace(instance), logging.getLogger()
            )
        )

        assert storage.get_concurrency_info(LAKE_POOL).claimed_slots == []
        assert storage.claim_concurrency_slot(LAKE_POOL, "run-next", "load_web").is_claimed


class _Workspace:
    """What the monitoring daemon's iteration reads from its workspace: the instance."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
