"""``exbert doctor`` on this installation: versions, pipelines, browser, models, caches and the
app bundle, the exit status when a required part is missing, and no heavy import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exbert.cli import doctor, main
from exbert.cli.exits import exit_code
from exbert.errors import NotFound


def report(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(rep: dict) -> dict[str, dict]:
    return {c["name"]: c for c in rep["checks"]}


def test_this_installation_has_every_required_part(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path))
    if not (doctor.STATIC / "index.html").is_file():
        pytest.skip("the browser app is not built here (bash scripts/install.sh)")
    code, rep = report(capsys)
    assert code == 0 and rep["ok"] is True
    checks = by_name(rep)
    for name in ("Python", "exbert", "torch", "transformers", "spaCy", "FAISS", "anywidget",
                 "spaCy pipelines", "export browser", "exbert cache", "HF cache",
                 "app bundle", "widget bundle", "minilm-l6", "smollm2-135m"):
        assert name in checks, name
    from importlib.metadata import version

    assert checks["torch"]["data"]["version"] == version("torch")
    assert checks["Python"]["data"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert checks["app bundle"]["status"] == "OK" and checks["app bundle"]["required"]


def test_spacy_pipelines_are_the_ones_spacy_lists(capsys):
    import spacy.util

    _, rep = report(capsys)
    found = by_name(rep)["spaCy pipelines"]["data"]["pipelines"]
    assert sorted(found) == sorted(spacy.util.get_installed_models())


def test_cache_sizes_are_measured(capsys, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.bin").write_bytes(b"x" * 3000)
    (tmp_path / "b.json").write_bytes(b"y" * 100)
    os.symlink(tmp_path / "b.json", tmp_path / "link.json")  # not counted twice
    monkeypatch.setenv("EXBERT_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    _, rep = report(capsys)
    checks = by_name(rep)
    assert checks["exbert cache"]["data"] == {
        "path": str(tmp_path), "bytes": 3100,
        "set_by": "EXBERT_CACHE, else XDG_CACHE_HOME/exbert"}
    assert checks["HF cache"]["data"]["bytes"] is None
    assert "not created yet" in checks["HF cache"]["detail"]


def test_a_missing_bundle_fails_with_a_hint(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "STATIC", tmp_path / "static")
    assert main(["doctor"]) == exit_code(NotFound("x")) != 0
    out, err = capsys.readouterr()
    assert any(line.split()[:3] == ["MISSING", "app", "bundle"] for line in out.splitlines())
    assert "npm run build" in out and "reinstall exbert from a wheel" in out
    assert err.startswith("exbert doctor: error: required parts missing: app bundle, widget bundle")
    assert "Traceback" not in err


def test_a_missing_required_package_fails_and_an_optional_one_does_not(capsys, monkeypatch):
    extra = (("nope-optional", "exbert-nope-optional", "exbert_nope_optional", False, "opt hint"),)
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + extra)
    if (doctor.STATIC / "index.html").is_file():
        code, rep = report(capsys)
        assert code == 0
        assert by_name(rep)["nope-optional"]["status"] == "missing"
    required = (("nope", "exbert-nope", "exbert_nope", True, "pip install exbert-nope"),)
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + required)
    code, rep = report(capsys)
    assert code == 3 and rep["ok"] is False
    nope = by_name(rep)["nope"]
    assert (nope["status"], nope["hint"]) == ("MISSING", "pip install exbert-nope")


def test_a_bad_exbert_chromium_is_reported_not_raised(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("EXBERT_CHROMIUM", str(tmp_path / "no-such-chrome"))
    _, rep = report(capsys)
    browser = by_name(rep)["export browser"]
    assert browser["status"] == "missing" and not browser["required"]
    assert "EXBERT_CHROMIUM" in browser["detail"] and "apt-get install chromium" in browser["hint"]


def test_doctor_imports_no_heavy_library():
    code = (
        "import sys, contextlib, io\n"
        "from exbert.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['doctor'])\n"
        "heavy = {'torch', 'transformers', 'spacy', 'faiss', 'pyarrow', 'fastapi'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
