"""Build hook (hatchling): every wheel and sdist carries the browser app and the widget.

Before hatchling collects the files, the Vite build of ``frontend/`` writes
``src/exbert/static`` (the app's ``index.html`` + ``assets/``, ``widget/widget.js``,
``standalone/exbert-standalone.js``). It is skipped when that bundle is complete and no
frontend source is newer than it (editable installs by ``scripts/install.sh``, a wheel built
from an sdist that already holds the bundle). Building needs Node's ``npm``; installing the
wheel does not. Without npm and without a bundle the build stops with a message saying so,
except for an editable install, which only warns (``scripts/install.sh`` builds the app).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# What the app build reads (frontend/...) and what it must produce (src/exbert/static/...).
SOURCES = ("src", "index.html", "package.json", "package-lock.json", "tsconfig.json",
           "vite.config.ts", "vite.lib.config.ts")
BUNDLE = ("index.html", "widget/widget.js", "standalone/exbert-standalone.js")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            for sub in path.rglob("*"):
                if sub.is_file():
                    newest = max(newest, sub.stat().st_mtime)
        elif path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


def bundle_is_current(frontend: Path, static: Path) -> bool:
    """The bundle is complete and no frontend source is newer than its oldest file."""
    outputs = [static / name for name in BUNDLE]
    if not all(p.is_file() for p in outputs):
        return False
    if not (frontend / "package.json").is_file():
        return True  # no sources to build from (an unpacked wheel-like tree): take it as is
    built = min(p.stat().st_mtime for p in outputs)
    return _newest([frontend / name for name in SOURCES]) <= built


def build_frontend(root: Path, *, required: bool = True) -> None:
    """Run ``npm ci`` (when node_modules is older than the lock) and ``npm run build``."""
    frontend, static = root / "frontend", root / "src" / "exbert" / "static"
    if bundle_is_current(frontend, static):
        print("exbert: the browser app in src/exbert/static is up to date", file=sys.stderr)
        return
    if not (frontend / "package.json").is_file():
        raise RuntimeError(
            "exbert: src/exbert/static (the browser app) is missing or incomplete and there is no "
            "frontend/ to build it from; build from a clone of the repository or from the sdist"
        )
    npm = shutil.which("npm")
    if npm is None:
        message = (
            "exbert: building the browser app (frontend/ -> src/exbert/static) needs Node.js and "
            "npm, and `npm` is not on the PATH. Install Node.js 20 or newer (Debian: "
            "`apt-get install nodejs npm`) and build again, or install a released wheel, which "
            "carries the app and needs no Node."
        )
        if required:
            raise RuntimeError(message)
        print(f"WARNING: {message}", file=sys.stderr)
        return
    env = {**os.environ, "npm_config_audit": "false", "npm_config_fund": "false"}
    stamp = frontend / "node_modules" / ".package-lock.json"
    lock = frontend / "package-lock.json"
    if not stamp.is_file() or stamp.stat().st_mtime < lock.stat().st_mtime:
        print("exbert: npm ci (frontend/)", file=sys.stderr)
        subprocess.run([npm, "ci", "--loglevel=error"], cwd=frontend, env=env, check=True)
    print("exbert: npm run build (frontend/ -> src/exbert/static)", file=sys.stderr)
    subprocess.run([npm, "run", "build", "--silent"], cwd=frontend, env=env, check=True)
    missing = [name for name in BUNDLE if not (static / name).is_file()]
    if missing:
        raise RuntimeError(f"exbert: the frontend build did not produce {', '.join(missing)}")


class FrontendBuildHook(BuildHookInterface):  # type: ignore[misc]
    """hatchling's custom hook (``[tool.hatch.build.hooks.custom]`` in pyproject.toml)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version != "editable":
            build_frontend(root)
            return
        if all((root / "src" / "exbert" / "static" / name).is_file() for name in BUNDLE):
            return
        try:
            build_frontend(root, required=False)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"WARNING: exbert: the browser app was not built ({exc}); run "
                  "`bash scripts/install.sh` or `cd frontend && npm run build`", file=sys.stderr)
