"""The report of the tiny run, opened in a real browser (headless Chromium through Selenium): it lands on the
front page (findings with intervals, atlas grid, depth profile), every category the front page links opens,
the summary category and a figure render, and a table opens as HTML with numbers in it. The screenshots are
kept in tests/artifacts/."""

from __future__ import annotations

import os
import re
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


def test_report_renders_front_page_summary_table_and_a_figure(browser, tiny_run):
    from selenium.webdriver.common.by import By

    snakemake(tiny_run, "--configfile", str(TINY_CONFIG), "--report", "report.html")
    browser.get((tiny_run / "report.html").as_uri())
    _wait_for(lambda: browser.find_elements(By.ID, "layeratlas-front"))
    body = browser.find_element(By.TAG_NAME, "body").text
    # The first screen is the generated front page: the study, findings with numbers, atlas, depth profile.
    assert "The study" in body and "Findings on digits" in body, body[:2000]
    assert re.search(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", body), "an accuracy with its Wilson interval"
    assert "How to read this" in body and "overall on digits" in body
    assert "What changed: efficientnet_lite0 → efficientnet_lite0_finetuned" in body  # the tiny config's pair

    def wide_image(selector):  # noqa: ANN001, ANN202
        images = browser.find_elements(By.CSS_SELECTOR, selector)
        return [i for i in images if browser.execute_script("return arguments[0].naturalWidth", i) > 300]

    assert _wait_for(lambda: wide_image("#layeratlas-front .la-atlas img"))
    assert _wait_for(lambda: wide_image("#layeratlas-front .la-depth img"))
    # The text wraps inside the content pane: nothing runs past its right edge (the rule graph that shares
    # the landing row with the page once pushed the findings off-screen).
    pane, row = browser.execute_script(
        "const row = document.getElementById('layeratlas-front').closest('div.grow.flex.gap-3');"
        "return [row.parentElement.clientWidth, row.scrollWidth];"
    )
    assert row <= pane, f"the front page is {row} px wide in a {pane} px pane"
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-front-page.png"))

    # Every category the front page links exists in the report and opens in the navigation (the page
    # relies on Snakemake's app.showCategory; the content pane keeps the front page meanwhile).
    links = browser.find_elements(By.CSS_SELECTOR, "#layeratlas-front a[href^='javascript:app.showCategory']")
    linked = list(
        dict.fromkeys(re.search(r"showCategory\('(.+)'\)", a.get_attribute("href"))[1] for a in links)
    )
    assert {"atlas", "summary", "datasets"} <= set(linked), linked
    for category in linked:
        subcategories = browser.execute_script(
            "return categories[arguments[0]] === undefined ? null : Object.keys(categories[arguments[0]])",
            category,
        )
        assert subcategories, f"the front page links {category!r}, which the report does not have"
        href = f"javascript:app.showCategory('{category}')"
        browser.find_element(By.CSS_SELECTOR, f'#layeratlas-front a[href="{href}"]').click()

        def opened(category=category, subcategories=subcategories):  # noqa: ANN202
            nav = browser.find_element(By.TAG_NAME, "nav").text
            menu = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul li a span")]
            results = browser.find_elements(By.CSS_SELECTOR, "a[iconname=eye]")
            shown = any(s in menu for s in subcategories) if len(subcategories) > 1 else bool(results)
            return category in nav and shown

        _wait_for(opened, timeout=20)

    _wait_for(lambda: browser.find_elements(By.XPATH, "//*[normalize-space(text())='summary']"))[0].click()
    eyes = _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "a[iconname=eye]"))
    eyes[0].click()

    def rendered_png():
        images = browser.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png']")
        return [i for i in images if browser.execute_script("return arguments[0].naturalWidth", i) > 100]

    assert _wait_for(rendered_png)
    assert browser.save_screenshot(str(ARTIFACTS / "report-summary.png"))

    # The summary table as HTML: its row in the summary category, its eye button, the page in the frame.
    row = "//tr[td[normalize-space(text())='all layers, summary (table)']]"
    _wait_for(lambda: browser.find_elements(By.XPATH, row + "//a[@iconname='eye']"))[0].click()
    frame = _wait_for(lambda: browser.find_elements(By.TAG_NAME, "iframe"))[0]
    browser.switch_to.frame(frame)
    try:
        headings = _wait_for(lambda: [h.text for h in browser.find_elements(By.CSS_SELECTOR, "th")])
        assert "linear probe accuracy (%)" in headings, headings
        cell = browser.find_elements(By.CSS_SELECTOR, "td[headers='linear_probe_accuracy']")[0].text
        value = float(cell)  # a percentage with one decimal, as the page formats it
        assert 0.0 <= value <= 100.0 and cell == f"{value:.1f}"
    finally:
        browser.switch_to.default_content()
    assert browser.save_screenshot(str(ARTIFACTS / "report-summary-table.png"))
