"""A step that joined the pool's queue just as its slot was freed gets the slot from the watchdog sensor."""

from __future__ import annotations

import dagster as dg

from dataops_assets.assets.sources import LAKE_POOL
from dataops_assets.automation.pool_watchdog import pool_watchdog_sensor


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
