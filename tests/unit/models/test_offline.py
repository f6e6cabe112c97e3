"""Hub ids fail fast offline, with a message naming HF_HUB_OFFLINE and the local alternatives.

No test reaches a real host: the hub endpoint is a closed loopback port (``HF_ENDPOINT``),
the Hugging Face cache an empty temporary folder (``HF_HOME``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from exbert.errors import UnknownModel
from exbert.models import load
from exbert.models.hub import hub_options, unreachable
from exbert.models.registry import SHIPPED


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """The hub at a closed loopback port, an empty Hugging Face cache, offline mode off."""
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"), "EXBERT_CACHE": str(tmp_path / "x")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY",
              "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    # huggingface_hub reads the environment once, at its import (earlier tests imported it):
    # what this process's libraries use is in its constants, so they point there too
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", env["HF_ENDPOINT"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
    return env


def assert_names_the_way_offline(message: str) -> None:
    assert "HF_HUB_OFFLINE" in message
    assert "exbert models" in message
    assert "safetensors" in message  # a local folder
    for alias in SHIPPED:
        assert alias in message


def test_offline_mode_refuses_an_uncached_hub_id_at_once(no_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModel) as err:
        load("someone/not-a-cached-model")
    assert_names_the_way_offline(err.value.message)
    assert err.value.details["offline"] is True


def test_unreachable_hub_refuses_an_uncached_hub_id(no_hub):
    with pytest.raises(UnknownModel) as err:
        hub_options("nope", None)
    message = err.value.message
    assert_names_the_way_offline(message)
    assert "cannot be reached" in message  # and says why
    assert no_hub["HF_ENDPOINT"] in message  # the probe asked the configured hub only


def test_probe_tells_a_closed_port_from_a_listening_one():
    assert unreachable(f"http://127.0.0.1:{closed_port()}") is not None
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert unreachable(f"http://127.0.0.1:{port}") is None


def test_cli_unknown_model_without_a_hub_fails_without_retries(no_hub):
    """Before: five retries with back-off (~25 s), "Retrying in 8s" on the terminal, exit 2,
    and no word of HF_HUB_OFFLINE. Now: one connection probe, exit 3 (not found)."""
    env = {**os.environ, **no_hub}
    run = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "analyze", "hi", "--model", "nope"],
        env=env, capture_output=True, text=True, timeout=120,  # a hang guard, not a timing
    )
    assert run.returncode == 3, run.stderr
    assert "Retrying" not in run.stderr
    assert "Traceback" not in run.stderr
    assert_names_the_way_offline(run.stderr)
    assert no_hub["HF_ENDPOINT"] in run.stderr  # which hub could not be reached


def test_cli_unknown_model_in_offline_mode(no_hub):
    env = {**os.environ, **no_hub, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "exbert.cli", "analyze", "hi", "--model", "nope"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert_names_the_way_offline(run.stderr)
