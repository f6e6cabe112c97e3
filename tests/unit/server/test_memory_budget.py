"""The server's memory budget admits analyses by the peak memory they add: concurrent work past
it is a 503 with Retry-After, a request that alone needs more a 422 with the numbers and the
flag that raises it; the bytes come back when the work ends (or never started)."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from exbert.analysis.encode import encode
from exbert.analysis.memory import estimate_bytes
from exbert.cli import build_parser
from exbert.errors import MemoryBudgetExceeded, QueueFull, TooLargeForBudget
from exbert.server import ServerConfig, create_app
from exbert.server.budget import (
    DEFAULT_CACHE_BYTES,
    MemoryBudget,
    default_budget,
    parse_size,
    physical_memory,
)
from exbert.view import MAX_TEXT_CHARS

BASE = "http://127.0.0.1:5050"
TEXT_A = "The cat sat on the mat and looked at the birds in the garden."
TEXT_B = "A dog ran across the field and jumped over the fence at noon."


def test_sizes_parse_as_people_write_them():
    assert parse_size("6GB") == 6 * 1024**3
    assert parse_size("512MB") == 512 * 1024**2
    assert parse_size("1.5g") == 1536 * 1024**2
    assert parse_size("2GiB") == 2 * 1024**3
    assert parse_size("1048576") == 1024**2
    for bad in ("", "6XB", "-1GB", "0", "GB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_serve_flags():
    args = build_parser().parse_args(["serve", "--memory-budget", "6GB", "--cache-size", "512MB"])
    assert (args.memory_budget, args.cache_size) == (6 * 1024**3, 512 * 1024**2)
    args = build_parser().parse_args(["serve"])
    assert args.memory_budget is None and parse_size(args.cache_size) == DEFAULT_CACHE_BYTES
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--memory-budget", "lots"])


def test_defaults_fit_the_machine_and_long_texts():
    config = ServerConfig()
    total = physical_memory()
    assert total is None or config.memory_budget_bytes == max(total // 2, 512 * 1024**2)
    assert config.memory_budget_bytes == default_budget()
    assert config.max_body_bytes >= 2 * 4 * MAX_TEXT_CHARS  # two texts, UTF-8 at worst


def test_admission_and_release():
    budget = MemoryBudget(100)
    a = budget.admit(60, "a")
    with pytest.raises(MemoryBudgetExceeded) as busy:
        budget.admit(50, "an analysis of 9 tokens")
    assert isinstance(busy.value, QueueFull) and busy.value.status == 503
    assert busy.value.details == {"needed_bytes": 50, "in_use_bytes": 60, "budget_bytes": 100,
                                  "retry_after": 5}
    with pytest.raises(TooLargeForBudget) as alone:
        budget.admit(101, "x")
    assert alone.value.status == 422 and "--memory-budget" in alone.value.message
    b = budget.admit(40, "b")  # fits exactly
    assert budget.admitted == 100
    assert a.begin()
    a.abandon()  # started: the work releases, not its client
    assert budget.admitted == 100
    a.release()
    a.release()  # once
    assert budget.admitted == 40
    b.abandon()  # never started: released, and the work may not start any more
    assert not b.begin() and budget.admitted == 0


@pytest.fixture(scope="module")
def llama(tiny):
    return tiny("llama")


def need(model, text, mode="full"):
    return estimate_bytes(model.info, len(encode(model, text).input_ids), mode)


def test_a_request_alone_over_the_budget_is_a_422_with_the_numbers(llama):
    budget = need(llama, TEXT_A) // 2
    app = create_app({"llama": llama}, config=ServerConfig(memory_budget_bytes=budget))
    with TestClient(app, base_url=BASE) as client:
        r = client.post("/api/analyze", json={"model": "llama", "text": TEXT_A})
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["type"] == "TooLargeForBudget"
        assert err["details"] == {"needed_bytes": need(llama, TEXT_A), "budget_bytes": budget}
        assert "--memory-budget" in err["message"] and "tokens" in err["message"]
        assert app.state.exbert.budget.admitted == 0


def test_concurrent_work_past_the_budget_is_a_503_with_retry_after(llama):
    """Analysis A is admitted and waits for the queue (a job holds the inference thread);
    B, which would pass the budget with A, is refused at once; once A ends B is admitted."""
    budget = need(llama, TEXT_A) + need(llama, TEXT_B) // 2
    app = create_app({"llama": llama}, config=ServerConfig(memory_budget_bytes=budget))
    state = app.state.exbert
    gate = threading.Event()

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            blocker = asyncio.ensure_future(state.queue.run(gate.wait, 60))
            first = asyncio.ensure_future(
                client.post("/api/analyze", json={"model": "llama", "text": TEXT_A}))
            for _ in range(3000):
                if state.budget.admitted:
                    break
                await asyncio.sleep(0.01)
            assert state.budget.admitted == need(llama, TEXT_A)
            refused = await client.post("/api/analyze", json={"model": "llama", "text": TEXT_B})
            gate.set()
            done = await first
            await blocker
            assert state.budget.admitted == 0
            later = await client.post("/api/analyze", json={"model": "llama", "text": TEXT_B})
            return refused, done, later

    try:
        refused, done, later = asyncio.run(main())
    finally:
        gate.set()
        state.queue.shutdown()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    err = refused.json()["error"]
    assert err["type"] == "MemoryBudgetExceeded"
    assert err["details"]["in_use_bytes"] == need(llama, TEXT_A)
    assert err["details"]["needed_bytes"] == need(llama, TEXT_B)
    assert done.status_code == 200 and later.status_code == 200


def test_a_long_text_passes_the_body_guard(tiny):
    """A text of MAX_TEXT_CHARS characters (2 bytes each in UTF-8) reaches the model's own
    check: too many tokens for the tiny model, not a 413."""
    bert = tiny("bert")
    app = create_app({"bert": bert})
    with TestClient(app, base_url=BASE) as client:
        r = client.post("/api/analyze", json={"model": "bert", "text": "é " * (MAX_TEXT_CHARS // 2)})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["type"] == "TextTooLong"
        assert app.state.exbert.budget.admitted == 0
