"""Headless Chromium for the site tests: Debian's ``chromium`` and ``chromium-driver``, installed by
this set-up when missing (as root, with apt-get), never downloaded by a browser manager.

``python -m tests.website.browser`` installs them by hand; ``ensure_browser()`` is what the tests call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.xdist_support import exclusive

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
APT_TIMEOUT = 900
APT_LOCK = Path(tempfile.gettempdir()) / "evidence-publisher-apt.lock"


@dataclass
class Browser:
    chromium: str
    driver: str


def _found() -> Browser | None:
    chromium = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    driver = shutil.which("chromedriver") or (DRIVER if os.path.exists(DRIVER) else None)
    return Browser(chromium, driver) if chromium and driver else None


def ensure_browser() -> Browser | str:
    """The installed browser, installing it with apt-get when missing and root; else why not."""
    found = _found()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium and chromium-driver are not installed, and installing them needs root and apt-get"
    with exclusive(APT_LOCK):  # one apt-get at a time (pytest-xdist workers, two runs)
        return _install()


def _install() -> Browser | str:
    found = _found()  # installed by another process while this one waited for the lock
    if found is not None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
    ):
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} took more than {APT_TIMEOUT} s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"{' '.join(cmd)} failed: {tail[0]}"
    return _found() or "apt-get installed chromium, but chromium or chromedriver is still not on PATH"


def start_driver(browser: Browser, width: int = 1280, height: int = 1000):
    """A headless Chromium session with a fresh profile, logging console messages and network
    events (performance log). The caller quits it; the profile directory goes with it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ep-site-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser.chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(browser.driver), options=options)
    driver.set_page_load_timeout(30)
    quit_ = driver.quit

    def quit_and_clean() -> None:
        try:
            quit_()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_clean
    return driver


def full_page_screenshot(driver, url: str, out: Path, max_height: int = 6000) -> None:
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height), max_height))
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out))


if __name__ == "__main__":  # pragma: no cover - manual set-up
    result = ensure_browser()
    print(result if isinstance(result, str) else f"chromium {result.chromium}, driver {result.driver}")
