"""examples/exbert-tour.ipynb runs top to bottom (nbclient) on the shipped models.

The kernel is this venv's Python: a kernelspec written into a temporary JUPYTER_PATH, so the
test does not depend on what kernels the machine has installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from exbert.export.render import png_size

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "exbert-tour.ipynb"
KERNEL = "exbert-test-kernel"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "exbert test (venv python)",
        "language": "python",
        "env": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    return KERNEL


def test_tour_notebook_runs_top_to_bottom(kernel_name: str, tmp_path: Path, minilm_model,
                                          smollm2_model) -> None:
    # the model fixtures skip when the shipped models are not installed; loading them here
    # also makes sure the GGUF conversion cache exists before the kernel loads them
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    client = NotebookClient(
        nb, kernel_name=kernel_name, timeout=600, allow_errors=False,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "some cell did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # the widget cells display an anywidget view (the JavaScript is carried by the model state)
    widget_views = [
        o for c in code for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widget_views) >= 3
    text = "\n".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "")
        for c in code for o in c.get("outputs", [])
    )
    assert "['sat'] [3]" in text  # w.mask = [3] masked "sat" and re-analysed
    assert "attention changed: True" in text
    assert "' Paris'" in text  # SmolLM2's next-token prediction
    assert "'cat'  in  The cat sat on the mat." in text  # the corpus search
    # nbclient saves the widget state; our views carry their JavaScript (no URL to fetch)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    ours = [m["state"] for m in state.values() if m["state"].get("_anywidget_id", "").endswith(
        "ExbertWidget")]
    assert len(ours) >= 3
    assert all("attention-view" in m["_esm"] for m in ours)
    # the files the notebook writes
    html = (work / "exbert-view.html").read_text()
    assert "exbert-frame" in html
    svg = (work / "figure.svg").read_text()
    assert "<path" in svg and "<text" in svg
    width, height = png_size((work / "figure.png").read_bytes())
    assert width > 500 and height > 300
