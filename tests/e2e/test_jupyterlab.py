"""The notebook widget in a real JupyterLab: a `jupyter lab` server (this venv's kernel, offline)
opened in Chromium; a cell runs ``exbert.show(...)`` and the anywidget module renders attention
edges in the output; a later cell sets ``w.layer`` from Python and the view follows; a layer
picked in the view reaches Python. The widget's module loads without a console error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from notebook_servers import (
    KERNEL_LABEL,
    KERNEL_NAME,
    WAIT_MS,
    NotebookServer,
    PageLog,
    edges,
    notebook_page,
    start_jupyterlab,
    stop_jupyterlab,
    wait_or_fail,
)

pytestmark = pytest.mark.e2e

TEXT = "The quick brown fox jumps over the lazy dog."
CELLS = [
    f'import exbert\nw = exbert.show("minilm-l6", {TEXT!r}, layer=0)\nw',
    'w.layer = 3\nprint("python layer", w.layer)',
    'print("view layer", w.layer)',
]
VIEW = '[data-testid="attention-view"]'


def notebook(cells: list[str]) -> dict:
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "source": src,
                   "outputs": [], "execution_count": None} for i, src in enumerate(cells)],
    }


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NotebookServer]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "widget.ipynb").write_text(json.dumps(notebook(CELLS)))
    server = start_jupyterlab(root, tmp_path / "state")
    yield server
    stop_jupyterlab(server)


class Notebook:
    """The open notebook: run a cell, wait for something, fail with the outputs."""

    def __init__(self, page, server: NotebookServer, log: PageLog) -> None:
        self.page, self.server, self.log = page, server, log

    def cell(self, i: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i)

    def run(self, i: int) -> None:
        self.cell(i).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")
        self.wait(f"cell {i} starting to run ([*] or its number)",
                  self.cell(i).locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]")))

    def wait_kernel_idle(self) -> None:
        # The notebook's execution indicator says "idle" before any kernel exists; the status
        # bar names the kernel and says Idle only once its first status message arrived.
        self.wait("the notebook's kernel starting (status bar: Idle)",
                  self.page.locator("#jp-main-statusbar", has_text=f"{KERNEL_LABEL} | Idle"))

    def outputs(self) -> str:
        texts = self.page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts()
        return "\n---\n".join(t.strip() for t in texts)

    def wait(self, what: str, locator) -> None:
        wait_or_fail(locator, f"JupyterLab: {what}", lambda: (
            f"cell outputs:\n{self.outputs()}\npage errors: {self.log.page_errors}\n"
            f"console errors: {self.log.console_errors}\n"
            f"server log:\n{self.server.log_tail()}"))


def test_widget_in_jupyterlab(lab: NotebookServer, browser) -> None:
    with notebook_page(browser, lab.base, "test_widget_in_jupyterlab") as (page, log):
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{lab.base}/lab/tree/widget.ipynb?token={lab.token}")
        nb = Notebook(page, lab, log)
        nb.wait_kernel_idle()
        lab.remember_children()

        nb.run(0)
        out = nb.cell(0).locator(".jp-OutputArea")
        view = out.locator(f'{VIEW}[data-ready="true"][data-layer="0"]')
        nb.wait("exbert.show(...) rendering its attention view", view)
        nb.wait("attention edges in the view", view.locator("path.edge"))
        assert out.locator('[data-testid="exbert-widget"]').count() == 1
        assert out.locator('[data-testid="layer-select"]').input_value() == "0"
        assert out.locator('[data-testid="token-left-1"]').inner_text().strip() == "The"
        before = edges(view)
        assert before

        nb.run(1)  # w.layer = 3, from Python
        nb.wait("the Python cell setting w.layer",
                nb.cell(1).locator(".jp-OutputArea-output", has_text="python layer 3"))
        moved = out.locator(f'{VIEW}[data-ready="true"][data-layer="3"]')
        nb.wait("the view following w.layer = 3", moved)
        assert out.locator('[data-testid="layer-select"]').input_value() == "3"
        after = edges(moved)
        assert after and after != before, "the edges did not change with the layer"

        out.locator('[data-testid="layer-select"]').select_option("4")  # the view -> Python
        nb.wait("the view showing layer 4", out.locator(f'{VIEW}[data-layer="4"]'))
        nb.run(2)
        nb.wait("Python reading the layer picked in the view",
                nb.cell(2).locator(".jp-OutputArea-output", has_text="view layer 4"))

        assert "Traceback" not in nb.outputs(), nb.outputs()
        assert not log.page_errors, f"uncaught errors in JupyterLab: {log.page_errors}"
        # JupyterLab itself logs none here, so any console error is the widget's to explain
        assert not log.console_errors, f"console errors in JupyterLab: {log.console_errors}"
        assert not log.outside, f"requests outside the notebook server: {log.outside}"
