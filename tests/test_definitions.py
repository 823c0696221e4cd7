"""The code location: the declaration becomes one connected graph, tap to mart."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from dataops_assets.config import load_pipeline
from dataops_assets.definitions import build_definitions

SHOP_STREAMS = ["customers", "products", "orders", "order_items"]


def test_every_hop_from_landing_to_marts_is_an_edge() -> None:
    defs = build_definitions(load_pipeline())
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}

    for stream in SHOP_STREAMS:
        assert {f"landing/shop/{stream}", f"lake/shop/{stream}", f"staging/stg_shop__{stream}"} <= keys
        assert graph.get(dg.AssetKey(["lake", "shop", stream])).parent_keys == {
            dg.AssetKey(["landing", "shop", stream])
        }
        assert (
            dg.AssetKey(["lake", "shop", stream])
            in graph.get(dg.AssetKey(["staging", f"stg_shop__{stream}"])).parent_keys
        )
    assert graph.get(dg.AssetKey(["staging", "stg_web__events"])).parent_keys == {
        dg.AssetKey(["lake", "web", "events"])
    }
    marts = {"marts/daily_revenue", "marts/customer_lifetime_value", "marts/customer_features_daily"}
    assert marts <= keys
    revenue_parents = graph.get(dg.AssetKey(["marts", "daily_revenue"])).parent_keys
    assert dg.AssetKey(["staging", "stg_shop__orders"]) in revenue_parents


def test_partitions_backfill_policy_pools_and_schedules() -> None:
    defs = build_definitions(load_pipeline())
    graph = defs.resolve_asset_graph()
    for key in [("landing", "shop", "orders"), ("lake", "shop", "orders"), ("marts", "daily_revenue")]:
        node = graph.get(dg.AssetKey(list(key)))
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.get_first_partition_key() == "2024-01-01"
        assert node.partitions_def.get_last_partition_key() == "2024-02-29"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey(["marts", "customer_lifetime_value"])).partitions_def is None
    assert graph.get(dg.AssetKey(["lake", "shop", "orders"])).pools == {"duckdb_lake"}
    assert graph.get(dg.AssetKey(["marts", "daily_revenue"])).pools == {"duckdb_lake"}
    assert not graph.get(dg.AssetKey(["landing", "shop", "orders"])).pools

    schedules = {schedule.name: schedule for schedule in defs.schedules or []}
    assert set(schedules) == {"shop_schedule", "web_schedule"}
    assert schedules["shop_schedule"].cron_schedule == "15 2 * * *"  # type: ignore[union-attr]


def test_the_schedule_requests_the_newest_complete_day() -> None:
    defs = build_definitions(load_pipeline())
    schedule = defs.resolve_schedule_def("shop_schedule")

    repository = defs.get_repository_def()
    for tick, expected in [
        (dt.datetime(2024, 1, 10, 2, 15, tzinfo=dt.UTC), ["2024-01-09"]),
        (dt.datetime(2025, 6, 1, 2, 15, tzinfo=dt.UTC), ["2024-02-29"]),  # past the demo window: its last day
    ]:
        # contexts as context managers, closed before their instance: a context closed later (when the
        # collector gets to it) would leave the closed instance as Dagster's current state storage, and
        # the next test in this process would fail on it
        with (
            dg.instance_for_test() as instance,
            dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, repository_def=repository
            ) as context,
        ):
            requests = schedule.evaluate_tick(context).run_requests
        assert requests is not None and [run.partition_key for run in requests] == expected
    with dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 1, 1, 2, 15, tzinfo=dt.UTC), repository_def=repository
    ) as early:
        assert schedule.evaluate_tick(early).skip_message == "no complete partition of shop yet"
