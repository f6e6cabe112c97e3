"""Schemathesis against the generated OpenAPI schema of a real server (issue 5, point 8):
zero 5xx, zero schema violations, for at least 5 minutes (EXBERT_SCHEMATHESIS_SECONDS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serverproc import start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECONDS = int(os.environ.get("EXBERT_SCHEMATHESIS_SECONDS", "300"))
TOOL_CRASH = "AST constructor recursion depth mismatch"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])


def test_schemathesis(tmp_path):
    beside = Path(sys.executable).parent / "st"  # the venv's, also when it is not on PATH
    st = str(beside) if beside.is_file() else shutil.which("st")
    assert st, "schemathesis is not installed (make install)"
    proc, base = start_server("--model", "minilm-l6", "--no-demo-corpus")
    try:
        for _attempt in range(3):
            run = subprocess.run(
                [st, "run", f"{base}/api/openapi.json", "--checks", CHECKS,
                 "--max-time", str(SECONDS), "--workers", "2", "--request-timeout", "60",
                 "--no-color"],
                capture_output=True, text=True, timeout=SECONDS + 300, cwd=tmp_path,
            )
            # CPython 3.11.7 sometimes fails inside schemathesis' own code generation
            # ("AST constructor recursion depth mismatch"): a tool crash, not a finding.
            if TOOL_CRASH not in run.stdout + run.stderr:
                break
    finally:
        stop_server(proc)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
