"""Pure parts of the corpus: alignment by offsets, input reading, filters, vector encoding,
durable writes, layers, head counts, manifest parsing. No model, no spaCy."""

from __future__ import annotations

import errno
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exbert.corpus import annotate as ann
from exbert.corpus import storage
from exbert.corpus import vectors as vec
from exbert.corpus.build import default_layers, resolve_layers
from exbert.corpus.manifest import SCHEMA_VERSION, read_manifest
from exbert.errors import (
    CorpusBuildError,
    CorpusCorrupt,
    CorpusError,
    CorpusMismatch,
    InvalidRequest,
)
from exbert.search.filters import parse_filters
from exbert.search.heads import head_counts

# --- alignment ----------------------------------------------------------------------------------


def spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Offsets of consecutive pieces found left to right in text."""
    out, at = [], 0
    for p in pieces:
        at = text.index(p, at)
        out.append((at, at + len(p)))
        at += len(p)
    return out


def words_of(text: str, words: list[str]) -> tuple[list[int], list[int]]:
    s = spans(text, words)
    return [a for a, _ in s], [b for _, b in s]


def test_align_contraction_wordpiece_vs_spacy() -> None:
    text = "I don't know."
    ws, we = words_of(text, ["I", "do", "n't", "know", "."])  # spaCy's words
    toks = [(0, 0), *spans(text, ["I", "don", "'", "t", "know", "."]), (13, 13)]
    special = [True, False, False, False, False, False, False, True]
    out = ann.align(toks, special, ws, we, len(text)).tolist()
    # [CLS] I don ' t know . [SEP] -> -, I, do, n't, n't, know, ., -
    assert out == [-1, 0, 1, 2, 2, 3, 4, -1]


def test_align_byte_level_tokens_with_leading_space_and_emoji() -> None:
    text = "I'll see the café 😀 now"
    ws, we = words_of(text, ["I", "'ll", "see", "the", "café", "😀", "now"])
    # GPT-style tokens carry the leading space; the emoji is split into two byte tokens
    toks = [(0, 1), (1, 4), (4, 8), (8, 12), (12, 17), (17, 19), (18, 19), (19, 23)]
    out = ann.align(toks, [False] * len(toks), ws, we, len(text)).tolist()
    assert out == [0, 1, 2, 3, 4, 5, 5, 6]


def test_align_hyphen_and_whitespace_only_tokens() -> None:
    text = "a well-known  fact"
    ws, we = words_of(text, ["a", "well", "-", "known", "fact"])
    toks = [(0, 1), (2, 6), (6, 7), (7, 12), (12, 13), (14, 18)]
    out = ann.align(toks, [False] * 6, ws, we, len(text)).tolist()
    assert out == [0, 1, 2, 3, -1, 4]  # the lone space token has no word


def test_align_token_spanning_two_words_takes_the_bigger_share() -> None:
    text = "cannot"
    ws, we = [0, 3], [3, 6]  # spaCy: "can" "not"
    assert ann.align([(0, 4)], [False], ws, we, len(text)).tolist() == [0]
    assert ann.align([(2, 6)], [False], ws, we, len(text)).tolist() == [1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")),
                        min_size=1, max_size=6), min_size=1, max_size=8),
       st.data())
def test_align_property_token_overlaps_its_word(words: list[str], data: st.DataObject) -> None:
    text = " ".join(words)
    ws, we = [], []
    at = 0
    for w in words:
        ws.append(at)
        we.append(at + len(w))
        at += len(w) + 1
    # random token boundaries over the text
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=10))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    toks = list(itertools.pairwise(bounds))
    out = ann.align(toks, [False] * len(toks), ws, we, len(text))
    for (s, e), w in zip(toks, out.tolist(), strict=True):
        chars = [i for i in range(s, e) if text[i] != " "]
        if not chars:
            assert w == -1
        else:
            assert w >= 0 and any(ws[w] <= i < we[w] for i in chars)


# --- input --------------------------------------------------------------------------------------


def test_txt_units_paragraphs_and_rewrapped_lines(tmp_path: Path) -> None:
    p = tmp_path / "in.txt"
    p.write_text("First line\nwrapped  here.\n\n\n  Second   para.\r\n\r\nThird.\n", "utf-8")
    units = list(ann.read_units(p))
    assert [u.text for u in units] == ["First line wrapped here.", "Second para.", "Third."]
    assert [u.index for u in units] == [0, 1, 2] and all(u.split for u in units)
    assert [u.text for u in ann.read_units(p, start=2)] == ["Third."]


def test_jsonl_units_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "in.jsonl"
    p.write_text('{"text": "One sentence."}\n\n{"text": "Two  words", "id": 3}\n', "utf-8")
    units = list(ann.read_units(p))
    assert [(u.text, u.split) for u in units] == [("One sentence.", False), ("Two words", False)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no"}\n', "utf-8")
    with pytest.raises(CorpusBuildError, match=r"bad.jsonl:2.*\"text\""):
        list(ann.read_units(bad))
    bad.write_text("not json\n", "utf-8")
    with pytest.raises(CorpusBuildError, match="not a JSON object"):
        list(ann.read_units(bad))


def test_unknown_input_format(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"\.txt.*\.jsonl"):
        ann.input_format(tmp_path / "x.csv")


def test_non_utf8_input(tmp_path: Path) -> None:
    p = tmp_path / "latin1.txt"
    p.write_bytes("café".encode("latin-1"))
    with pytest.raises(CorpusBuildError, match="UTF-8"):
        list(ann.read_units(p))


# --- filters ------------------------------------------------------------------------------------


def test_filter_forms_are_equivalent() -> None:
    a = parse_filters({"pos": "VERB", "is_stop": False})
    b = parse_filters(["is_stop=false", "pos=VERB"])
    c = parse_filters({"upos": ["VERB"], "stop": "no"})
    assert a == b == c
    assert [str(x) for x in a] == ["is_stop=false", "pos=VERB"]
    neg = parse_filters(["dep!=punct,det"])
    assert neg[0].negate and neg[0].values == ("punct", "det")
    assert parse_filters(None) == [] and str(parse_filters("ent=PERSON")[0]) == "ent_type=PERSON"


@pytest.mark.parametrize("bad", [["pos"], {"colour": "red"}, ["is_stop=maybe"], 3,
                                 ["pos=VERB", "pos=NOUN"], {"pos": []}])
def test_bad_filters(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_filters(bad)


# --- vectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [384, 576])
def test_rotation_is_orthogonal_and_deterministic(dim: int) -> None:
    r = vec.rotation(dim)
    assert r.dtype == np.float32 and r.shape == (dim, dim)
    np.testing.assert_allclose(r @ r.T, np.eye(dim), atol=1e-5)
    assert np.array_equal(r, vec.rotation(dim))


def test_encoding_preserves_cosine() -> None:
    rng = np.random.default_rng(0)
    dim = 384
    x = rng.standard_normal((500, dim)).astype(np.float32)
    x[:, 7] *= 40  # an outlier dimension, as in real transformer states
    u = vec.unit_rows(x)
    r, step = vec.rotation(dim), vec.code_step(dim)
    codes = vec.encode(u, r, step)
    assert codes.dtype == np.uint8
    stored = vec.decode(codes, step)
    q = vec.rotate_query(u[:10], r)
    approx = q @ stored.T
    exact = u[:10] @ u.T
    assert np.abs(approx - exact).max() < 0.01
    assert np.all(np.argmax(approx, axis=1) == np.arange(10))


def test_context_query_is_mean_per_head_cosine() -> None:
    rng = np.random.default_rng(1)
    heads, dh = 6, 16
    a = rng.standard_normal((heads, dh)).astype(np.float32)
    b = rng.standard_normal((heads, dh)).astype(np.float32)
    stored = vec.unit_heads(b)
    assert math.isclose(float(np.linalg.norm(stored)), 1.0, rel_tol=1e-5)
    for sel in ([0], [1, 4], list(range(heads))):
        q, factor = vec.context_query(a, sel)
        per_head = [float(a[h] @ b[h] / np.linalg.norm(a[h]) / np.linalg.norm(b[h]))
                    for h in sel]
        assert math.isclose(float(q @ stored) * factor, float(np.mean(per_head)), abs_tol=1e-5)


# --- durable writes -----------------------------------------------------------------------------


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    target = tmp_path / "f.npy"
    storage.write_npy(target, np.arange(10))
    before = target.read_bytes()

    def fail(_path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "WRITE_HOOK", fail)
    with pytest.raises(OSError):
        storage.write_npy(target, np.arange(1000))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]


def test_write_records_size_and_checksum(tmp_path: Path) -> None:
    rec = storage.write_json(tmp_path / "a.json", {"x": [1, 2]})
    assert rec.size == (tmp_path / "a.json").stat().st_size
    assert rec.sha256 == storage.sha256_file(tmp_path / "a.json")
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    rec = storage.write_npy(tmp_path / "a.npy", arr)
    assert np.array_equal(np.load(tmp_path / "a.npy", allow_pickle=False), arr)
    assert rec.sha256 == storage.sha256_file(tmp_path / "a.npy")


# --- layers -------------------------------------------------------------------------------------


def test_default_layers() -> None:
    assert default_layers(6) == list(range(7))
    assert default_layers(30) == list(range(0, 31, 3))
    assert default_layers(18)[-1] == 18 and default_layers(18)[0] == 0


def test_resolve_layers() -> None:
    assert resolve_layers("all", 6) == list(range(7))
    assert resolve_layers("6,0,3,3", 6) == [0, 3, 6]
    assert resolve_layers([1, 2], 6) == [1, 2]
    with pytest.raises(InvalidRequest, match=r"0\.\.6"):
        resolve_layers("7", 6)
    with pytest.raises(InvalidRequest):
        resolve_layers("a,b", 6)


# --- head counts --------------------------------------------------------------------------------


def test_head_counts_relations() -> None:
    from exbert.corpus.layout import sentence_dtype, token_dtype, word_dtype

    # one sentence: [CLS] the cat sat [SEP]; words: the(det->cat) cat(nsubj->sat) sat(ROOT)
    sent = np.zeros(1, sentence_dtype())
    sent[0] = (0, 11, 0, 5, 0, 3, 0, 0)
    toks = np.zeros(5, token_dtype())
    toks["position"] = np.arange(5)
    toks["word"] = [-1, 0, 1, 2, -1]
    toks["special"] = [1, 0, 0, 0, 1]
    words = np.zeros(3, word_dtype())
    words["index"] = [0, 1, 2]
    words["head"] = [1, 2, 2]
    words["ent_span"] = -1
    # head 0 attends to the syntactic head, head 1 to the previous token, head 2 to itself
    attn = np.zeros((5, 2 * 3 + 2), dtype=np.int16)
    attn[:, 0] = [0, 2, 3, 3, 4]
    attn[:, 1] = [0, 0, 1, 2, 3]
    attn[:, 2] = [0, 1, 2, 3, 4]
    out = head_counts(sent, toks, words, {1: attn}, 3)
    assert out["eligible"]["dep_head"] == 2  # "the" and "cat" (sat is the root)
    assert out["counts"]["dep_head"] == [[2, 0, 0]]
    assert out["eligible"]["prev_token"] == 3
    assert out["counts"]["prev_token"] == [[0, 3, 0]]
    assert out["counts"]["self"] == [[1, 0, 3]]


# --- manifest -----------------------------------------------------------------------------------


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such corpus"):
        read_manifest(tmp_path / "nope")
    (tmp_path / "c").mkdir()
    with pytest.raises(CorpusError, match="not a corpus"):
        read_manifest(tmp_path / "c")
    (tmp_path / "c" / "manifest.json").write_text("{broken", "utf-8")
    with pytest.raises(CorpusCorrupt, match="unreadable manifest"):
        read_manifest(tmp_path / "c")
    doc = {"format": "exbert-corpus", "schema_version": SCHEMA_VERSION + 1,
           "rebuild_command": "exbert corpus build x.txt --model m --out c"}
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(doc), "utf-8")
    with pytest.raises(CorpusMismatch, match=r"exbert corpus build x\.txt"):
        read_manifest(tmp_path / "c")
    doc["schema_version"] = SCHEMA_VERSION
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(doc), "utf-8")
    with pytest.raises(CorpusCorrupt, match="incomplete manifest"):
        read_manifest(tmp_path / "c")


def test_head_counts_causal_only_counts_what_a_token_can_see() -> None:
    from exbert.corpus.layout import sentence_dtype, token_dtype, word_dtype

    # no special tokens: "the cat sat" -> the(det->cat) cat(nsubj->sat) sat(ROOT)
    sent = np.zeros(1, sentence_dtype())
    sent[0] = (0, 11, 0, 3, 0, 3, 0, 0)
    toks = np.zeros(3, token_dtype())
    toks["position"] = np.arange(3)
    toks["word"] = [0, 1, 2]
    words = np.zeros(3, word_dtype())
    words["index"] = [0, 1, 2]
    words["head"] = [1, 2, 2]
    words["first_token"] = [0, 1, 2]
    words["ent_span"] = -1
    attn = np.zeros((3, 2 * 1 + 2), dtype=np.int16)
    attn[:, 0] = [0, 0, 1]
    out = head_counts(sent, toks, words, {1: attn}, 1, causal=True)
    assert "next_token" not in out["relations"]
    # "the" -> head "cat" is in its future: not eligible; "cat" -> "sat" neither
    assert out["eligible"]["dep_head"] == 0
    both = head_counts(sent, toks, words, {1: attn}, 1)
    assert both["eligible"]["dep_head"] == 2 and "next_token" in both["relations"]
