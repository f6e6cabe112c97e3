"""One shard's files in the final corpus format, from its sentences and reduced forward
batches (:func:`exbert.corpus.shards.write_shard` calls :func:`write_files`).

The tables hold ids LOCAL to the shard (sentence, token and word ids and text offsets start at
0; ``unit`` stays the global input unit index); ``labels.json`` holds per field the sorted
strings of this shard; the vectors are FAISS chunk files per stored key (sq8 codes, or one
``IndexPQ`` file with ``--vectors pq`` when the shard holds at least PQ_MIN_VECTORS vectors);
``heads.json`` counts this shard's own tokens (the reader sums the shards' counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exbert.corpus import annotate as ann
from exbert.corpus.faiss_files import chunk_bounds, serialize_codes
from exbert.corpus.head_counts import head_counts
from exbert.corpus.layout import (
    ATTENTION_KINDS,
    CHUNK_VECTORS,
    FLAG_PUNCT,
    FLAG_STOP,
    HEADS_FILE,
    LABEL_FIELDS,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    Plan,
    chunk_file,
    layer_file,
    layer_key,
    rotation_file,
    sentence_dtype,
    token_dtype,
    word_dtype,
)

if TYPE_CHECKING:
    import numpy as np

    from exbert.corpus.reduce import BatchResult
    from exbert.corpus.storage import RecordedFolder

PQ_MIN_VECTORS = 4096  # a shard with fewer vectors of a key keeps sq8 codes for it
# (k-means of 256 centroids per sub-vector needs at least 256 vectors in any case)
PQ_TRAIN_VECTORS = 32_768  # vectors a PQ is trained on (a seeded sample of the shard's)
PQ_SEED = 1234


@dataclass
class ShardFiles:
    """What :func:`write_files` wrote: the record counts, each vector key's chunk files,
    the keys stored as PQ, the rotation file of each vector kind."""

    sentences: int = 0
    tokens: int = 0
    words: int = 0
    text: bytes = b""
    chunks: dict[str, list[str]] = field(default_factory=dict)
    pq: list[str] = field(default_factory=list)
    rotation: dict[str, str] = field(default_factory=dict)


def locate(sentences: list[ann.Sentence], batches: list[BatchResult]
           ) -> tuple[list[tuple[BatchResult, int]], np.ndarray]:
    """Per sentence (shard order) its batch and place in it, and the permutation int [N]
    that takes the token rows of the concatenated batches to shard order."""
    import numpy as np

    where: dict[int, tuple[BatchResult, int, int]] = {}
    offset = 0
    for br in batches:
        for k, order in enumerate(br.orders):
            where[order] = (br, k, offset)
            offset += len(br.encs[k].input_ids)
    located = [where[i] for i in range(len(sentences))]
    perm = np.concatenate([np.arange(o, o + len(br.encs[k].input_ids)) for br, k, o in located])
    return [(br, k) for br, k, _ in located], perm


def _tables(sentences: list[ann.Sentence], located: list[tuple[BatchResult, int]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes, dict[str, list[str]]]:
    """The sentence, token and word tables (local ids), the text, the sorted labels."""
    import numpy as np

    tables: dict[str, dict[str, int]] = {f: {} for f in LABEL_FIELDS}
    n_tok = sum(len(br.encs[k].input_ids) for br, k in located)
    sent = np.zeros(len(sentences), dtype=sentence_dtype())
    tokens = np.zeros(n_tok, dtype=token_dtype())
    words = np.zeros(sum(s.n_words for s in sentences), dtype=word_dtype())
    texts = []
    t0 = w0 = b0 = 0
    for s_i, (s, (br, k)) in enumerate(zip(sentences, located, strict=True)):
        enc, word_of = br.encs[k], br.word_of[k]
        data = s.text.encode("utf-8")
        texts.append(data)
        n, m = len(enc.input_ids), s.n_words
        sent[s_i] = (b0, b0 + len(data), t0, n, w0, m, s.cursor[0], s.cursor[1])
        tk = tokens[t0 : t0 + n]
        tk["sentence"] = s_i
        tk["position"] = np.arange(n)
        tk["word"] = np.where(word_of >= 0, word_of + w0, -1)
        tk["input_id"] = enc.input_ids
        tk["start"] = [x.start for x in enc.tokens]
        tk["end"] = [x.end for x in enc.tokens]
        tk["special"] = [x.special for x in enc.tokens]
        first = np.full(m, n, dtype=np.int64)  # first model token of each word
        aligned = np.flatnonzero(word_of >= 0)
        np.minimum.at(first, word_of[aligned].astype(np.int64), aligned)
        first[first == n] = -1
        wd = words[w0 : w0 + m]
        wd["sentence"] = s_i
        wd["index"] = np.arange(m)
        wd["start"] = s.starts
        wd["end"] = s.ends
        for f in LABEL_FIELDS:
            table = tables[f]
            wd[f] = [table.setdefault(v, len(table)) for v in getattr(s, f)]
        wd["head"] = s.head
        wd["head_token"] = first[np.asarray(s.head, dtype=np.int64)] if m else []
        wd["first_token"] = first
        wd["ent_span"] = s.ent_span
        wd["flags"] = [FLAG_STOP * st + FLAG_PUNCT * pu
                       for st, pu in zip(s.is_stop, s.is_punct, strict=True)]
        t0, w0, b0 = t0 + n, w0 + m, b0 + len(data)
    labels: dict[str, list[str]] = {}
    for f in LABEL_FIELDS:  # insertion ids -> ids into the sorted table
        table = tables[f]
        labels[f] = sorted(table)
        rank = {v: i for i, v in enumerate(labels[f])}
        remap = np.array([rank[v] for v in table] or [0], dtype=np.int64)
        words[f] = remap[words[f].astype(np.int64)]
    return sent, tokens, words, b"".join(texts), labels


def _pq_bytes(codes: np.ndarray, step: float) -> memoryview:
    """The FAISS file bytes of an ``IndexPQ(D, D/8, 8)`` trained on a seeded sample of the
    decoded ``codes`` (uint8 [n, D]) and holding all of them."""
    import faiss
    import numpy as np

    n, dim = codes.shape
    index = faiss.IndexPQ(dim, dim // 8, 8, faiss.METRIC_INNER_PRODUCT)
    index.pq.cp.seed = PQ_SEED
    index.pq.cp.min_points_per_centroid = 1  # small shards: no warning on stderr per key
    rng = np.random.default_rng(PQ_SEED)
    chosen = np.sort(rng.choice(n, size=min(n, PQ_TRAIN_VECTORS), replace=False))
    index.train((codes[chosen].astype(np.float32) - 128.0) * np.float32(step))
    for s in range(0, n, 65536):
        index.add((codes[s : s + 65536].astype(np.float32) - 128.0) * np.float32(step))
    return np.asarray(faiss.serialize_index(index)).data


def _vectors(folder: RecordedFolder, key: str, codes: np.ndarray, step: float,
             pq: bool, out: ShardFiles) -> None:
    """The chunk files of one key (sq8), or its one PQ file."""
    if pq and len(codes) >= max(PQ_MIN_VECTORS, 256) and codes.shape[1] % 8 == 0:
        fname = chunk_file(key, 0)
        folder.write_bytes(fname, _pq_bytes(codes, step))
        out.chunks[key] = [fname]
        out.pq.append(key)
        return
    names = []
    for c, (start, stop) in enumerate(chunk_bounds(len(codes), CHUNK_VECTORS)):
        fname = chunk_file(key, c)
        folder.write_bytes(fname, serialize_codes(codes[start:stop], step))
        names.append(fname)
    out.chunks[key] = names


def write_files(folder: RecordedFolder, sentences: list[ann.Sentence],
                batches: list[BatchResult], plan: Plan) -> ShardFiles:
    """Write every file of one shard into ``folder`` (recorded with size and sha256)."""
    import numpy as np

    located, perm = locate(sentences, batches)
    sent, tokens, words, text, labels = _tables(sentences, located)
    folder.write_npy(SENTENCES_FILE, sent)
    folder.write_npy(TOKENS_FILE, tokens)
    folder.write_npy(WORDS_FILE, words)
    folder.write_bytes(TEXT_FILE, text)
    folder.write_json(LABELS_FILE, labels)
    out = ShardFiles(len(sent), len(tokens), len(words), text)
    out.rotation = {"emb": rotation_file(plan.hidden), "ctx": rotation_file(plan.ctx_width)}
    folder.write_npy(out.rotation["emb"], plan.rot_emb)
    if out.rotation["ctx"] not in folder.files:
        folder.write_npy(out.rotation["ctx"], plan.rot_ctx)

    def rows(kind: str, layer: int) -> np.ndarray:
        parts: list[np.ndarray] = [getattr(br, kind)[layer] for br in batches]
        arr: np.ndarray = np.concatenate(parts)[perm]
        return arr

    pq = plan.vectors == "pq"
    for layer in plan.layers:
        _vectors(folder, layer_key("emb", layer), rows("emb", layer), plan.step_emb, pq, out)
    argmaxes: dict[int, np.ndarray] = {}
    for layer in plan.ctx_layers:
        _vectors(folder, layer_key("ctx", layer), rows("ctx", layer), plan.step_ctx, pq, out)
        for kind in ATTENTION_KINDS:
            arr = rows(kind, layer)
            folder.write_npy(layer_file(kind, layer), arr)
            if kind == "attn":
                argmaxes[layer] = arr
    folder.write_json(HEADS_FILE, head_counts(sent, tokens, words, argmaxes, plan.n_heads,
                                              causal=plan.causal))
    return out


def stored_rows(path: Any) -> np.ndarray:
    """The rows of one chunk file as :func:`exbert.corpus.faiss_files.build_ivf` takes them:
    the uint8 codes [n, D] of an sq8 file, the decoded float32 vectors [n, D] of a PQ file."""
    import faiss
    import numpy as np

    index: Any = faiss.read_index(str(path))
    n = index.ntotal
    codes = faiss.vector_to_array(index.codes).reshape(n, -1) if n else np.zeros(
        (0, index.d), dtype=np.uint8)
    if isinstance(index, faiss.IndexScalarQuantizer):
        return codes
    out: np.ndarray = index.sa_decode(codes) if n else codes.astype(np.float32)
    return out
