"""The web UI in headless Chromium: the lineage shows the four layers and their edges, and a
materialization launched with an asset page's Materialize button succeeds.

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
from live_dagster import LAUNCH_RUN, LOCATION, REPOSITORY, REPOSITORY_NAME, LiveDagster

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live")]

CHROMIUM = Path(os.environ.get("DATAOPS_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DATAOPS_CHROMEDRIVER", "/usr/bin/chromedriver"))
LAYERS = ["landing", "lake", "staging", "marts"]
SCREENSHOT = REPOSITORY / "docs/asset-graph.png"
SHOP_STREAMS = ["customers", "products", "orders", "order_items"]
STAGING_INPUTS = [*(["lake", "shop", stream] for stream in SHOP_STREAMS), ["lake", "web", "events"]]
MART = ["marts", "customer_lifetime_value"]
LOADED_DAY = "2024-01-15"
IMPLICIT_WAIT_S = 30
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
    driver.implicitly_wait(IMPLICIT_WAIT_S)
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


def dismiss_welcome(browser: Any) -> None:
    """Dismiss the UI's "join the community" dialog, as a new user would, if it is open.

    It comes up on some page of a fresh browser profile, sometimes after the page has rendered, and
    while it is open it takes every click. Looked for without the implicit wait: usually it is not there.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    browser.implicitly_wait(0)
    try:
        for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            button.click()
    except WebDriverException:
        pass  # it closed by itself, or re-rendered: the next attempt looks again
    finally:
        browser.implicitly_wait(IMPLICIT_WAIT_S)


def element_texts(browser: Any, css_selector: str) -> set[str]:
    """The rendered texts of the elements matching `css_selector`, read in one step in the page.

    Reading them element by element races React: an element found a moment before can be replaced
    by a re-render before its text is read (a stale element reference).
    """
    script = "return Array.from(document.querySelectorAll(arguments[0]), node => node.innerText.trim())"
    return set(browser.execute_script(script, css_selector))


def click(browser: Any, xpath: str) -> bool:
    """Click once the page has settled: React re-renders replace elements found a moment before."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    dismiss_welcome(browser)
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
    wait_for("the lineage page", lambda: browser.title == "Global asset lineage", 60, live_dagster)
    dismiss_welcome(browser)
    wait_for(
        "the four layers in the lineage",
        lambda: set(LAYERS) <= element_texts(browser, "[data-testid], div"),
        60,
        live_dagster,
    )
    # landing -> lake -> staging -> marts (and lake -> marts for models reading lake tables directly)
    edges = browser.find_elements(By.CSS_SELECTOR, "svg path[stroke]")
    assert len(edges) >= 3
    time.sleep(2)  # let the layout settle before the picture
    picture = Path(tempfile.mkdtemp(prefix="lineage-")) / "asset-graph.png"
    browser.save_screenshot(str(picture))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DATAOPS_UPDATE_SCREENSHOT") == "1":  # the README's picture, refreshed on request
        shutil.copy(picture, SCREENSHOT)


def test_materialize_from_an_asset_page_succeeds(live_dagster: LiveDagster, browser: Any) -> None:
    # the models read the lake tables: the pipeline tests' backfill loads them when they run first; on
    # its own this test loads a day of each source not loaded yet (the folder sensor only takes new
    # files). Then it builds the unpartitioned models once (their dbt tests read related models too).
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY_NAME}
    for source in sorted(
        {table[1] for table in STAGING_INPUTS if not latest_materialization(live_dagster, table)}
    ):
        ingest = live_dagster.graphql(
            LAUNCH_RUN,
            params={
                "selector": {**selector, "jobName": f"ingest_{source}"},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": LOADED_DAY}]},
            },
        )["launchRun"]
        assert ingest["__typename"] == "LaunchRunSuccess", ingest
    for table in STAGING_INPUTS:
        wait_for(
            f"{'/'.join(table)} to be loaded",
            lambda t=table: latest_materialization(live_dagster, t),
            300,
            live_dagster,
        )
    launched = live_dagster.graphql(
        LAUNCH_RUN,
        params={
            "selector": {
                **selector,
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": key} for key in [*STAGING, MART]],
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    wait_for(
        "the models' first build",
        lambda: run_status(live_dagster, launched["run"]["runId"]) == "SUCCESS",
        240,
        live_dagster,
    )

    before = latest_materialization(live_dagster, MART)
    browser.get(f"{live_dagster.url}/assets/{'/'.join(MART)}")
    wait_for(
        "the Materialize button",
        lambda: click(browser, "//button[normalize-space()='Materialize']"),
        60,
        live_dagster,
    )
    event = wait_for(
        "the materialization launched from the page",
        lambda: (latest := latest_materialization(live_dagster, MART)) != before and latest,
        180,
        live_dagster,
    )
    wait_for(
        "the run to finish",
        lambda: run_status(live_dagster, event["runId"]) in {"SUCCESS", "FAILURE"},
        120,
        live_dagster,
    )
    assert run_status(live_dagster, event["runId"]) == "SUCCESS", live_dagster.logs()


def run_status(live: LiveDagster, run_id: str) -> str:
    return str(live.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"])
