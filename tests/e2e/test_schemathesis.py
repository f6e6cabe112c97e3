"""Schemathesis against the generated OpenAPI schema of a real server that serves two models
and a small real corpus: zero 5xx, zero schema violations, every route reached (the schema's
examples name the served models and corpus and carry a search that works). MiniLM (the corpus'
model) has no output head, so SmolLM2 is served too: the logit lens route answers something
other than 422 NoOutputHead and 404 for some analysis.

One worker and a fixed seed: schemathesis' code generation parses source in threads, and
CPython 3.11.7's ``ast`` is not thread-safe ("AST constructor recursion depth mismatch"), so
more workers make the run fail at random. The run is deterministic for one schema.
EXBERT_SCHEMATHESIS_SECONDS sets its time budget.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serverproc import start_server, stop_server

from support import build_small_corpus

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECONDS = int(os.environ.get("EXBERT_SCHEMATHESIS_SECONDS", "300"))
CORPUS = "schemathesis-minilm"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])
N_OPERATIONS = 18  # health, models, models/{name}, analyze, corpora, corpora/{name}, heads, search,
# the analyses routes: {id}, attention, rows, window, blocks, stats, lens, head-scores, rollout,
# and induction-probe


def test_schemathesis(tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "st"  # the venv's, also when it is not on PATH
    st = str(beside) if beside.is_file() else shutil.which("st")
    assert st, "schemathesis is not installed (make install)"
    corpus = build_small_corpus(tmp_path, CORPUS)
    proc, base = start_server("--model", "smollm2-135m", "--model", "minilm-l6",
                               "--corpus", str(corpus))
    try:
        run = subprocess.run(
            [st, "run", f"{base}/api/openapi.json", "--checks", CHECKS,
             "--max-time", str(SECONDS), "--workers", "1", "--seed", "0",
             "--request-timeout", "60", "--no-color"],
            capture_output=True, text=True, timeout=SECONDS + 300, cwd=tmp_path,
        )
    finally:
        stop_server(proc)
    out = run.stdout + run.stderr
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "returned 404" not in out, "some routes were never reached:\n" + out[-4000:]
    tested = re.search(r"Tested: (\d+)", out)
    assert tested is not None and int(tested.group(1)) == N_OPERATIONS, out[-4000:]
