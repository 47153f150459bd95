"""Fixtures of the browser test: Debian's chromium, a real `dagster dev`, and a headless driver.

Only Debian's chromium and chromedriver work on our machines (downloaded browser builds lack
libraries), so the browser is found at /usr/bin or installed with apt-get when we are root, and
the tests are skipped with the reason otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from accident_assets_tests.apt import apt_install
from accident_assets_tests.dagster_dev import DagsterDev, running_dagster_dev, tail

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ["chromium", "chromium-driver"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "ACCIDENT_ASSETS_UI_ARTIFACTS"


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """(chromium, chromedriver) of Debian, installed on first use when we may."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = apt_install(APT_PACKAGES)
        if reason is not None:
            pytest.skip(f"Debian's chromium and chromedriver are absent and {reason}")
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.skip(
                f"apt-get installed {APT_PACKAGES} but {CHROMIUM} or {CHROMEDRIVER} is absent"
            )
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots go: $ACCIDENT_ASSETS_UI_ARTIFACTS, else var/ui-artifacts (git-ignored)."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "var" / "ui-artifacts").absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    with running_dagster_dev(tmp_path) as dev:
        yield dev


@pytest.fixture
def driver(chromium: tuple[Path, Path]):
    """Headless chromium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, chromedriver = chromium
    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
    ):
        options.add_argument(argument)
    options.binary_location = str(binary)
    browser = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test that used dagster dev shows the end of its log beside the failure."""
    report = yield
    dev = getattr(item, "funcargs", {}).get("dagster_dev")
    if report.failed and isinstance(dev, DagsterDev):
        report.sections.append(("dagster dev log (last 200 lines)", tail(dev.log_text(), 200)))
    return report
