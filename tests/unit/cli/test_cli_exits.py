"""The one mapping from an outcome to the exit status of ``exbert`` (exbert.cli.exits)."""

from __future__ import annotations

import inspect

import pytest

import exbert.errors as errors
from exbert.cli import build_parser, main
from exbert.cli.exits import EXITS, exit_code

EXPECTED = {
    errors.ExbertError: 2,
    errors.InvalidInput: 2,
    errors.EmptyText: 2,
    errors.TextTooLong: 2,
    errors.AttentionTooLarge: 2,
    errors.TooLargeForBudget: 2,
    errors.InvalidMask: 2,
    errors.MaskNotSupported: 2,
    errors.InvalidRequest: 2,
    errors.NoOutputHead: 2,
    errors.ModelLoadError: 2,
    errors.UnsafeModel: 2,
    errors.PayloadTooLarge: 2,
    errors.NotFound: 3,
    errors.UnknownModel: 3,
    errors.UnknownCorpus: 3,
    errors.UnknownAnalysis: 3,
    errors.CorpusError: 4,
    errors.CorpusCorrupt: 4,
    errors.CorpusMismatch: 4,
    errors.CorpusBuildError: 1,
    errors.CorpusInputError: 2,
    errors.ExportError: 1,
    errors.QueueFull: 1,
    errors.MemoryBudgetExceeded: 1,
}


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_error_class_has_its_code(cls):
    assert exit_code(cls("boom")) == EXPECTED[cls]


def test_every_error_class_is_decided():
    """A new error class must be added to EXPECTED (and so get a deliberate exit code)."""
    found = {c for _, c in inspect.getmembers(errors, inspect.isclass)
             if issubclass(c, errors.ExbertError)}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("exc, code", [
    (KeyboardInterrupt(), 130), (OSError(28, "No space left on device"), 1),
    (ValueError("a bug"), 1),
])
def test_other_exceptions(exc, code):
    assert exit_code(exc) == code


def test_codes_are_unique_and_listed_in_help():
    codes = [e.code for e in EXITS]
    assert len(codes) == len(set(codes)) and {0, 1, 2, 130} <= set(codes)
    text = build_parser().format_help()
    assert "exit status" in text
    for e in EXITS:
        assert f"{e.code:<4} {e.meaning}" in text


@pytest.mark.parametrize("exc, code", [
    (errors.UnknownModel("no model 'x'"), 3), (errors.CorpusCorrupt("bad checksum"), 4),
    (KeyError("k"), 1), (KeyboardInterrupt(), 130),
])
def test_main_prints_one_line_and_returns_the_code(monkeypatch, capsys, exc, code):
    import exbert.cli.analyze as analyze

    def fail(_args):
        raise exc

    monkeypatch.setattr(analyze, "run_models", fail)
    assert main(["models"]) == code
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("exbert models: ")
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["analyze"])
    assert info.value.code == 2
    assert "exbert analyze: error:" in capsys.readouterr().err
