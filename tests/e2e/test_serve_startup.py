"""`exbert serve` answers the page and the model list before its models are loaded (they load
in the background once the server is up); the first analysis waits for its model.

The models must have been loaded once before (as `make demo` / `exbert prepare` leave them):
their descriptions are remembered then, and a server lists them without loading them."""

from __future__ import annotations

import time

import httpx
import pytest
from serverproc import ROOT, start_server, stop_server

from exbert.models.loading import known_info

pytestmark = pytest.mark.e2e
MODELS = ("minilm-l6", "smollm2-135m")


@pytest.fixture(scope="module")
def remembered() -> None:
    """Each model loaded once in this cache, as `exbert prepare` does."""
    import exbert

    for name in MODELS:
        if known_info(name) is None:
            exbert.load(name)
        assert known_info(name) is not None


def test_page_and_models_answer_before_the_models_load(remembered):
    proc, base = start_server(*(arg for name in MODELS for arg in ("--model", name)))
    log = ROOT / "test-output" / f"server-{base.rsplit(':', 1)[1]}.log"
    try:
        page = httpx.get(base + "/", timeout=30)
        listed = httpx.get(base + "/api/models", timeout=30)
        corpora = httpx.get(base + "/api/corpora", timeout=30)
        # the server reports each model when it has loaded: none has yet (torch alone takes
        # seconds to import), though the page and the model list answered
        before = log.read_text()
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert listed.status_code == 200
        assert [m["name"] for m in listed.json()["models"]] == list(MODELS)
        assert corpora.status_code == 200
        assert "loading in the background" in before
        assert not any(f"{name} loaded" in before for name in MODELS), before

        r = httpx.post(base + "/api/analyze?format=json",
                       json={"model": "smollm2-135m", "text": "The cat sat."}, timeout=300)
        assert r.status_code == 200, r.text
        assert r.json()["n_layers"] == 30
        assert "smollm2-135m loaded" in log.read_text()
        # /api/health names the models still loading; all of them finish
        deadline = time.monotonic() + 300
        while (loading := httpx.get(base + "/api/health", timeout=30).json()["loading"]):
            assert set(loading) <= set(MODELS) and time.monotonic() < deadline, loading
            time.sleep(0.2)
    finally:
        stop_server(proc)
