"""The HTML report as a reader sees it: opened in a real headless Chromium, every section laid out and
visible, every figure decoded, and a screenshot that is a page rather than a blank.

Chromium and ChromeDriver come from the system packages (`.ci/run` installs them); where they are absent
the test is skipped. The report is of a run where a fault really happened (the collapse scenario), so it
has every section: diagnoses, the treatment plan, what was not checked, and the figures.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ceph_doctor.analyze import analyze_paths
from ceph_doctor.report import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no Chromium and ChromeDriver on this machine")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    # The driver is named: Selenium would otherwise try to download one, and the tests run offline.
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_html_report_renders_every_section_and_figure(browser, scenario_run, tmp_path):
    from selenium.webdriver.common.by import By

    run = scenario_run("collapse_high_lr")["collapse_high_lr"]
    page = render_html(analyze_paths([run]), tmp_path / "report.html")
    browser.get(page.resolve().as_uri())
    headings = {element.text: element for element in browser.find_elements(By.CSS_SELECTOR, "section.run h2")}
    assert {"Diagnoses", "Treatment plan", "Figures"} <= set(headings)
    for element in [*headings.values(), *browser.find_elements(By.CSS_SELECTOR, "article.diagnosis"),
                    *browser.find_elements(By.CSS_SELECTOR, "table.plan tr")]:
        assert element.is_displayed() and element.size["height"] > 0 and element.size["width"] > 0
    assert "prediction-collapse" in browser.find_element(By.CSS_SELECTOR, "article.diagnosis.error").text
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) >= 4
    for image in images:  # decoded by the browser, and laid out at a readable size within the page
        width = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
        assert width and width > 200
        assert 200 < image.size["width"] <= browser.execute_script("return document.body.clientWidth")

    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight"))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    import cv2

    pixels = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert pixels is not None and pixels.shape[1] >= 1000
    assert float(np.std(pixels)) > 20  # text, badges and figures, not an empty page
