"""The notebook widget's lens panels in a real JupyterLab (offline): ``exbert.show`` on SmolLM2
computes no lens with the analysis; the view asks the kernel over the real comm (custom
messages, the rollout as a binary buffer) when a panel or the rollout mode first needs a part:
the logit lens and the head detectors render, the rollout mode draws, and "Run induction probe"
makes the kernel analyse a repeated random sequence, which the view and Python then both show,
with only the parts the view needed for it computed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from notebook_servers import (
    WAIT_MS,
    NotebookServer,
    notebook_page,
    start_jupyterlab,
    stop_jupyterlab,
)
from test_jupyterlab import Notebook, notebook

pytestmark = pytest.mark.e2e

TEXT = "When Mary and John went to the store, John gave a drink to Mary."
CELLS = [
    f'import exbert\nw = exbert.show("smollm2-135m", {TEXT!r}, layer=0)\nw',
    'print("asked", w.lens_parts.computed)',
    'print("probe", w.text != ' + repr(TEXT) + ', w.lens_parts.key["text"] == w.text, '
    'sorted(w.lens_parts.computed))',
]
VIEW = '[data-testid="attention-view"]'


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NotebookServer]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "lenses.ipynb").write_text(json.dumps(notebook(CELLS)))
    server = start_jupyterlab(root, tmp_path / "state")
    yield server
    stop_jupyterlab(server)


def test_widget_lens_panels_in_jupyterlab(lab: NotebookServer, browser) -> None:
    with notebook_page(browser, lab.base, "test_widget_lens_panels_in_jupyterlab") as (page, log):
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{lab.base}/lab/tree/lenses.ipynb?token={lab.token}")
        nb = Notebook(page, lab, log)
        nb.wait_kernel_idle()
        lab.remember_children()

        nb.run(0)
        out = nb.cell(0).locator(".jp-OutputArea")
        nb.wait("exbert.show(...) rendering its view",
                out.locator(f'{VIEW}[data-ready="true"][data-layer="0"]'))
        n_tokens = out.locator('[data-testid^="token-left-"]').count()
        nb.run(1)  # no panel opened yet: no lens computed
        nb.wait("no lens computed before a panel asks",
                nb.cell(1).locator(".jp-OutputArea-output", has_text="asked ()"))

        out.locator(tid("lens-tab-lens")).click()
        nb.wait("the logit lens grid", out.locator(f'{tid("logit-lens")} td.ll-cell'))
        # SmolLM2: 30 layers + the embeddings, one column per token
        assert out.locator(f'{tid("logit-lens")} td.ll-cell').count() == 31 * n_tokens

        out.locator(tid("attention-mode")).select_option("rollout")
        nb.wait("the rollout drawn in the main view",
                out.locator(f'{VIEW}[data-mode="rollout"][data-ready="true"]'))

        out.locator(tid("lens-tab-heads")).click()
        nb.wait("the head detectors", out.locator(tid("head-scores")))
        out.locator(tid("induction-probe-button")).click()
        # 50 random tokens twice: the view shows the kernel's new analysis
        nb.wait("the induction probe's analysis in the view",
                out.locator(tid(f"token-left-{2 * 50 - 1}")))
        nb.wait("the probe's head scores (asked of the kernel for the new analysis)",
                out.locator(f'{tid("head-scores")}[data-state="ready"]'))
        nb.wait("the probe's rollout drawn",
                out.locator(f'{VIEW}[data-mode="rollout"][data-ready="true"]'))
        nb.run(2)
        # the panels on screen (head detectors, rollout mode) asked for the probe's parts; the
        # logit lens, not shown since, was not computed for it
        nb.wait("Python holding the probe and the lenses its view asked for",
                nb.cell(2).locator(".jp-OutputArea-output",
                                   has_text="probe True True ['head_scores', 'rollout']"))
        out.locator(tid("lens-tab-model")).click()
        nb.wait("the model view of the probe", out.locator(tid("model-view-cell-29-8")))

        assert "Traceback" not in nb.outputs(), nb.outputs()
        assert not log.page_errors, f"uncaught errors in JupyterLab: {log.page_errors}"
        assert not log.console_errors, f"console errors in JupyterLab: {log.console_errors}"
        assert not log.outside, f"requests outside the notebook server: {log.outside}"
