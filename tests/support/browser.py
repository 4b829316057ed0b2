"""A real browser for the console's tests: Playwright for Python driving Debian's Chromium
(/usr/bin/chromium as its executable: Playwright's own browser download is never used).

Why Playwright over Selenium: its locators and `expect` wait for a condition with a
deadline by themselves (no sleeps, no hand-written waits), viewport sizes are exact (a
390 px wide page is 390 CSS px, not a window with chrome around it), and full-page
screenshots are one call; it speaks CDP to the system Chromium, so no driver binary has to
match the browser's version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support.paths import REPO
from tests.support.processes import require_executable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}  # a phone
SCREENSHOTS = REPO / "docs" / "images"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium; --no-sandbox when run as root (CI), which its sandbox refuses."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is missing in CI (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    executable = require_executable(CHROMIUM)
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


def scrolls_sideways(page: Page) -> bool:
    """True when the page is wider than the window (a horizontal scroll bar)."""
    return bool(
        page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    )


def screenshot(page: Page, name: str, *, full_page: bool = True) -> bytes:
    """The page as a PNG; with SR2FHIR_UPDATE_SCREENSHOTS=1 also written to docs/images/ (the
    screenshots docs/operations.md shows), so a plain test run leaves the checkout as it was."""
    png = page.screenshot(full_page=full_page)
    assert png.startswith(b"\x89PNG"), f"{name}: not a PNG"
    if os.environ.get("SR2FHIR_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)
    return png
