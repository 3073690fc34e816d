"""A real browser for the page's tests: Debian's Chromium, driven by Playwright.

Chromium reaches for update and DNS servers at start even headless; these
flags keep it on loopback (`../shared/facts.md`): component updates point at
a closed local port, and every host name but localhost resolves to nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import missing

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the binary, not /usr/bin's wrapper script
QUIET = [
    "--no-sandbox",
    "--component-updater=url-source=http://127.0.0.1:9/",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium (a Playwright `Browser`); skips, or fails under
    MLOPS_TEST_STRICT=1, when Chromium or Playwright is not installed."""
    if not CHROMIUM.exists():
        missing(f"no Chromium at {CHROMIUM}: run scripts/install-system-packages.sh as root")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("Playwright is not installed: make install (the test extra)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(
    browser: Browser, base_url: str, name: str, password: str, viewport: dict[str, int] = LAPTOP
) -> Page:
    """A new browser session (its own cookies) signed in through the form, on the thread list."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button.primary")
    await page.wait_for_url(f"{base_url}/")
    return page
