"""Headless Chromium from the system's package (Debian's /usr/bin/chromium) driven by Playwright for
Python; Playwright's own browser downloads are never used. No Chromium: skipped locally, failed under CI."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.support.tools import tool_missing

if TYPE_CHECKING:
    from playwright.async_api import Page

T = TypeVar("T")

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable; the test is skipped (failed under CI) without it or without Playwright."""
    executable = chromium_path()
    if executable is None:
        tool_missing("Chromium is not installed (apt-get install chromium); the browser tests need it")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        tool_missing("playwright is not installed (pip install -e '.[test]')")
    return executable


def in_browser(executable: str, scenario: Callable[[Page], Awaitable[T]]) -> T:
    """Run `scenario` on a fresh page of a headless Chromium, in an event loop of its own.

    Playwright's async API, not its sync one: the sync API leaves an event loop running in the
    test's thread, where the fixtures' own `asyncio.run` (migrations, keys) can no longer run.
    """

    from playwright.async_api import async_playwright

    async def run() -> T:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 480, "height": 860})
                return await scenario(await context.new_page())
            finally:
                await browser.close()

    return asyncio.run(run())


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
