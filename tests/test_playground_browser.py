"""The playground page in headless Chromium: play trains moons past 90% test accuracy, a 3-class
set switches the output to softmax, the URL reproduces the set-up, and the console stays clean.

Uses Debian's /usr/bin/chromium and /usr/bin/chromedriver (scripts/test.sh installs them).
Screenshots go to pytest's tmp dir; with CHAINRULE_PLAYGROUND_SCREENSHOT=path the moons one is
also written there (the README's figure: docs/figures/playground.png).
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

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from chainrule.playground.server import PlaygroundServer, start_in_thread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1100",
]

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):  # CI installs both
    pytest.skip(
        "needs Debian's chromium and chromium-driver (scripts/test.sh installs them)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[PlaygroundServer]:
    srv = start_in_thread()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="chainrule-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def shown_percent(driver: Any, element_id: str) -> float:
    text = driver.find_element(By.ID, element_id).text.strip().rstrip("%")
    try:
        return float(text)
    except ValueError:
        return -1.0


def open_page(driver: Any, server: PlaygroundServer, setup: str) -> None:
    driver.get("about:blank")  # a fresh page load (a new hash alone would not reload it)
    driver.get(f"{server.url}#{setup}")


def wait_for(driver: Any, condition: Any, timeout: float = 30) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def test_play_trains_moons_past_90_percent(
    browser: Any, server: PlaygroundServer, tmp_path: Path
) -> None:
    setup = "data=moons&layers=4,4&activation=tanh&optimizer=adam&lr=0.03&batch=10&seed=0"
    open_page(browser, server, setup)
    wait_for(browser, lambda d: d.find_element(By.ID, "test-acc").text not in ("", "–"))
    assert browser.find_element(By.ID, "steps").text == "0"
    browser.find_element(By.ID, "play").click()
    start = time.monotonic()
    wait_for(browser, lambda d: shown_percent(d, "test-acc") > 90.0, timeout=40)
    elapsed = time.monotonic() - start
    browser.find_element(By.ID, "play").click()  # pause
    steps = int(browser.find_element(By.ID, "steps").text)
    assert steps > 0, steps
    # click the first hidden layer: its formulas, with live shapes, appear in the panel
    browser.find_element(By.CSS_SELECTOR, '#layer-headers [data-column="1"]').click()
    panel = wait_for(
        browser, lambda d: "Z[1] = W[1] @ A[0] + b[1]" in d.find_element(By.ID, "formulas").text
    )
    assert panel
    text = browser.find_element(By.ID, "formulas").text
    assert "dC_dW[1] = dC_dZ[1] @ A[0].T" in text and "(4,2)@(2,10) + (4,1) -> (4,10)" in text
    browser.save_screenshot(str(tmp_path / "moons.png"))
    readme = os.environ.get("CHAINRULE_PLAYGROUND_SCREENSHOT")
    if readme:
        browser.save_screenshot(readme)
    # the URL holds the whole set-up
    assert "data=moons" in browser.current_url and "layers=4%2C4" in browser.current_url
    assert console_errors(browser) == [], elapsed


def test_three_classes_switch_to_softmax(
    browser: Any, server: PlaygroundServer, tmp_path: Path
) -> None:
    open_page(browser, server, "data=moons&layers=4,4&activation=tanh")
    wait_for(browser, lambda d: d.find_element(By.ID, "test-acc").text not in ("", "–"))
    Select(browser.find_element(By.ID, "data")).select_by_value("gaussians")
    wait_for(browser, lambda d: "softmax output" in d.find_element(By.ID, "description").text)
    assert "3 classes" in browser.find_element(By.ID, "description").text
    assert "data=gaussians" in browser.current_url and "classes=3" in browser.current_url
    browser.find_element(By.ID, "add-layer").click()  # a third hidden layer of 2 units
    wait_for(browser, lambda d: "layer 3: 2" in d.find_element(By.ID, "layer-headers").text)
    browser.find_element(By.ID, "play").click()
    wait_for(browser, lambda d: shown_percent(d, "test-acc") > 80.0, timeout=40)
    browser.find_element(By.ID, "play").click()
    browser.save_screenshot(str(tmp_path / "gaussians.png"))
    assert "layers=4%2C4%2C2" in browser.current_url
    assert console_errors(browser) == []


def test_a_bad_link_shows_the_servers_message(browser: Any, server: PlaygroundServer) -> None:
    open_page(browser, server, "data=moons&layers=4,4&lr=50")
    box = wait_for(browser, lambda d: d.find_element(By.ID, "message").text)
    assert "lr must be a number in (0, 10], got 50.0" in box
    # the failed request is the only console entry: the browser's own note of the 400
    assert all("400" in e for e in console_errors(browser))
