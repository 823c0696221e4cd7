"""The web UI in headless Chromium: the lineage shows the four layers and their edges, and
materializing the staging layer from its menu in the lineage succeeds.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them) and Selenium.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_dagster import REPOSITORY, LiveDagster

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live")]

CHROMIUM = Path(os.environ.get("DATAOPS_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DATAOPS_CHROMEDRIVER", "/usr/bin/chromedriver"))
LAYERS = ["landing", "lake", "staging", "marts"]
SCREENSHOT = REPOSITORY / "docs/asset-graph.png"
SHOP_STREAMS = ["customers", "products", "orders", "order_items"]
STAGING_INPUTS = [*(["lake", "shop", stream] for stream in SHOP_STREAMS), ["lake", "web", "events"]]
STAGING = [*(["staging", f"stg_shop__{stream}"] for stream in SHOP_STREAMS), ["staging", "stg_web__events"]]
LATEST_MATERIALIZATION = """
query($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}"""
RUN_STATUS = """
query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        message = f"{CHROMIUM} or {CHROMEDRIVER} is missing: `make browser` installs Debian's chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1440,900",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def latest_materialization(live: LiveDagster, key: list[str]) -> dict[str, Any] | None:
    data = live.graphql(LATEST_MATERIALIZATION, key={"path": key})["assetOrError"]
    events = data.get("assetMaterializations") or []
    return events[0] if events else None


def wait_for(what: str, check: Any, timeout: float, live: LiveDagster) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{live.logs()}")


def click(browser: Any, xpath: str) -> bool:
    """Click once the page has settled: React re-renders replace elements found a moment before."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        button = browser.find_element(By.XPATH, xpath)
        if not button.is_enabled():
            return False
        button.click()
    except WebDriverException:
        return False
    return True


def test_the_lineage_shows_every_layer_and_its_edges(live_dagster: LiveDagster, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{live_dagster.url}/asset-groups")
    # the first visit asks to join the community; dismiss it as a new user would
    for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()
    assert browser.title == "Global asset lineage"
    graph = wait_for(
        "the four layers in the lineage",
        lambda: [
            node
            for node in browser.find_elements(By.CSS_SELECTOR, "[data-testid], div")
            if node.text in LAYERS
        ],
        60,
        live_dagster,
    )
    assert {node.text for node in graph} == set(LAYERS)
    # landing -> lake -> staging -> marts (and lake -> marts for models reading lake tables directly)
    edges = browser.find_elements(By.CSS_SELECTOR, "svg path[stroke]")
    assert len(edges) >= 3
    time.sleep(2)  # let the layout settle before the picture
    picture = Path(tempfile.mkdtemp(prefix="lineage-")) / "asset-graph.png"
    browser.save_screenshot(str(picture))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DATAOPS_UPDATE_SCREENSHOT") == "1":  # the README's picture, refreshed on request
        shutil.copy(picture, SCREENSHOT)


def open_group_menu(browser: Any, group: str) -> bool:
    """Right-click the group's box in the lineage; True once its menu is open."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    for node in browser.find_elements(By.XPATH, f"//*[normalize-space(text())='{group}']"):
        try:
            ActionChains(browser).context_click(node).perform()
        except WebDriverException:
            continue
        if browser.find_elements(By.XPATH, "//*[starts-with(normalize-space(.), 'Materialize assets (')]"):
            return True
    return False


def test_materializing_the_staging_layer_from_the_lineage_succeeds(
    live_dagster: LiveDagster, browser: Any
) -> None:
    # the views read the lake tables: wait until the backfill has loaded all of them
    for table in STAGING_INPUTS:
        wait_for(
            f"{'/'.join(table)} to be loaded",
            lambda t=table: latest_materialization(live_dagster, t),
            300,
            live_dagster,
        )
    before = {tuple(key): latest_materialization(live_dagster, key) for key in STAGING}
    browser.get(f"{live_dagster.url}/asset-groups")
    wait_for("the staging group's menu", lambda: open_group_menu(browser, "staging"), 60, live_dagster)
    wait_for(
        "the Materialize menu item",
        lambda: click(browser, "(//*[starts-with(normalize-space(.), 'Materialize assets (5)')])[last()]"),
        30,
        live_dagster,
    )
    events = {
        tuple(key): wait_for(
            f"{'/'.join(key)} materialized from the page",
            lambda k=key: (latest := latest_materialization(live_dagster, k)) != before[tuple(k)] and latest,
            180,
            live_dagster,
        )
        for key in STAGING
    }
    run_ids = {event["runId"] for event in events.values()}
    assert len(run_ids) == 1  # the five views in one dbt build
    (run_id,) = run_ids
    wait_for(
        "the run to finish",
        lambda: live_dagster.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"] in {"SUCCESS", "FAILURE"},
        120,
        live_dagster,
    )
    assert live_dagster.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"] == "SUCCESS", (
        live_dagster.logs()
    )
