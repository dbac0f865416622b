"""The classroom app in a real browser: headless Chromium driven by Selenium.

The test starts `lorabook.classroom.launcher` on a free port, loads the page,
checks the controls and the figure are there and no code is shown, moves the
rank slider with the keyboard, and waits for the figure to change.

It needs Debian's `chromium` and `chromium-driver` (.ci/run installs them
with apt-get) and the `selenium` package; where they are missing it skips
and says which. Saving the README's screenshot:

    PYTHONPATH=$PWD python tests/browser/test_classroom_browser.py figures/classroom.png
"""
import shutil
import sys
import time

import pytest

from lorabook.classroom.launcher import start, stop

WINDOW = (1280, 720)
PAGE_SECONDS = 180  # the first load trains the source model; a busy CI machine is slow
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser_or_skip_reason():
    """(browser path, driver path, None), or (None, None, why the test cannot run here)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium is not installed (python -m pip install selenium)"
    browser = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return None, None, ("no headless Chromium here: install Debian's chromium and chromium-driver "
                            "(apt-get install chromium chromium-driver), as .ci/run does")
    return browser, driver, None


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver, reason = _browser_or_skip_reason()
    if reason:
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    # The window size includes the browser's frame; the page itself should get exactly 1280x720.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    return browser


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def figure_source(page):
    from selenium.webdriver.common.by import By

    images = page.find_elements(By.CSS_SELECTOR, ".lorabook-app img")
    return images[0].get_attribute("src") if images else None


def slider_readouts(page):
    from selenium.webdriver.common.by import By

    return [r.text for r in page.find_elements(By.CSS_SELECTOR, ".lorabook-app .widget-readout")]


@pytest.fixture(scope="module")
def page():
    browser = open_browser()
    process, url = start(port=8890)
    try:
        browser.get(url)
        wait_for(lambda: figure_source(browser), PAGE_SECONDS, "the app's figure")
        yield browser
    finally:
        browser.quit()
        stop(process)


def test_the_page_shows_the_controls_and_a_figure_and_no_code(page):
    from selenium.webdriver.common.by import By

    text = page.find_element(By.TAG_NAME, "body").text
    for label in ("digits", "planted", "rank r", "alpha", "labels", "noise", "rotation"):
        assert label in text
    assert "build_app" not in page.page_source  # Voila strips the code cell
    assert figure_source(page).startswith(("data:image/png", "blob:"))
    width, height = page.execute_script("return [document.documentElement.scrollWidth, "
                                        "document.documentElement.scrollHeight]")
    assert width <= WINDOW[0] and height <= WINDOW[1], f"the page needs {width}x{height}, more than {WINDOW}"


def test_moving_the_rank_slider_redraws_the_figure(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before_figure, before_readouts = figure_source(page), slider_readouts(page)
    handle = page.find_elements(By.CSS_SELECTOR, ".lorabook-app .widget-slider .noUi-handle")[0]
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: slider_readouts(page)[0] != before_readouts[0], 30, "the rank readout to move")
    wait_for(lambda: figure_source(page) != before_figure, 120, "a new figure after moving the rank slider")
    assert slider_readouts(page)[1:] == before_readouts[1:]  # only the rank moved
    assert f"r = {slider_readouts(page)[0]}" in page.find_element(By.TAG_NAME, "body").text


def test_choosing_the_planted_task_swaps_the_controls_and_the_figure(page):
    from selenium.webdriver.common.by import By

    before = figure_source(page)
    button = next(b for b in page.find_elements(By.CSS_SELECTOR, ".lorabook-app .widget-toggle-button")
                  if b.text == "planted")
    button.click()
    wait_for(lambda: "planted k" in page.find_element(By.TAG_NAME, "body").text, 30, "the planted task's controls")
    wait_for(lambda: figure_source(page) != before, 60, "the planted task's figure")
    assert "labels" not in page.find_element(By.TAG_NAME, "body").text  # the digits controls are gone


def save_screenshot(path):
    """Open the app at 1280x720 and save a screenshot of it (for the README)."""
    browser = open_browser()
    process, url = start(port=8891)
    try:
        browser.get(url)
        wait_for(lambda: figure_source(browser), PAGE_SECONDS, "the app's figure")
        time.sleep(1)
        browser.save_screenshot(path)
    finally:
        browser.quit()
        stop(process)


if __name__ == "__main__":
    save_screenshot(sys.argv[1])
