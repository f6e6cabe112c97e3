"""The build reduces each padded batch in torch (``reduce.reduce_batch``): what it stores must
equal what the per-sentence analysis gives, for masked and causal models (padding differs:
padded query rows of a masked LM attend to real keys, and must not win an inward argmax)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.analysis.run import encode, encode_texts
from exbert.corpus import build
from exbert.corpus import vectors as vec
from exbert.errors import ExbertError, TextTooLong
from exbert.search import Corpus
from exbert.view import hidden_to_layer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]

TEXT = """Holmes sat down. The detective looked at the door very carefully and said nothing at \
all for a long while, which worried Watson.

I don't think the well-known café 😀 is open. It was late in the evening when the king of \
Bohemia, a tall man with a mask, came up the stairs to see us. She smiled.
"""


def expected_attention(att: np.ndarray, special: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[H, T, T] -> the stored columns [T, 2H+2]: argmaxes among the non-special tokens
    (-1 for a special token) and their weights."""
    att = att.copy()
    att[:, special, :] = 0
    att[:, :, special] = 0
    mean = att.mean(axis=0)
    idx = np.concatenate([att.argmax(-1), att.argmax(-2), mean.argmax(-1)[None],
                          mean.argmax(-2)[None]]).T
    w = np.concatenate([att.max(-1), att.max(-2), mean.max(-1)[None], mean.max(-2)[None]]).T
    idx[special] = -1
    return idx, w


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_stored_rows_equal_per_sentence_analysis(tmp_path: Path, tiny: Any,
                                                 family: str) -> None:
    model = tiny(family)
    (tmp_path / "in.txt").write_text(TEXT, encoding="utf-8")
    # one shard, small batches: sentences of different lengths share padded batches
    build(tmp_path / "in.txt", model, tmp_path / "out", layers="all", batch_tokens=64,
                progress=False)
    corpus = Corpus.open(tmp_path / "out", model)
    data = next((tmp_path / "out").glob("v-*")) / "000000"  # one shard
    info = model.info
    tokens = np.load(data / "tokens.npy")
    sentences = np.load(data / "sentences.npy")
    assert len(sentences) >= 5
    for s in range(len(sentences)):
        text = corpus.sentence_text(s)
        a = model.analyze(text, top_k=0)
        rows = np.flatnonzero(tokens["sentence"] == s)
        assert tokens["input_id"][rows].tolist() == list(a.input_ids)
        special = np.array([t.special for t in a.tokens])
        for layer in range(1, info.layers + 1):
            idx, w = expected_attention(a.attentions[layer - 1], special)
            stored = np.load(data / f"attn_L{layer:02d}.npy")[rows]
            weights = np.load(data / f"attnw_L{layer:02d}.npy")[rows].astype(np.float32)
            # near-ties may break either way after float rounding: compare weights there
            same = stored == idx
            assert same.mean() > 0.97, (family, layer, s)
            # never a special target; special tokens themselves have none
            assert (stored[special] == -1).all()
            targets = stored[~special]
            assert (targets >= 0).all() and not special[targets].any()
            np.testing.assert_allclose(weights, w, rtol=2e-3, atol=2e-3)
        for layer in (0, info.layers):  # hidden-state indices: the embeddings, the last layer
            stored_vec = corpus.stored_vectors("emb", hidden_to_layer(layer), rows)
            live = vec.rotate_query(vec.unit_rows(a.hidden_states[layer]), corpus.rotation("emb"))
            cos = (stored_vec * live).sum(-1) / np.linalg.norm(stored_vec, axis=-1)
            assert cos.min() > 0.99, (family, layer, s)


def test_encode_texts_equals_encode(tiny: Any) -> None:
    model = tiny("bert")
    texts = ["Holmes sat down.", "I don't think the café 😀 is open.", "  ", "a " * 400]
    out = encode_texts(model, texts)
    for text, got in zip(texts[:2], out[:2], strict=True):
        assert not isinstance(got, ExbertError)
        assert got == encode(model, text)
    assert isinstance(out[2], ExbertError)
    assert isinstance(out[3], TextTooLong)


def test_spacy_runs_ahead_but_stops_near_what_the_build_wants(tmp_path: Path) -> None:
    """The reader thread buffers spaCy's sentences (spaCy is not throttled by the pipe), and
    with a sentence limit it stops SPARE sentences beyond it: spaCy is then idle, and the
    build gives the forward pass every core."""
    import time

    from exbert.corpus.config import DEFAULT_SPACY
    from exbert.corpus.sources import SPARE, SentenceSource
    from exbert.corpus.storage import sha256_file

    src = tmp_path / "in.txt"
    src.write_text("\n\n".join(f"Sentence number {i} is here. And another one {i} follows."
                               for i in range(60)), encoding="utf-8")
    source = SentenceSource(DEFAULT_SPACY, src, sha256_file(src), "txt", 2, None)
    try:
        source.run((0, 0), wanted=4)
        got = [source.next() for _ in range(4)]
        assert [s.cursor for s in got if s is not None] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        child = source._child
        assert child is not None
        deadline = time.monotonic() + 30
        while source.spacy_busy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not source.spacy_busy
        assert child._produced == 4 + SPARE
        # asking for more than announced goes on past the limit
        rest = [source.next() for _ in range(2 * SPARE)]
        assert all(s is not None for s in rest)
    finally:
        source.close()


def test_spacy_worker_starts_without_torch_unless_the_pipeline_needs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CNN pipelines load with torch hidden (0.7 s less start-up); a pipeline that imports
    torch fails that way, and the worker starts again with torch and works."""
    from exbert.corpus.config import DEFAULT_SPACY
    from exbert.corpus.sources import SpacyProcess

    (tmp_path / "needs_torch_pipeline").mkdir()
    (tmp_path / "needs_torch_pipeline" / "__init__.py").write_text(
        "import torch\nimport spacy\n\n\ndef load(**overrides):\n"
        "    nlp = spacy.blank('en')\n    nlp.add_pipe('sentencizer')\n    return nlp\n")
    dist = tmp_path / "needs_torch_pipeline-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: needs_torch_pipeline\n"
                                   "Version: 1.0.0\n")
    (dist / "top_level.txt").write_text("needs_torch_pipeline\n")
    src = tmp_path / "in.txt"
    src.write_text("Holmes sat down. Watson stood up.", encoding="utf-8")

    worker = SpacyProcess(DEFAULT_SPACY)
    try:
        assert worker.meta["torch"] is False
    finally:
        worker.close()
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    worker = SpacyProcess("needs_torch_pipeline")
    try:
        assert worker.meta["torch"] is True
        worker.run([src], (0, 0), 2)
        texts = [msg["text"] for msg in iter(worker.next, None)]
        assert texts == ["Holmes sat down.", "Watson stood up."]
    finally:
        worker.close()
