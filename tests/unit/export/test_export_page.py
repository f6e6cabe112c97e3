"""The self-contained HTML export and its inputs (tiny models; no browser)."""

from __future__ import annotations

import base64
import json
import re

import pytest

import exbert
from exbert.analysis.frame import decode_frame, encode_frame
from exbert.errors import InvalidRequest
from exbert.export import ExportError, export_html, render_html
from exbert.export.html import inline_script, json_for_script
from exbert.view import check_heads, check_layer, view_spec

TEXT = "The cat sat on the mat."


def frame_of(doc: str) -> bytes:
    m = re.search(r'<script type="application/octet-stream" id="exbert-frame">(.*?)</script>',
                  doc, re.S)
    assert m, "no frame in the page"
    return base64.b64decode("".join(m.group(1).split()))


def options_of(doc: str) -> dict:
    m = re.search(r'<script type="application/json" id="exbert-options">(.*?)</script>', doc, re.S)
    assert m
    return json.loads(m.group(1))


def test_html_inlines_the_bundle_and_the_frame(tiny):
    model = tiny("bert")
    a = model.analyze(TEXT, text_b="It purred.")
    doc = export_html(a, layer=1, heads=[0, 2], weights=[2, 1], hide_special=False,
                      threshold=0.5)
    # the frame is the analysis, byte for byte as the server would send it
    assert frame_of(doc) == bytes(encode_frame(a))
    header, att = decode_frame(frame_of(doc))
    assert header["text"] == TEXT and header["text_b"] == "It purred."
    assert att.shape == a.attentions.shape
    assert options_of(doc)["state"] == {
        "layer": 1, "heads": [0, 2], "weights": [2.0, 1.0], "hideSpecial": False,
        "threshold": 0.5, "colorByHead": False, "hideFirst": False,
    }
    # one file: the viewer's code is inline, nothing is loaded from anywhere
    assert "window.exbert" in doc or "exbert=" in doc
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", doc, re.I)
    assert "default-src 'none'" in doc
    assert len(re.findall(r"</script", doc, re.I)) == 5  # options, frame, lenses, rollout, bundle


def test_html_from_a_model_and_text_and_to_a_file(tiny, tmp_path):
    model = tiny("gpt2")
    out = tmp_path / "view.html"
    doc = export_html(model, "Hello there world", layer=-1, out=out)
    assert out.read_text(encoding="utf-8") == doc
    header, _ = decode_frame(frame_of(doc))
    assert header["kind"] == "autoregressive"
    assert options_of(doc)["state"]["layer"] == header["n_layers"] - 1


def test_html_can_store_only_some_layers(tiny):
    a = tiny("bert").analyze(TEXT)
    doc = export_html(a, layer=1, layers=[0])
    header, att = decode_frame(frame_of(doc))
    assert header["attention"]["layers"] == [0, 1]  # the shown layer is always stored
    assert att.shape[0] == 2


def test_user_text_cannot_break_out_of_the_page(tiny):
    evil = "</script><script>alert(1)</script> <!-- x"
    a = tiny("bert").analyze(evil)
    doc = export_html(a, title=evil)
    assert "<script>alert(1)" not in doc
    assert options_of(doc)["title"] == evil
    assert decode_frame(frame_of(doc))[0]["text"] == evil


def test_inline_script_escaping():
    js = 'const a = "</script>", b = /<\\/SCRIPT/i, c = "<!--";'
    out = inline_script(js)
    assert "</script" not in out.lower() and "<!--" not in out
    assert out == 'const a = "<\\/script>", b = /<\\/SCRIPT/i, c = "\\x3C!--";'
    assert json_for_script({"t": "<&>"}) == '{"t":"\\u003c\\u0026\\u003e"}'


def test_view_validation():
    assert check_layer(None, 6) == 0
    assert check_layer(-1, 6) == 5
    with pytest.raises(InvalidRequest, match="out of range"):
        check_layer(6, 6)
    assert check_heads("3,0,3", 12) == [0, 3]
    assert check_heads(None, 12) is None
    with pytest.raises(InvalidRequest, match="head 12"):
        check_heads([12], 12)
    with pytest.raises(InvalidRequest, match="2 weights for 3"):
        view_spec(2, 4, heads=[0, 1, 2], weights=[1, 2])
    # weights without heads: all heads, explicitly
    assert view_spec(2, 3, weights=[1, 1, 2]).heads == [0, 1, 2]
    with pytest.raises(InvalidRequest, match="threshold"):
        view_spec(2, 3, threshold=0)


def test_analysis_and_text_are_not_both_given(tiny):
    a = tiny("bert").analyze(TEXT)
    with pytest.raises(InvalidRequest):
        export_html(a, "another text")
    with pytest.raises(InvalidRequest, match="text"):
        export_html(tiny("bert"))


def test_missing_bundle_is_a_clear_error(monkeypatch, tiny, tmp_path):
    import exbert.export._common as common

    monkeypatch.setattr(common, "STATIC", tmp_path)
    with pytest.raises(ExportError, match="npm run build"):
        render_html(b"EXB1", view_spec(1, 1))


def test_lazy_top_level_names():
    assert exbert.export_html is export_html
    assert callable(exbert.export_svg) and callable(exbert.export_png) and callable(exbert.show)
    assert {"show", "export_html", "export_svg", "export_png"} <= set(exbert.__all__)


def test_drawing_options_reach_the_page_the_cli_and_the_widget(tiny, tiny_dir, tmp_path):
    """Colour by head and hide-the-first-token travel from every entry point to the viewer's
    state (the drawing itself is tested in the browser: tests/e2e/test_draw_options.py)."""
    from exbert.cli import main

    model = tiny("llama")
    doc = export_html(model, TEXT, heads=[0, 1], color_by_head=True, hide_first=True)
    state = options_of(doc)["state"]
    assert state["colorByHead"] is True and state["hideFirst"] is True
    out = tmp_path / "v.html"
    assert main(["export", TEXT, "--model", str(tiny_dir("llama")), "--out", str(out),
                 "--color-by-head", "--hide-first"]) == 0
    state = options_of(out.read_text(encoding="utf-8"))["state"]
    assert state["colorByHead"] is True and state["hideFirst"] is True
    w = exbert.show(model, TEXT, color_by_head=True, hide_first=True)
    assert w.color_by_head is True and w.hide_first is True
    assert w._view()["color_by_head"] is True and w._view()["hide_first"] is True
