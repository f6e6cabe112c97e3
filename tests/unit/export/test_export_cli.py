"""`exbert export` (tiny model folders; the HTML path, which needs no browser)."""

from __future__ import annotations

import re

import pytest

from exbert.cli import build_parser, main


def test_export_is_registered_with_its_options():
    args = build_parser().parse_args(
        ["export", "hi", "--model", "m", "--heads", "0,3", "--layer", "-1", "--out", "x.svg"]
    )
    assert args.heads == [0, 3] and args.layer == -1 and callable(args.run)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "hi", "--heads", "a,b"])


def test_export_writes_html(tiny_dir, tmp_path, capsys):
    out = tmp_path / "view.html"
    rc = main(["export", "The cat sat.", "--model", str(tiny_dir("bert")), "--text-b", "It sat.",
               "--layer", "1", "--heads", "0,3", "--out", str(out)])
    assert rc == 0
    doc = out.read_text()
    assert re.search(r'"heads":\[0,3\]', doc) and '"layer":1' in doc
    assert "wrote" in capsys.readouterr().err


def test_export_errors_are_reported_not_raised(tiny_dir, tmp_path, capsys):
    rc = main(["export", "x", "--model", str(tiny_dir("bert")), "--out", str(tmp_path / "a.txt")])
    assert rc == 2
    assert "format" in capsys.readouterr().err
    rc = main(["export", "x", "--model", str(tiny_dir("bert")), "--layer", "7",
               "--out", str(tmp_path / "a.html")])
    assert rc == 2
    assert "out of range" in capsys.readouterr().err
    assert not (tmp_path / "a.html").exists()
