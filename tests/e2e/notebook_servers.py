"""Real notebook servers for the widget tests: JupyterLab (with a kernel spec pointing at this
interpreter) and marimo, each a subprocess on a free loopback port with a random token, its
Jupyter/marimo state in a temporary folder, no network (``HF_HUB_OFFLINE``), stopped cleanly
with every process it started; and a Chromium page that records console errors and refuses any
request that leaves the notebook server."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serverproc import ROOT, SCREENSHOTS, free_port

KERNEL_NAME = "exbert-test"
KERNEL_LABEL = "exbert test (this venv)"
LOGS = ROOT / "test-output"


@dataclass
class NotebookServer:
    """A running notebook server: its process, base URL, token and log file."""

    proc: subprocess.Popen[bytes]
    base: str
    token: str
    log: Path
    descendants: dict[int, Any] = field(default_factory=dict)  # pid -> psutil.Process

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def remember_children(self) -> None:
        """Record the server's descendants (kernels) so that stop() can end any survivor
        (as psutil processes: a pid reused by another process is left alone)."""
        import psutil

        with suppress(psutil.Error):
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                self.descendants.setdefault(p.pid, p)


def _env(state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_DATA_DIR": str(state / "data"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "lab-workspaces"),
        "IPYTHONDIR": str(state / "ipython"),
        "MARIMO_SKIP_UPDATE_CHECK": "1",
        "XDG_CONFIG_HOME": str(state / "xdg-config"),
        "XDG_CACHE_HOME": str(state / "xdg-cache"),
        "XDG_STATE_HOME": str(state / "xdg-state"),
        "PYTHONUNBUFFERED": "1",
    }


def _write_kernel_spec(state: Path) -> None:
    """A kernel spec naming this interpreter (the venv's), whatever ``python`` is on PATH."""
    spec = state / "data" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_LABEL,
        "language": "python",
    }))


def _write_lab_settings(state: Path) -> None:
    """No news or update checks (offline), no pop-ups over the notebook."""
    config = state / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {
        "news_url": None, "extension_manager": "readonly",
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}))
    folder = state / "lab-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"}))


def _start(cmd: list[str], state: Path, name: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}-{port}.log"
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(state),
                            cwd=state, stdin=subprocess.DEVNULL)
    out.close()
    return proc, log


def _wait_ready(server: NotebookServer, url: str, headers: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the notebook server exited ({server.proc.returncode}):\n"
                               f"{server.log_tail()}")
        try:
            if httpx.get(url, headers=headers, timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop(server)
    raise RuntimeError(f"the notebook server did not answer {url} within {timeout:.0f} s:\n"
                       f"{server.log_tail()}")


def _require(module: str) -> None:
    import importlib.util

    import pytest

    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed in this environment: install the dev extra "
                    "(`pip install -e '.[dev]'`, as `make install` does)", pytrace=False)


def start_jupyterlab(root: Path, state: Path, timeout: float = 120) -> NotebookServer:
    """``jupyter lab`` serving ``root``, with the kernel spec ``KERNEL_NAME`` (this venv)."""
    for module in ("jupyterlab", "ipykernel", "anywidget"):
        _require(module)
    _write_kernel_spec(state)
    _write_lab_settings(state)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
        "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False", "--ServerApp.use_redirect_file=False",
        "--LanguageServerManager.autodetect=False",
        f"--KernelSpecManager.allowed_kernelspecs={KERNEL_NAME}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    proc, log = _start(cmd, state, "jupyterlab", port)
    server = NotebookServer(proc, f"http://127.0.0.1:{port}", token, log)
    _wait_ready(server, f"{server.base}/api/status", {"Authorization": f"token {token}"}, timeout)
    return server


def start_marimo(notebook: Path, state: Path, timeout: float = 120) -> NotebookServer:
    """``marimo run`` of ``notebook`` (app mode: every cell runs when a page connects)."""
    for module in ("marimo", "anywidget"):
        _require(module)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "marimo", "-y", "-l", "info", "run", str(notebook), "--headless",
        "--host", "127.0.0.1", "--port", str(port), "--token-password", token,
        "--no-sandbox", "--no-skew-protection",
    ]
    proc, log = _start(cmd, state, "marimo", port)
    server = NotebookServer(proc, f"http://127.0.0.1:{port}", token, log)
    _wait_ready(server, f"{server.base}/health", {}, timeout)
    return server


def stop(server: NotebookServer, shutdown: Callable[[], Any] | None = None) -> None:
    """Ask the server to shut down (``shutdown``), else SIGTERM; then end any process it
    started that is still alive (the processes recorded while it ran)."""
    import psutil

    server.remember_children()
    if server.proc.poll() is None:
        try:
            if shutdown is None:
                raise ValueError
            shutdown()
        except (ValueError, httpx.HTTPError):
            server.proc.terminate()
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)
    for child in server.descendants.values():
        with suppress(psutil.Error):
            child.kill()


def stop_jupyterlab(server: NotebookServer) -> None:
    stop(server, lambda: httpx.post(f"{server.base}/api/shutdown", timeout=30,
                                    headers={"Authorization": f"token {server.token}"}))


@dataclass
class PageLog:
    """What the page said: uncaught errors, console errors, refused outside requests."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@contextmanager
def notebook_page(browser: Any, base: str, name: str) -> Iterator[tuple[Any, PageLog]]:
    """A Chromium page whose requests may reach ``base`` only (and data:/blob: URLs)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log = PageLog()
    page.on("pageerror", lambda e: log.page_errors.append(f"{e}\n{getattr(e, 'stack', '')}"))
    page.on("console", lambda m: log.console_errors.append(f"{m.text} @ {m.location}")
            if m.type == "error" else None)

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith((base + "/", "data:", "blob:")) or url == base:
            r.continue_()
        else:
            log.outside.append(url)
            r.abort()

    context.route("**/*", route)
    try:
        yield page, log
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        finally:
            context.close()


WAIT_MS = 120_000


def wait_or_fail(locator: Any, what: str, details: Callable[[], str]) -> None:
    """Wait for ``locator`` to be in the page; else fail naming ``what`` with ``details()``."""
    import pytest
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.first.wait_for(state="attached", timeout=WAIT_MS)
    except PlaywrightTimeout:
        pytest.fail(f"{what} did not happen within {WAIT_MS / 1000:.0f} s.\n{details()}",
                    pytrace=False)


def edges(view: Any) -> list[tuple[str, ...]]:
    """The attention view's edges as sorted (from, to, weight), SVG paths or canvas alike (the
    view's test accessor, see frontend/src/attention/view.ts)."""
    return sorted(tuple(e) for e in view.first.evaluate(
        "v => v.exbertEdges().map(e => [String(e.from), String(e.to), e.weight.toFixed(4)])"))
