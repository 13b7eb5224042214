"""The report of the tiny run, opened in a real browser (headless Chromium through Selenium): the workflow
description, the summary category and a figure must render. The screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.conftest import ROOT, TINY_CONFIG
from tests.snakemake_runs import snakemake

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def browser():
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path]
    if missing:
        reason = f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a test dependency")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Offline machine: no background networking, no sandbox (root), fixed window for the screenshot.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait_for(condition, timeout: float = 90.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the report did not render in time")


def test_report_renders_description_summary_and_a_figure(browser, tiny_run):
    from selenium.webdriver.common.by import By

    snakemake(tiny_run, "--configfile", str(TINY_CONFIG), "--report", "report.html")
    browser.get((tiny_run / "report.html").as_uri())
    body = _wait_for(lambda: browser.find_element(By.TAG_NAME, "body").text)
    assert "extracted features from chosen layers" in body  # workflow.rst, the report's front page

    _wait_for(lambda: browser.find_elements(By.XPATH, "//*[normalize-space(text())='summary']"))[0].click()
    eyes = _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "a[iconname=eye]"))
    eyes[0].click()

    def rendered_png():
        images = browser.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png']")
        return [i for i in images if browser.execute_script("return arguments[0].naturalWidth", i) > 100]

    assert _wait_for(rendered_png)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-summary.png"))
