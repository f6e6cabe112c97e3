"""A sharded corpus (schema 3) on MiniLM and ~400 sentences of the shipped Holmes text: search
over its shards equals search over the same corpus unsharded (property test over random
queries, filters, k) and brute force over the concatenation of every shard's stored vectors;
global ids, labels, head ranking, info; a missing or corrupt shard is named before anything
is loaded; `exbert corpus index --approximate` adds per-shard indexes (and a killed run leaves
the corpus as it was); PQ-stored chunks are read; a schema-2 corpus still opens."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shard_split import copy_corpus, split_corpus, to_pq, to_schema2

from exbert.corpus import build, storage
from exbert.corpus import vectors as vec
from exbert.corpus.demo import holmes_text
from exbert.corpus.manifest import MANIFEST
from exbert.errors import CorpusCorrupt, CorpusError, InvalidRequest
from exbert.search import Corpus

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_cache")]

N_SENTENCES = 400
PER_SHARD = 40
FILTERS: list[Any] = [None, {"pos": "NOUN"}, ["pos=VERB,ADJ"], {"is_stop": False},
                      ["pos!=PUNCT", "dep=nsubj"], {"ent_type": "PERSON"}]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory, minilm_model: Any) -> dict[str, Path]:
    """``plain``: the corpus in one folder (schema 2, as built before shards); ``sharded``:
    the same corpus cut into shards of PER_SHARD sentences (the last one shorter); ``built``:
    a sharded build of the same input (PER_SHARD sentences per shard)."""
    root = tmp_path_factory.mktemp("corpus-shards")
    paragraphs = [p for p in holmes_text().split("\n\n") if len(p.split()) > 8]
    (root / "in.txt").write_text("\n\n".join(paragraphs[:160]), encoding="utf-8")
    options = {"layers": "embeddings,2,5", "max_sentences": N_SENTENCES, "progress": False}
    build(root / "in.txt", minilm_model, root / "one", shard_sentences=100_000, **options)
    to_schema2(root / "one", root / "plain")
    plain = Corpus.open(root / "plain")
    n = plain.n_sentences
    assert n >= N_SENTENCES - 20 and plain.manifest.schema_version == 2
    plain.close()
    bounds = [*range(0, n, PER_SHARD), n]
    split_corpus(root / "plain", root / "sharded", bounds)
    build(root / "in.txt", minilm_model, root / "built", shard_sentences=PER_SHARD, **options)
    return {"root": root, "plain": root / "plain", "sharded": root / "sharded",
            "built": root / "built"}


@pytest.fixture(scope="module")
def plain(dirs: dict[str, Path]) -> Corpus:
    return Corpus.open(dirs["plain"])


@pytest.fixture(scope="module")
def sharded(dirs: dict[str, Path]) -> Corpus:
    return Corpus.open(dirs["sharded"])


def _brute(corpus: Corpus, kind: str, layer: Any, q: np.ndarray, k: int,
           mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Top k by numpy over the concatenation of every shard's stored vectors."""
    vectors = corpus.stored_vectors(kind, layer, np.arange(corpus.n_tokens))
    scores = vectors @ q
    ids = np.arange(corpus.n_tokens) if mask is None else np.flatnonzero(mask)
    order = np.lexsort((ids, -scores[ids]))[:k]
    return scores[ids][order], ids[order]


def _mask(corpus: Corpus, filters: Any, include_special: bool) -> np.ndarray:
    """The allowed tokens, computed from the global tables (independently of the masks)."""
    t, w, lab = corpus.tokens, corpus.words, corpus.labels
    word = np.asarray(t["word"], dtype=np.int64)
    has = word >= 0
    ok = np.ones(len(t), dtype=bool) if include_special else ~np.asarray(t["special"], bool)

    def label(field: str) -> np.ndarray:
        ids = np.asarray(w[field], dtype=np.int64)[np.maximum(word, 0)]
        return np.where(has, np.asarray(lab[field], dtype=object)[ids], None)

    conds = [] if filters is None else (
        [f"{k}={v}" for k, v in filters.items()] if isinstance(filters, dict) else filters)
    for c in conds:
        name, _, value = c.partition("=")
        neg = name.endswith("!")
        name = name.rstrip("!")
        if name == "is_stop":
            sel = (np.asarray(w["flags"])[np.maximum(word, 0)] & 1) != 0
            sel = sel == (value.lower() == "true")
        else:
            sel = np.isin(label(name), value.split(","))
        ok &= (~sel if neg else sel) & has
    return ok


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), layer=st.sampled_from(["embeddings", 2, 5]),
       k=st.sampled_from([1, 7, 50, 400]), f=st.integers(0, len(FILTERS) - 1),
       include_special=st.booleans(), by=st.sampled_from(["emb", "ctx"]))
def test_sharded_search_equals_unsharded(plain: Corpus, sharded: Corpus, seed: int, layer: Any,
                                         k: int, f: int, include_special: bool,
                                         by: str) -> None:
    rng = np.random.default_rng(seed)
    filters = FILTERS[f]
    if by == "emb":
        v = rng.standard_normal(384).astype(np.float32)
        a = plain.search_embedding(v, layer, k, filters, include_special=include_special)
        b = sharded.search_embedding(v, layer, k, filters, include_special=include_special)
        q, factor, kind = vec.rotate_query(vec.unit_rows(v), sharded.rotation("emb")), 1.0, "emb"
    else:
        layer = 5 if layer == "embeddings" else layer
        heads = sorted(rng.choice(12, size=int(rng.integers(1, 13)), replace=False).tolist())
        c = rng.standard_normal((12, 32)).astype(np.float32)
        a = plain.search_context(c, layer, heads, k, filters, include_special=include_special)
        b = sharded.search_context(c, layer, heads, k, filters, include_special=include_special)
        q, factor = vec.context_query(c, heads)
        q, kind = vec.rotate_query(q, sharded.rotation("ctx")), "ctx"
    # the same matches, scores, rows and summaries as one unsharded index
    assert [m.token_id for m in b.matches] == [m.token_id for m in a.matches]
    assert [m.score for m in b.matches] == [m.score for m in a.matches]
    assert [m.to_dict() for m in b.matches] == [m.to_dict() for m in a.matches]
    assert b.summary.to_dict() == a.summary.to_dict()
    assert b.max_attention_unavailable == a.max_attention_unavailable and b.exact
    # and brute force over the shards' stored vectors, with the mask from the global tables
    s, ids = _brute(sharded, kind, layer, q, k, _mask(sharded, filters, include_special))
    got = np.array([m.score for m in b.matches])
    np.testing.assert_allclose(got, np.clip(s * factor, -1, 1), atol=1e-5)
    tied = np.abs(s - s[-1]) < 1e-6 if len(s) else s
    assert [m.token_id for m, t in zip(b.matches, tied, strict=True) if not t] == [
        int(i) for i, t in zip(ids, tied, strict=True) if not t]


def test_global_ids_tables_and_head_ranking(plain: Corpus, sharded: Corpus) -> None:
    assert sharded.n_tokens == plain.n_tokens and len(sharded.parts) == len(
        sharded.manifest.raw["shards"]) > 5
    offsets = sharded.manifest.shard_offsets()
    assert offsets[0] == (0, 0) and offsets[1] == (sharded.parts[0].counts()[1], 40)
    for sid in (0, 39, 40, 41, 123, sharded.n_sentences - 1):
        assert sharded.sentence_text(sid) == plain.sentence_text(sid)
        assert sharded.sentence_tokens(sid) == plain.sentence_tokens(sid)
    for tid in (0, offsets[3][0] - 1, offsets[3][0], plain.n_tokens - 1):
        assert sharded.sentence_of(tid) == plain.sentence_of(tid)
    for name in ("sentences", "tokens"):
        assert np.array_equal(getattr(sharded, name), getattr(plain, name))
    for field in ("pos", "dep", "lemma", "ent_type"):  # each shard has its own label ids
        mine = np.asarray(sharded.labels[field], dtype=object)[sharded.words[field]]
        theirs = np.asarray(plain.labels[field], dtype=object)[plain.words[field]]
        assert (mine == theirs).all()
    assert set(sharded.labels["pos"]) == set(plain.labels["pos"])
    assert sharded.tables.filter_labels()["dep"] == [x for x in sharded.labels["dep"] if x]
    assert sharded.head_ranking() == plain.head_ranking()
    ids = np.array([5, offsets[2][0] + 3, plain.n_tokens - 1])
    assert np.array_equal(sharded.stored_vectors("emb", 2, ids), plain.stored_vectors(
        "emb", 2, ids))
    assert sharded.max_attention(ids, 5) == plain.max_attention(ids, 5)
    assert sharded.max_attention(ids, 5)[0][1] is not None
    info = sharded.info()
    assert info["shards"] == len(sharded.parts) and info["storage"] == {"vectors": "sq8"}
    assert info["counts"] == plain.info()["counts"] and info["bytes_per_token"] > 0
    assert plain.info()["shards"] == 1 and plain.manifest.schema_version == 2


def test_filters_over_shards(sharded: Corpus) -> None:
    """A label only some shards have matches there; a label no shard has is a 422."""
    per_shard = [set(p.labels()["ent_type"]) for p in sharded.parts]
    rare = next(x for x in sharded.labels["ent_type"] if x and sum(
        x in s for s in per_shard) < len(per_shard))
    v = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    r = sharded.search_embedding(v, 2, 500, {"ent_type": rare.lower()})
    assert r.matches and all(m.token.ent_type == rare for m in r.matches)
    assert len(r.matches) == int(_mask(sharded, {"ent_type": rare}, False).sum())
    with pytest.raises(InvalidRequest, match="known values") as err:
        sharded.search_embedding(v, 2, 5, {"pos": "VERBB"})
    assert "NOUN" in err.value.details["known"]
    r = sharded.search_embedding(v, 2, 5, ["pos!=VERBB"])  # a negated unknown value: fine
    assert len(r.matches) == 5
    with pytest.raises(InvalidRequest, match="no document metadata"):
        sharded.search_embedding(v, 2, 5, {"doc.source": "x"})


def _corrupted(dirs: dict[str, Path], tmp: Path, name: str) -> tuple[Path, dict[str, Any]]:
    d = copy_corpus(dirs["sharded"], tmp / name)
    return d, json.loads((d / MANIFEST).read_text("utf-8"))


def test_missing_or_corrupt_shard_is_named(dirs: dict[str, Path], tmp_path: Path) -> None:
    d, raw = _corrupted(dirs, tmp_path, "missing-file")
    shard = d / raw["data_dir"] / "000003"
    (shard / "attn_L06.npy").unlink()
    with pytest.raises(CorpusCorrupt, match=r"000003/attn_L06\.npy is missing"):
        Corpus.open(d)
    d, raw = _corrupted(dirs, tmp_path, "truncated")
    chunk = d / raw["data_dir"] / "000007" / "emb_L03.c0000.faiss"
    chunk.write_bytes(chunk.read_bytes()[:-10])
    with pytest.raises(CorpusCorrupt, match=r"000007/emb_L03\.c0000\.faiss \(shard 000007\) "
                                            "is corrupt") as err:
        Corpus.open(d)
    assert err.value.details["shard"] == "000007"
    d, raw = _corrupted(dirs, tmp_path, "no-folder")
    shutil.rmtree(d / raw["data_dir"] / "000002")
    with pytest.raises(CorpusCorrupt, match=r"shard folder v-[^ ]+/000002 is missing"):
        Corpus.open(d)
    d, raw = _corrupted(dirs, tmp_path, "flipped")  # same size, other bytes: the checksum
    words = d / raw["data_dir"] / "000004" / "words.npy"
    data = bytearray(words.read_bytes())
    data[-1] ^= 0xFF
    words.write_bytes(bytes(data))
    with pytest.raises(CorpusCorrupt, match=r"000004/words\.npy \(shard 000004\).*checksum"):
        Corpus.open(d)
    for edit, match in ((lambda r: r["shards"][1].update(tokens=1), "the shards hold"),
                         (lambda r: r["shards"][2].update(dir="../x"), "bad shard folder"),
                         (lambda r: r["shards"][3].pop("chunks"), "shard 000003: incomplete"),
                         (lambda r: r.update(shards=[]), "lists no shards")):
        d, raw = _corrupted(dirs, tmp_path, f"manifest-{match.split()[-1]}")
        edit(raw)
        (d / MANIFEST).write_text(json.dumps(raw), "utf-8")
        with pytest.raises(CorpusCorrupt, match=match):
            Corpus.open(d)


def test_corpus_index_approximate(dirs: dict[str, Path], tmp_path: Path, sharded: Corpus,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from exbert.cli import main

    d = copy_corpus(dirs["sharded"], tmp_path / "indexed")
    before = (d / MANIFEST).read_bytes()
    v = np.random.default_rng(3).standard_normal(384).astype(np.float32)
    with pytest.raises(InvalidRequest, match="corpus index DIR --approximate"):
        sharded.search_embedding(v, 5, 10, exact=False)
    # killed after writing some index files: the old manifest still holds and opens
    calls = []

    def die(path: Path) -> None:
        if path.name.startswith("ivf_"):
            calls.append(path)
            if len(calls) > 5:
                raise KeyboardInterrupt

    storage.WRITE_HOOK = die
    try:
        assert main(["corpus", "index", str(d), "--approximate"]) == 130
    finally:
        storage.WRITE_HOOK = None
    assert (d / MANIFEST).read_bytes() == before
    assert not Corpus.open(d).has_approximate
    assert main(["corpus", "index", str(d), "--approximate"]) == 0
    out = capsys.readouterr().out
    assert f"{5 * len(sharded.parts)} approximate indexes added" in out and "MB" in out
    c = Corpus.open(d)
    assert c.has_approximate and c.info()["approximate"]
    assert all(set(p.approximate_keys()) == {"emb_L00", "emb_L03", "emb_L06", "ctx_L03",
                                             "ctx_L06"} for p in c.parts)
    rng = np.random.default_rng(4)
    for layer in ("embeddings", 2, 5):  # queries near the corpus's vectors, as real ones are
        recall = []
        for tid in rng.choice(c.n_tokens, 8, replace=False):
            x = c.stored_vectors("emb", layer, [tid])[0] @ c.rotation("emb").T
            x = x + rng.standard_normal(384).astype(np.float32) * 0.3 * np.linalg.norm(x) / 20
            exact = c.search_embedding(x, layer, 20, include_special=True)
            approx = c.search_embedding(x, layer, 20, include_special=True, exact=False)
            assert approx.exact is False  # the best (the token itself, or a twin) is found
            assert approx.matches[0].score == pytest.approx(exact.matches[0].score, abs=1e-5)
            recall.append(len({m.token_id for m in exact.matches}
                              & {m.token_id for m in approx.matches}) / 20)
        assert np.mean(recall) >= 0.9, (layer, recall)
    # a second run keeps them; --json reports
    assert main(["corpus", "index", str(d), "--approximate", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexes"] == 0 and all(len(k) == 5 for k in report["kept"].values())
    assert main(["corpus", "index", str(d), "--approximate", "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexes"] == 5 * len(sharded.parts)
    assert Corpus.open(d).has_approximate
    # errors: not a corpus (exit 4), no --approximate (exit 2)
    assert main(["corpus", "index", str(tmp_path), "--approximate"]) == 4
    assert main(["corpus", "index", str(d)]) == 2
    # a schema-2 corpus is indexed in its one folder
    p = copy_corpus(dirs["plain"], tmp_path / "plain-indexed")
    assert main(["corpus", "index", str(p), "--approximate"]) == 0
    assert Corpus.open(p).has_approximate


def test_pq_chunks_are_read(dirs: dict[str, Path], tmp_path: Path, sharded: Corpus) -> None:
    """A shard whose chunks are PQ codes: stored vectors are the decoded codes, and the
    exact search is the brute force over them (filtered or not)."""
    d = copy_corpus(dirs["sharded"], tmp_path / "pq")
    to_pq(d, 2, "emb_L06")
    c = Corpus.open(d)
    off = c.manifest.shard_offsets()[2][0]
    n2 = c.parts[2].counts()[1]
    pq = c.stored_vectors("emb", 5, np.arange(off, off + n2))
    sq = sharded.stored_vectors("emb", 5, np.arange(off, off + n2))
    assert not np.array_equal(pq, sq) and np.mean(np.sum(pq * sq, 1)) > 0.5
    rng = np.random.default_rng(5)
    for filters in (None, {"pos": "NOUN"}):
        v = rng.standard_normal(384).astype(np.float32)
        q = vec.rotate_query(vec.unit_rows(v), c.rotation("emb"))
        r = c.search_embedding(v, 5, 30, filters)
        s, ids = _brute(c, "emb", 5, q, 30, _mask(c, filters, False))
        np.testing.assert_allclose([m.score for m in r.matches], np.clip(s, -1, 1), atol=1e-4)
        assert len({m.token_id for m in r.matches} & set(ids.tolist())) >= 28
    from exbert.corpus.indexing import add_approximate

    report = add_approximate(d)
    assert report.n_built == 5 * len(c.parts)
    assert Corpus.open(d).search_embedding(v, 5, 5, exact=False).matches


def test_index_refuses_a_corrupt_shard(dirs: dict[str, Path], tmp_path: Path) -> None:
    from exbert.corpus.indexing import add_approximate

    d, raw = _corrupted(dirs, tmp_path, "index-corrupt")
    (d / raw["data_dir"] / "000001" / "emb_L00.c0000.faiss").unlink()
    before = (d / MANIFEST).read_bytes()
    with pytest.raises(CorpusCorrupt, match=r"000001/emb_L00\.c0000\.faiss \(shard 000001\) "
                                            "is missing"):
        add_approximate(d)
    assert (d / MANIFEST).read_bytes() == before
    with pytest.raises(CorpusError, match="not a corpus"):
        add_approximate(tmp_path)


def test_a_sharded_build_searches_like_brute_force(dirs: dict[str, Path], plain: Corpus
                                                   ) -> None:
    """The build's own shards (PER_SHARD sentences each): the same sentences as the one-folder
    corpus, and exact search = brute force over its shards' stored vectors."""
    c = Corpus.open(dirs["built"])
    if c.manifest.schema_version == 2:
        pytest.skip("this build writes one folder")  # the builds before shards
    assert len(c.parts) == -(-plain.n_sentences // PER_SHARD) and c.n_tokens == plain.n_tokens
    assert [c.sentence_text(s) for s in range(c.n_sentences)] == [
        plain.sentence_text(s) for s in range(plain.n_sentences)]
    assert np.array_equal(c.tokens["input_id"], plain.tokens["input_id"])
    mine, theirs = c.head_ranking(), plain.head_ranking()  # the shards' counts summed
    assert mine.eligible == theirs.eligible and mine.layers == theirs.layers
    for rel in theirs.relations:
        a, b = np.array(mine.counts[rel]), np.array(theirs.counts[rel])
        assert np.abs(a - b).sum() <= 0.02 * b.sum() + 2
    rng = np.random.default_rng(11)
    for layer, filters in (("embeddings", None), (2, {"pos": "NOUN"}), (5, ["is_stop=false"])):
        v = rng.standard_normal(384).astype(np.float32)
        q = vec.rotate_query(vec.unit_rows(v), c.rotation("emb"))
        r = c.search_embedding(v, layer, 40, filters)
        s, ids = _brute(c, "emb", layer, q, 40, _mask(c, filters, False))
        np.testing.assert_allclose([m.score for m in r.matches], s, atol=1e-5)
        assert len({m.token_id for m in r.matches} & set(ids.tolist())) >= 38


PROTOCOL = {"counts", "labels", "document_fields", "document_values", "heads", "has_special", "approximate_keys",
            "rotation", "total_bytes", "top", "rows", "max_attention", "vectors",
            "sentence_text", "sentence_of", "sentence_tokens", "document", "table", "verify",
            "close"}


class _Remote:
    """A part seen only through the protocol, every argument and answer pickled (as a Ray
    actor would see them)."""

    def __init__(self, part: Any) -> None:
        self._part = part

    def __getattr__(self, name: str) -> Any:
        if name not in PROTOCOL:
            raise AttributeError(name)
        method = getattr(self._part, name)

        def call(*args: Any) -> Any:
            return pickle.loads(pickle.dumps(method(*pickle.loads(pickle.dumps(args)))))

        return call


def test_part_factory_uses_only_the_picklable_protocol(dirs: dict[str, Path],
                                                       sharded: Corpus) -> None:
    from exbert.search.part import open_local_parts

    calls = []

    def factory(shards: list[Any], path: Path) -> list[Any]:
        calls.append(len(shards))
        return [_Remote(p) for p in open_local_parts(shards, path)]

    c = Corpus.open(dirs["sharded"], part_factory=factory)
    assert calls == [len(sharded.parts)]
    v = np.random.default_rng(8).standard_normal(384).astype(np.float32)
    for layer, filters in (("embeddings", None), (5, {"pos": "NOUN"})):
        a = sharded.search_embedding(v, layer, 30, filters)
        b = c.search_embedding(v, layer, 30, filters)
        assert [m.to_dict() for m in b.matches] == [m.to_dict() for m in a.matches]
    ctx = np.random.default_rng(9).standard_normal((12, 32)).astype(np.float32)
    assert c.search_context(ctx, 2, [1, 4], 10).to_dict()["matches"] == sharded.search_context(
        ctx, 2, [1, 4], 10).to_dict()["matches"]
    assert c.head_ranking() == sharded.head_ranking() and c.labels == sharded.labels
    assert c.info()["bytes"] == sharded.info()["bytes"] and c.tables.filter_labels()
    assert c.sentence_tokens(77) == sharded.sentence_tokens(77)
    assert np.array_equal(c.words, sharded.words)
    c.verify()
    c.close()
    # the listings are checked before the factory loads anything
    d, raw = _corrupted(dirs, dirs["root"] / "factory-tmp", "factory")
    (d / raw["data_dir"] / "000005" / "text.bin").write_bytes(b"")
    with pytest.raises(CorpusCorrupt, match=r"000005/text\.bin \(shard 000005\)"):
        Corpus.open(d, part_factory=factory)
    assert len(calls) == 1


def test_a_pq_build_is_read_and_indexed(dirs: dict[str, Path], plain: Corpus,
                                        minilm_model: Any, tmp_path: Path) -> None:
    """``--vectors pq``: shards of at least PQ_MIN_VECTORS vectors store IndexPQ codes, the
    smaller last shard keeps sq8; the reader finds out from the files; exact search is the
    brute force over the decoded vectors; `corpus index` adds IVF indexes over them."""
    from exbert.corpus.indexing import add_approximate

    try:
        build(dirs["root"] / "in.txt", minilm_model, tmp_path / "pq", layers="5",
              max_sentences=N_SENTENCES, shard_sentences=240, vectors="pq", progress=False)
    except TypeError:
        pytest.skip("this build has no compact storage")
    c = Corpus.open(tmp_path / "pq")
    assert c.info()["storage"]["vectors"] == "pq" and len(c.parts) == 2
    kinds = [p._nearest.exact("emb", 6).storage for p in c.parts]
    assert kinds == ["pq", "sq8"]
    assert c.info()["bytes_per_token"] < plain.info()["bytes_per_token"] / 2
    rng = np.random.default_rng(13)
    for filters in (None, {"pos": "VERB"}):
        tid = int(rng.integers(c.n_tokens))
        v = plain.stored_vectors("emb", 5, [tid])[0] @ plain.rotation("emb").T
        q = vec.rotate_query(vec.unit_rows(v), c.rotation("emb"))
        r = c.search_embedding(v, 5, 50, filters)
        s, ids = _brute(c, "emb", 5, q, 50, _mask(c, filters, False))
        np.testing.assert_allclose([m.score for m in r.matches], np.clip(s, -1, 1), atol=1e-4)
        assert len({m.token_id for m in r.matches} & set(ids.tolist())) >= 48
        exact = plain.search_embedding(v, 5, 50, filters)  # recall@50 of pq vs sq8
        overlap = {m.token_id for m in r.matches} & {m.token_id for m in exact.matches}
        assert len(overlap) >= 35
    assert add_approximate(tmp_path / "pq").n_built == 4
    c = Corpus.open(tmp_path / "pq")
    a = c.search_embedding(v, 5, 20, exact=False)
    assert not a.exact and a.matches[0].token_id == c.search_embedding(v, 5, 1).matches[
        0].token_id
