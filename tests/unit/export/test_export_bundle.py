"""The built JavaScript that the Python package ships for the widget and the HTML export:
present, self-contained (no import of anything by URL, no CDN), CSS inside."""

from __future__ import annotations

import re

import pytest

from exbert.export._common import STATIC

WIDGET = STATIC / "widget" / "widget.js"
STANDALONE = STATIC / "standalone" / "exbert-standalone.js"

# import ... from "http...", import("http..."), import "http...", export ... from "http..."
URL_IMPORT = re.compile(
    r"""(?:\bimport\b[^;'"`]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bexport\b[^;'"`]*?\bfrom\s*)"""
    r"""['"`]\s*(?:https?:)?//""",
    re.I,
)
# any URL outside the XML namespace names that DOM code needs
URL = re.compile(r"""https?://[^\s'"`)<>]+""")
NAMESPACES = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/xmlns/",
    "http://www.w3.org/XML/1998/namespace",
}


def read(path) -> str:
    if not path.is_file():
        pytest.fail(f"{path} is not built: run `cd frontend && npm run build`")
    return path.read_text("utf-8")


@pytest.mark.parametrize("path", [WIDGET, STANDALONE], ids=["widget", "standalone"])
def test_bundle_loads_nothing_by_url(path):
    js = read(path)
    assert not URL_IMPORT.search(js), URL_IMPORT.search(js)
    assert set(URL.findall(js)) <= NAMESPACES, set(URL.findall(js)) - NAMESPACES
    assert "fetch(" not in js  # the viewer never asks a server for anything
    assert "@import" not in js


def test_url_import_pattern_catches_what_it_should():
    for bad in ('import x from "https://esm.sh/d3"', "import('http://cdn/x.js')",
                'import "https://cdn/x.css"', 'export { a } from "//cdn/y.js"',
                "import {a as b} from 'https://unpkg.com/anywidget'"):
        assert URL_IMPORT.search(bad), bad
    assert not URL_IMPORT.search('import { a } from "./b.js"')


def test_widget_is_an_es_module_with_a_render_and_inline_css():
    js = read(WIDGET)
    assert re.search(r"export\s*\{[^}]*\bas default\b", js)
    assert "render" in js
    # the stylesheet travels inside the module (shadow root), with the app's rules
    assert ".attention-view" in js and ".head-box" in js
    # no other chunk: a relative import would not resolve from anywidget's blob URL
    assert not re.search(r"""\bimport\b[^;'"]*?['"]\.{1,2}/""", js)


def test_standalone_is_one_classic_script():
    js = read(STANDALONE)
    assert not re.search(r"^\s*(import|export)\b", js, re.M)
    assert ".attention-view" in js
