"""A step waiting for a pool slot sleeps between its checks instead of spinning a CPU core.

Dagster's in-process executor (1.13) asks ``InstanceConcurrencyContext.interval_to_next_pending_claim_check``
how long to sleep before it looks at a waiting step again, and that returns ``min([0, ...])``: never more
than zero. A step waiting for the ``duckdb_lake`` slot therefore keeps a core at 100% for as long as it
waits (seen for minutes; on two cores that is half the machine, taken from the run holding the lake).
Upstream saw it (dagster-io/dagster#20367, closed without merging). The replacement returns the time to
the earliest pending check, as the code intends; when the checks happen is unchanged (after 1 s, backing
off to 15 s, as Dagster schedules them).
"""

import time
from typing import Any

_PATCHED = "_dataops_sleeps_between_checks"


def sleep_between_pool_slot_checks() -> None:
    """Patch Dagster's wait once per process; the code location and every run worker call it."""
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    if getattr(InstanceConcurrencyContext, _PATCHED, False):
        return

    def interval_to_next_pending_claim_check(self: Any) -> float:
        if not self._pending_claims or not self._pending_timeouts:
            return 0.0
        return max(0.0, min(self._pending_timeouts.values()) - time.time())

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval_to_next_pending_claim_check  # type: ignore[method-assign]
    setattr(InstanceConcurrencyContext, _PATCHED, True)
