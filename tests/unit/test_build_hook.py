"""hatch_build.py, the wheel/sdist build hook: when it builds the browser app, when it skips,
and the message without npm. (The full build, npm included, is tests/e2e/test_wheel_install.py.)"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hook():
    if importlib.util.find_spec("hatchling") is None:
        # Only the base class comes from hatchling; the functions under test are plain.
        stub = types.ModuleType("hatchling.builders.hooks.plugin.interface")
        stub.BuildHookInterface = type("BuildHookInterface", (), {})
        names = ["hatchling", "hatchling.builders", "hatchling.builders.hooks",
                 "hatchling.builders.hooks.plugin"]
        saved = {n: sys.modules.get(n) for n in [*names, stub.__name__]}
        for n in names:
            sys.modules[n] = types.ModuleType(n)
        sys.modules[stub.__name__] = stub
    else:
        saved = {}
    spec = importlib.util.spec_from_file_location("exbert_hatch_build", ROOT / "hatch_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for n, m in saved.items():
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m


def tree(root: Path, *, bundle: bool) -> tuple[Path, Path]:
    frontend, static = root / "frontend", root / "src" / "exbert" / "static"
    (frontend / "src").mkdir(parents=True)
    for name in ("package.json", "package-lock.json", "index.html", "src/main.ts"):
        (frontend / name).write_text("{}")
    old = 1_000_000_000
    for p in frontend.rglob("*"):
        os.utime(p, (old, old))
    if bundle:
        for name in ("index.html", "widget/widget.js", "standalone/exbert-standalone.js"):
            (static / name).parent.mkdir(parents=True, exist_ok=True)
            (static / name).write_text("built")
    return frontend, static


def test_a_complete_bundle_newer_than_the_sources_is_current(hook, tmp_path):
    frontend, static = tree(tmp_path, bundle=True)
    assert hook.bundle_is_current(frontend, static)
    later = max(p.stat().st_mtime for p in static.rglob("*") if p.is_file()) + 10
    os.utime(frontend / "src" / "main.ts", (later, later))  # a source edited after the build
    assert not hook.bundle_is_current(frontend, static)


def test_an_incomplete_bundle_is_not_current(hook, tmp_path):
    frontend, static = tree(tmp_path, bundle=True)
    (static / "widget" / "widget.js").unlink()
    assert not hook.bundle_is_current(frontend, static)


def test_without_npm_a_missing_bundle_stops_the_build_with_a_message(hook, tmp_path, monkeypatch):
    tree(tmp_path, bundle=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RuntimeError, match=r"needs Node\.js and npm.*not on the PATH"):
        hook.build_frontend(tmp_path)
    hook.build_frontend(tmp_path, required=False)  # editable installs: a warning only


def test_a_current_bundle_needs_no_npm(hook, tmp_path, monkeypatch):
    tree(tmp_path, bundle=True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    hook.build_frontend(tmp_path)  # nothing to build, so no npm asked for


def test_the_repository_builds_with_the_hook():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["build-system"]["build-backend"] == "hatchling.build"
    assert config["tool"]["hatch"]["build"]["hooks"]["custom"]["path"] == "hatch_build.py"
    assert "src/exbert/static/" in config["tool"]["hatch"]["build"]["artifacts"]
