"""The notebook widget in a real marimo app: `marimo run` (offline, a token) of a notebook whose
cells show ``exbert.show(...)`` through ``mo.ui.anywidget``, a ``mo.ui.slider`` bound to the
widget's ``layer`` by a reactive cell (``w.layer = slider.value``), and a cell that reads the
layer back from the widget's value. In Chromium: the attention edges render; moving the slider
re-runs the Python cell, which sets the trait, and the view follows; a layer picked in the view
reaches Python (the reading cell re-runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notebook_servers import (
    WAIT_MS,
    NotebookServer,
    PageLog,
    edges,
    notebook_page,
    start_marimo,
    stop,
    wait_or_fail,
)

pytestmark = pytest.mark.e2e


def marimo_version() -> str:
    from importlib.metadata import version

    return version("marimo")


TEXT = "The quick brown fox jumps over the lazy dog."
NOTEBOOK = f'''import marimo

__generated_with = "{marimo_version()}"
app = marimo.App()


@app.cell
def _():
    import exbert
    import marimo as mo
    return exbert, mo


@app.cell
def _(exbert, mo):
    w = exbert.show("minilm-l6", {TEXT!r}, layer=0)
    view = mo.ui.anywidget(w)
    view
    return view, w


@app.cell
def _(mo):
    layer = mo.ui.slider(0, 5, value=0, label="layer")
    layer
    return (layer,)


@app.cell
def _(layer, mo, w):
    w.layer = layer.value
    mo.md(f"python layer {{w.layer}}")
    return


@app.cell
def _(mo, view):
    mo.md(f"view layer {{view.value['layer']}}")
    return


if __name__ == "__main__":
    app.run()
'''
VIEW = '[data-testid="attention-view"]'


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookServer]:
    """One server for the module; each page that connects gets its own session (all cells run
    afresh in it)."""
    tmp_path = tmp_path_factory.mktemp("marimo")
    notebook = tmp_path / "widget_app.py"
    notebook.write_text(NOTEBOOK)
    (tmp_path / "state").mkdir()
    server = start_marimo(notebook, tmp_path / "state")
    yield server
    stop(server)


class App:
    def __init__(self, page, server: NotebookServer, log: PageLog) -> None:
        self.page, self.server, self.log = page, server, log

    def wait(self, what: str, locator) -> None:
        wait_or_fail(locator, f"marimo: {what}", lambda: (
            f"page text:\n{self.page.locator('body').inner_text()[-3000:]}\n"
            f"page errors: {self.log.page_errors}\nconsole errors: {self.log.console_errors}\n"
            f"server log:\n{self.server.log_tail()}"))


def test_widget_in_marimo(marimo_app: NotebookServer, browser) -> None:
    with notebook_page(browser, marimo_app.base, "test_widget_in_marimo") as (page, log):
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{marimo_app.base}/?access_token={marimo_app.token}")
        app = App(page, marimo_app, log)
        view = page.locator(f'{VIEW}[data-ready="true"][data-layer="0"]')
        app.wait("exbert.show(...) rendering its attention view", view)
        app.wait("attention edges in the view", view.locator("path.edge"))
        marimo_app.remember_children()
        assert page.locator('[data-testid="exbert-widget"]').count() == 1
        assert page.locator('[data-testid="layer-select"]').input_value() == "0"
        app.wait("the Python cell reading the slider", page.get_by_text("python layer 0"))
        before = edges(view)
        assert before

        # the slider (a marimo UI element) -> a Python cell sets w.layer -> the view follows
        thumb = page.locator('[role="slider"][aria-valuemax="5"]')  # marimo's (Radix)
        thumb.focus()
        for _ in range(3):
            thumb.press("ArrowRight")
        app.wait("the slider at 3 after three presses of the right arrow",
                 page.locator('[role="slider"][aria-valuemax="5"][aria-valuenow="3"]'))
        app.wait("the Python cell setting w.layer = 3", page.get_by_text("python layer 3"))
        moved = page.locator(f'{VIEW}[data-ready="true"][data-layer="3"]')
        app.wait("the view following w.layer = 3", moved)
        assert page.locator('[data-testid="layer-select"]').input_value() == "3"
        after = edges(moved)
        assert after and after != before, "the edges did not change with the layer"

        # the view -> the widget's value in Python -> the cell reading it re-runs
        page.locator('[data-testid="layer-select"]').select_option("4")
        app.wait("Python reading the layer picked in the view", page.get_by_text("view layer 4"))
        assert page.locator(f'{VIEW}[data-layer="4"]').count() == 1

        assert not log.page_errors, f"uncaught errors in marimo: {log.page_errors}"
        assert not log.console_errors, f"console errors in marimo: {log.console_errors}"
        assert not log.outside, f"requests outside the marimo server: {log.outside}"


# Every element of the widget that sticks out of its box (px past its right edge), and how many
# head thumbnails share the first row of the heads grid.
LAYOUT_JS = """el => {
  const r = el.getBoundingClientRect();
  const out = [];
  for (const c of el.querySelectorAll("*")) {
    const b = c.getBoundingClientRect();
    if (b.width && (b.right > r.right + 1 || b.left < r.left - 1))
      out.push(`${c.getAttribute("class") || c.tagName} "${c.textContent.trim().slice(0, 20)}"`
               + ` ${Math.round(b.right - r.right)}px`);
  }
  const tops = [...el.querySelectorAll(".head-box")].map((b) => b.getBoundingClientRect().top);
  return {width: Math.round(r.width), out, perRow: tops.filter((t) => Math.abs(t - tops[0]) < 1).length};
}"""


def test_widget_fits_the_marimo_column(marimo_app: NotebookServer, browser) -> None:
    with notebook_page(browser, marimo_app.base, "test_widget_fits_the_marimo_column") as (
            page, log):
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{marimo_app.base}/?access_token={marimo_app.token}")
        App(page, marimo_app, log).wait("the attention view",
                                        page.locator(f'{VIEW}[data-ready="true"]'))
        layout = page.locator('[data-testid="exbert-widget"]').evaluate(LAYOUT_JS)
        assert layout["out"] == [], f"outside the widget's {layout['width']} px: {layout['out']}"
        assert layout["perRow"] >= 4, f"{layout['perRow']} head(s) per row"
