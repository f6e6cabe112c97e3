"""One API contract: docs/openapi.json is what the server's code generates, the frontend's
types (frontend/src/api/schema.d.ts) are what openapi-typescript makes of it, and its defaults
and limits (frontend/src/api/limits.ts) are exbert.view's. Any drifting fails here with the
command that regenerates them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from exbert.info import ModelInfo
from exbert.server.openapi import render, render_limits

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "docs" / "openapi.json"
TYPES = ROOT / "frontend" / "src" / "api" / "schema.d.ts"
LIMITS = ROOT / "frontend" / "src" / "api" / "limits.ts"
FRONTEND = ROOT / "frontend"
REGENERATE = "run `make api` and commit the result"


def test_committed_schema_is_the_code_schema() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == render(), f"docs/openapi.json drifted: {REGENERATE}"


def test_frontend_limits_are_the_library_limits() -> None:
    assert LIMITS.read_text(encoding="utf-8") == render_limits(), (
        f"frontend/src/api/limits.ts drifted from src/exbert/view.py: {REGENERATE}")
    from exbert import view

    assert f"export const DEFAULT_THRESHOLD = {view.DEFAULT_THRESHOLD};" in render_limits()


def test_generated_types_match_the_committed_schema(tmp_path: Path) -> None:
    tool = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
    if not tool.exists():
        pytest.fail("frontend/node_modules is not installed: run `make install`")
    out = tmp_path / "schema.d.ts"
    subprocess.run([str(tool), str(SCHEMA), "-o", str(out)], cwd=FRONTEND, check=True,
                   capture_output=True, timeout=120)
    assert TYPES.read_text(encoding="utf-8") == out.read_text(encoding="utf-8"), (
        f"frontend/src/api/schema.d.ts drifted from docs/openapi.json: {REGENERATE}")


def test_model_info_has_one_source() -> None:
    """The schema's ModelInfo is the dataclass's public fields, all required."""
    import json

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))["components"]["schemas"]["ModelInfo"]
    public = [f for f in ModelInfo.__dataclass_fields__.values()
              if not f.metadata.get("private")]
    assert set(schema["properties"]) == {f.name for f in public}
    assert set(schema["required"]) == {f.name for f in public}
    assert "source" not in schema["properties"]


def test_the_drift_check_fails_on_a_changed_schema(tmp_path: Path) -> None:
    from exbert.server.openapi import main

    stale = tmp_path / "openapi.json"
    stale.write_text(render().replace('"exbert"', '"exbert-old"', 1), encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert main([str(stale)]) == 0 and main(["--check", str(stale)]) == 0

