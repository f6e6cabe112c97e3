"""SVG/PNG export plumbing that needs no model: Chromium discovery and its errors."""

from __future__ import annotations

import pytest

from exbert.export import ExportError, find_chromium, png_size
from exbert.export import render as render_mod

PAGE = "<!doctype html><body><script>window.exbert = {}; document.body.dataset.ready = 'true'"
PAGE += "</script></body>"


def test_chromium_from_the_environment(monkeypatch, tmp_path):
    fake = tmp_path / "chrome"
    fake.write_text("")
    monkeypatch.setenv("EXBERT_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv("EXBERT_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(ExportError, match="EXBERT_CHROMIUM"):
        find_chromium()


def test_missing_chromium_is_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("playwright")
    monkeypatch.delenv("EXBERT_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on the PATH
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))  # nor Playwright's
    monkeypatch.setattr(render_mod.shutil, "which", lambda name: None)
    with pytest.raises(ExportError, match="needs a Chromium browser") as info:
        render_mod.run_in_page(PAGE, "() => 1")
    assert "apt-get install chromium" in str(info.value)
    assert "export_html" in str(info.value)  # and says what works without one


def test_png_size_reads_ihdr():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1196).to_bytes(4, "big") + \
        (816).to_bytes(4, "big") + b"\x08\x06\x00\x00\x00"
    assert png_size(png) == (1196, 816)
    with pytest.raises(ValueError):
        png_size(b"GIF89a")


def test_runs_in_a_thread_under_an_event_loop():
    """In Jupyter an asyncio loop runs in the kernel's thread; Playwright's sync API would
    refuse it, so the work moves to a thread of its own."""
    import asyncio
    import threading

    async def main():
        return render_mod._in_thread(lambda: threading.current_thread().name)

    name = asyncio.run(main())
    assert name.startswith("exbert-export")
    assert render_mod._in_thread(lambda: threading.current_thread().name) == \
        threading.current_thread().name
