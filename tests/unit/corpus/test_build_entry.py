"""``exbert.corpus.build`` is the build function, also after its module was imported by name
(a submodule import binds the module on the package unless the package rebinds the name)."""

from __future__ import annotations

import importlib


def test_build_is_the_function_after_a_module_import() -> None:
    module = importlib.import_module("exbert.corpus.build")
    import exbert.corpus
    from exbert.corpus import build

    assert callable(build) and build is module.build and exbert.corpus.build is module.build
