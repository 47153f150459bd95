"""The Dagster UI of a real `dagster dev`, driven by headless chromium.

Both lanes in the lineage, one NYC day launched through the UI's GraphQL API, its run page and the
checks it evaluated. Screenshots (lineage.png, run.png, asset-checks.png) go to
$ACCIDENT_ASSETS_UI_ARTIFACTS or var/ui-artifacts/.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from accident_assets_tests.dagster_dev import DagsterDev

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = "2023-01-05"
JOB = "nyc_ingest_job"
PAGE_TIMEOUT_S = 60
LANES = ("nyc", "france")

ASSET_NODES = "{ assetNodes { assetKey { path } groupName hasAssetChecks } }"

CHECKS = """
query Checks($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { status } } }
      }
    }
  }
}
"""


def shoot(driver, artifacts: Path, name: str) -> Path:
    path = artifacts / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    print(f"screenshot: {path}")
    return path


NAMES_IN_VIEW = """
const names = [...document.querySelectorAll("[class*=AssetNode_assetName]")];
const shown = names.filter((e) => {
  const r = e.getBoundingClientRect();
  return e.textContent && r.top >= 180 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
});
return shown.length;
"""


def fit_graph(driver, nodes: int, clicks: int = 12) -> None:
    """Zooms out until every asset node (with room above for its group's header) is in the
    window: expanding the groups keeps the zoom, and the screenshot should show both lanes whole."""
    zoom_out = driver.find_element(By.XPATH, "//*[@aria-label='zoom_out']/ancestor::button[1]")
    for _ in range(clicks):
        with contextlib.suppress(TimeoutException):
            WebDriverWait(driver, 1).until(lambda d: d.execute_script(NAMES_IN_VIEW) >= nodes)
            return
        zoom_out.click()


def assets_of(dev: DagsterDev, group: str) -> list[dict]:
    return [n for n in dev.graphql(ASSET_NODES)["assetNodes"] if n["groupName"] == group]


@pytest.mark.timeout(900)
def test_lineage_run_and_checks_in_the_ui(dagster_dev: DagsterDev, driver, artifacts: Path):
    dev = dagster_dev
    started = time.monotonic()
    # The community sign-up dialog covers every first page of a fresh instance; Skip sends this.
    dev.graphql("mutation { setNuxSeen }")
    # The run starts now and works while the browser looks at the lineage.
    run_id = dev.launch(JOB, DAY)
    print(f"launched {JOB} partition {DAY}: run {run_id}")
    wait = WebDriverWait(driver, PAGE_TIMEOUT_S)

    lanes = {lane: assets_of(dev, lane) for lane in LANES}
    keys = {lane: ["/".join(n["assetKey"]["path"]) for n in nodes] for lane, nodes in lanes.items()}
    assert "nyc/crashes" in keys["nyc"] and "france/accidents" in keys["france"], keys

    # Global lineage filtered to the two lanes, every group expanded (the UI's Alt+E).
    selection = urllib.parse.quote(" or ".join(f"group:{lane}" for lane in LANES))
    driver.get(f"{dev.url}/asset-groups~{selection}/")
    wait.until(lambda d: "Global asset lineage" in d.title)
    for lane in LANES:
        wait.until(
            lambda d, lane=lane: d.find_elements(
                By.XPATH, f"//*[contains(@class, 'GroupNode')]//*[normalize-space(text())='{lane}']"
            ),
            f"no group node {lane} in the lineage",
        )
    driver.find_element(By.TAG_NAME, "body").click()
    ActionChains(driver).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
    for lane, nodes in lanes.items():
        for node in nodes:
            key = "/".join(node["assetKey"]["path"])
            # Each node of an expanded group links to its asset; one with checks, to its Checks tab.
            view = "checks" if node["hasAssetChecks"] else "partitions"
            wait.until(
                lambda d, key=key, view=view: d.find_elements(
                    By.CSS_SELECTOR, f'a[href="/assets/{key}?view={view}"]'
                ),
                f"asset {key} of group {lane} is not in the expanded lineage",
            )
    assert "Asset checks" in driver.page_source
    fit_graph(driver, sum(len(nodes) for nodes in lanes.values()))
    shoot(driver, artifacts, "lineage.png")
    print(f"lineage checked at {time.monotonic() - started:.1f} s")

    status = dev.wait_for_run(run_id)
    assert status == "SUCCESS", f"run {run_id} {status}:\n{dev.run_errors(run_id)}"
    print(f"run succeeded at {time.monotonic() - started:.1f} s")

    driver.get(f"{dev.url}/runs/{run_id}")
    wait.until(
        lambda d: "[SUCCESS]" in d.title, f"run page title never said SUCCESS: {driver.title}"
    )
    header = wait.until(
        lambda d: [e for e in d.find_elements(By.XPATH, "//*[normalize-space(text())='Success']")],
        "the run page shows no Success tag",
    )
    assert header[0].is_displayed()
    wait.until(
        lambda d: f"partition: {DAY}" in d.find_element(By.TAG_NAME, "body").text,
        f"the run page does not name partition {DAY}",
    )
    shoot(driver, artifacts, "run.png")

    checks = dev.graphql(CHECKS, {"path": ["nyc", "crashes"]})["assetNodeOrError"]
    checks = checks["assetChecksOrError"]["checks"]
    assert checks, "nyc/crashes has no asset checks"
    driver.get(f"{dev.url}/assets/nyc/crashes?view=checks")
    for check in checks:
        assert check["executionForLatestMaterialization"]["status"] == "SUCCEEDED", check
        # The checks list: the name (a title'd div) followed by the latest result.
        result = wait.until(
            lambda d, name=check["name"]: [
                e.text
                for e in d.find_elements(
                    By.XPATH, f"//div[@title='{name}']/following-sibling::span"
                )
                if e.text
            ],
            f"check {check['name']} is not listed on the Checks tab",
        )
        assert result[0] == "Succeeded", f"check {check['name']} shows {result}"
    shoot(driver, artifacts, "asset-checks.png")
    print(f"UI test done in {time.monotonic() - started:.1f} s after dagster dev was ready")
