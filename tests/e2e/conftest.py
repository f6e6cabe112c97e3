"""A real `exbert serve` (subprocess, shipped models) and Debian's Chromium driven by
Playwright with ``executable_path`` (Playwright's own browser download cannot work here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from serverproc import SCREENSHOTS, start_server, stop_server

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = os.environ.get("EXBERT_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("Debian chromium is not installed: run `make browser` (scripts/install-browser.sh)")
    return found


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    proc, base = start_server("--model", "minilm-l6", "--model", "smollm2-135m", "--no-demo-corpus")
    yield base
    stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
