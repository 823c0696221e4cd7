"""Hand a free lake-pool slot to a step that waits for it, when Dagster missed the hand-over.

Dagster (1.13) gives a freed pool slot to the oldest waiting step at the moment the slot is freed. A step
that joins the queue in the instant between seeing no free slot and adding itself to the queue, while the
last holder frees the slot, is never handed one: its run waits for the ``duckdb_lake`` pool forever (seen
in the live test, four runs taking turns on the lake: the slot free, one step waiting, for minutes). This
sensor repeats the hand-over every few seconds while a slot is free. Dagster's own check guards the claim,
so a step handed a slot twice over still runs alone.
"""

from collections.abc import Sequence

import dagster as dg

POOL_WATCHDOG = "pool_watchdog"


def pool_watchdog_sensor(pools: Sequence[str]) -> dg.SensorDefinition:
    @dg.sensor(
        name=POOL_WATCHDOG,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
        description="Hands a free lake-pool slot to a waiting step that Dagster's own hand-over missed.",
    )
    def hand_over_free_slots(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        # imported here: it imports SQLAlchemy, which loading the code location does not need
        from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

        storage = context.instance.event_log_storage
        if not isinstance(storage, SqlEventLogStorage):  # other storages keep Dagster's own hand-over
            return dg.SkipReason("the instance's event log storage has no pool queue to repair")
        free = [pool for pool in pools if storage.has_unassigned_slots(pool)]
        storage.assign_pending_steps(free)  # the oldest waiting step of each, if any waits
        return dg.SkipReason(f"free slots handed on: {', '.join(free)}" if free else "no free slot")

    return hand_over_free_slots
