"""Headless Chromium for the app tests: Debian's `chromium` and `chromedriver` (see .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ml.settings import PROJECT_ROOT

PAGE_TIMEOUT_SECONDS = 90


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver); skip locally when missing, fail under CI."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "Debian's chromium and chromium-driver are needed (apt-get install them)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(warehouse: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """`cli.py app` on a free local port; yields its URL once the server answers."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "cli.py"), "app", "--port", str(port),
             "--warehouse", str(warehouse)],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the app did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def headless_chromium() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,2400"):  # fmt: skip
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def page_text(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.TAG_NAME, "body").text


def errors_on_page(browser) -> list[str]:
    """Texts of uncaught exceptions and st.error boxes shown by the app."""
    from selenium.webdriver.common.by import By

    selector = '[data-testid="stException"], [data-testid="stAlertContentError"]'
    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def wait_for_text(
    browser, text: str, timeout: float = PAGE_TIMEOUT_SECONDS, poll: float = 0.3
) -> str:
    """The page's text once `text` is on it (looked for every `poll` s); fails early if the
    app shows an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errors = errors_on_page(browser)
        assert not errors, f"the app shows an error: {errors}"
        current = page_text(browser)
        if text in current:
            return current
        time.sleep(poll)
    raise AssertionError(f"{text!r} not shown within {timeout} s; page says:\n{current[-1500:]}")


def number_after(label: str, text: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+(-?[0-9.]+)", text)
    assert match, f"{label!r} not found in: {text[-800:]}"
    return float(match.group(1))


def wait_for_element(browser, css_selector: str, timeout: float = PAGE_TIMEOUT_SECONDS):
    """The element once it is shown and enabled (Streamlit loads some widgets' code lazily)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, css_selector))
    )


# Runs in the page: clicks the element, then resolves with the milliseconds until the number
# after the label in the page's text differs from the one shown at the click.
CLICK_AND_TIME_CHANGE = r"""
const [selector, label, done] = arguments;
const pattern = new RegExp(label + "\\s+(-?[0-9.]+)");
const shown = () => (document.body.innerText.match(pattern) || [])[1];
const before = shown();
const observer = new MutationObserver(() => {
    const now = shown();
    if (now !== undefined && now !== before) {
        observer.disconnect();
        done(performance.now() - started);
    }
});
observer.observe(document.body, {childList: true, subtree: true, characterData: true});
const started = performance.now();
document.querySelector(selector).click();
"""


def seconds_until_number_changes(browser, css_selector: str, label: str) -> float:
    """Click `css_selector` and time, inside the browser, until the number after `label` on the
    page changes: what a user waits, without the WebDriver round trips that polling from here
    would add to it."""
    browser.set_script_timeout(PAGE_TIMEOUT_SECONDS)
    return browser.execute_async_script(CLICK_AND_TIME_CHANGE, css_selector, label) / 1000
