"""The corpus manifest: what a corpus is, what it was built with, and the checksum of every
file. ``OUT/manifest.json`` is written last, by an atomic rename: it is the commit of a build.

On-disk layout of a corpus folder ``OUT`` (schema 3: a set of shards)::

    OUT/manifest.json            the commit: model identity, layers, GLOBAL counts, storage,
                                 and "shards": per shard its folder ("dir", 6 digits), counts,
                                 files {name: {size, sha256}}, vector files (chunks,
                                 approximate, rotation) and documents; "files" is {}
    OUT/v-<build id>/NNNNNN/     shard NNNNNN (the manifest names the data folder): ids local
                                 to the shard (sentences, tokens, words, text offsets start at
                                 0); global id = the shard's offset (the counts of the shards
                                 before it, :meth:`CorpusManifest.shard_offsets`) + local id
        sentences.npy            structured [S]: text span, token span, word span, cursor
        text.bin                 UTF-8 sentence texts, concatenated
        tokens.npy               structured [N]: sentence, word, input id, char span, ...
        words.npy                structured [W]: sentence, char span, labels, head, entity
        labels.json              string tables for the label ids in words.npy
        rotation_<D>.npy         the orthogonal matrix of the vector encoding (vectors.py)
        emb_L<l>.c<k>.faiss      layer l hidden states, chunk k: FAISS IndexScalarQuantizer
                                 (storage "sq8") or IndexPQ (storage "pq")
        ctx_L<l>.c<k>.faiss      layer l per-head contexts, chunk k (same format)
        attn_L<l>.npy            int16 [N, 2H+2]: per head argmax out, argmax in; all heads
                                 (among non-special tokens; -1 for a special token)
        attnw_L<l>.npy           float16 [N, 2H+2]: the matching attention weights
        heads.json               head-discovery counts per layer x head (summed over shards)
        ivf_<kind>_L<l>.faiss    optional approximate index (IVF-PQ over the same vectors)
        meta.json                the build checkpoint's metadata (not listed)

A schema-2 corpus (no "shards") is one folder ``OUT/v-<build id>/`` with those files and its
"files" at the top; it still opens, as one shard (:meth:`CorpusManifest.shard_manifests`).
    OUT.partial/                 a build in progress (checkpoints); never read by readers

Storage numbering (files and manifest only; users see exbert's one layer numbering, see
:mod:`exbert.view`, converted by ``layer_to_hidden``/``hidden_to_layer``): a stored index ``l``
in 0..L is ``Analysis.hidden_states[l]`` (0 = the embeddings, ``l`` = the output of layer
``l - 1``); for ``l >= 1`` also that layer's contexts and attention (``Analysis.contexts[l-1]``,
``Analysis.attentions[l-1]``). Index 0 keeps only the embedding vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shlex
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.corpus.layers import format_layers
from exbert.errors import CorpusCorrupt, CorpusError, CorpusMismatch

if TYPE_CHECKING:
    from exbert.models import Model

FORMAT = "exbert-corpus"
SCHEMA_VERSION = 3  # 2: attention argmaxes skip special tokens; 3: a set of shards
READ_VERSIONS = (2, 3)  # what this exbert opens (a schema-2 corpus is one shard)
_SHARD_DIR = re.compile(r"[0-9]{6}")
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20

STORAGE_CONVENTION = (
    "stored index l (0..L) = hidden_states[l] (0: the embeddings, l: the output of layer l-1); "
    "for l >= 1 also layer l-1's contexts[l-1] and attentions[l-1] (users see layers: "
    "exbert.view)"
)
"""How the manifest's ``layers`` and the file names count (written as ``layer_convention``)."""


@dataclass(frozen=True)
class ModelIdentity:
    """The facts a corpus must share with the model that searches it."""

    name: str
    kind: str
    architecture: str
    layers: int
    heads: int
    head_dim: int
    hidden_size: int
    tokenizer_hash: str
    source: str = field(default="", metadata={"private": True})  # may be a local path
    revision: str | None = None

    @classmethod
    def of(cls, model: Model) -> ModelIdentity:
        info = model.info
        return cls(
            name=info.name,
            kind=info.kind,
            architecture=info.architecture,
            layers=info.layers,
            heads=info.heads,
            head_dim=info.head_dim,
            hidden_size=info.hidden_size,
            tokenizer_hash=tokenizer_hash(model),
            source=info.source,
            revision=getattr(model, "revision", None),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "architecture": self.architecture,
            "layers": self.layers,
            "heads": self.heads,
            "head_dim": self.head_dim,
            "hidden_size": self.hidden_size,
            "tokenizer_hash": self.tokenizer_hash,
            "source": self.source,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelIdentity:
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            architecture=str(d.get("architecture", "")),
            layers=int(d["layers"]),
            heads=int(d["heads"]),
            head_dim=int(d["head_dim"]),
            hidden_size=int(d["hidden_size"]),
            tokenizer_hash=str(d["tokenizer_hash"]),
            source=str(d.get("source", "")),
            revision=d.get("revision"),
        )

    def differences(self, other: ModelIdentity) -> list[str]:
        """What differs, in words (empty: compatible)."""
        out = []
        for attr in ("name", "kind", "layers", "heads", "head_dim", "hidden_size",
                     "tokenizer_hash"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if mine != theirs:
                out.append(f"{attr}: corpus has {mine!r}, model has {theirs!r}")
        return out


_TOKENIZER_HASHES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def tokenizer_hash(model: Model) -> str:
    """sha256 of the tokenizer's full definition (vocabulary, merges, normaliser, special
    tokens), as its fast-tokenizer JSON. The runtime ``truncation`` and ``padding`` settings are
    left out: calling a tokenizer with ``padding=True`` changes them, not what it encodes."""
    tok = model.tokenizer
    try:
        return _TOKENIZER_HASHES[tok]
    except (KeyError, TypeError):
        pass
    h = hashlib.sha256()
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        definition.pop("truncation", None)
        definition.pop("padding", None)
        h.update(json.dumps(definition, sort_keys=True).encode("utf-8"))
    else:  # pragma: no cover - exbert requires fast tokenizers
        h.update(json.dumps(tok.get_vocab(), sort_keys=True).encode("utf-8"))
    h.update(json.dumps(sorted(map(str, tok.all_special_tokens))).encode("utf-8"))
    digest = h.hexdigest()
    with contextlib.suppress(TypeError):  # a tokenizer without weak references
        _TOKENIZER_HASHES[tok] = digest
    return digest


def rebuild_command(
    input_path: str, model: str, out: str | Path, spacy: str, layers: Sequence[int] | None,
    n_layers: int | None = None, max_sentences: int | None = None, text_field: str = "text",
) -> str:
    parts = ["exbert", "corpus", "build", input_path, "--model", model, "--out", str(out),
             "--spacy", spacy]
    if text_field != "text":
        parts += ["--text-field", text_field]
    if layers is not None and (n_layers is None or list(layers) != list(range(n_layers + 1))):
        parts += ["--layers", format_layers(layers)]
    if max_sentences is not None:
        parts += ["--max-sentences", str(max_sentences)]
    return shlex.join(parts)


@dataclass(frozen=True)
class CorpusManifest:
    """The parsed ``manifest.json``. ``raw`` holds the whole JSON document."""

    name: str
    schema_version: int
    build_id: str
    data_dir: str
    model: ModelIdentity
    layers: tuple[int, ...]
    spacy_pipeline: str
    n_sentences: int
    n_tokens: int
    n_words: int
    files: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def context_layers(self) -> tuple[int, ...]:
        return tuple(v for v in self.layers if v >= 1)

    @property
    def rebuild_command(self) -> str:
        return str(self.raw.get("rebuild_command", ""))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    @property
    def sharded(self) -> bool:
        """Whether the manifest lists shards (schema 3); a schema-2 corpus is one folder."""
        return "shards" in self.raw

    def shard_manifests(self) -> list[CorpusManifest]:
        """One manifest per shard, in order: the top manifest with ``data_dir`` the shard's
        folder (``v-<id>/000000``), and that shard's counts, files, vector files (chunks,
        approximate, rotation) and documents. A schema-2 manifest is its own one shard."""
        if not self.sharded:
            return [self]
        return [CorpusManifest.from_dict(_shard_raw(self.raw, s)) for s in self.raw["shards"]]

    def shard_offsets(self) -> list[tuple[int, int]]:
        """Per shard its (token offset, sentence offset): the cumulative counts of the shards
        before it. Global id = offset + the shard's local id."""
        out, tokens, sentences = [], 0, 0
        for m in self.shard_manifests():
            out.append((tokens, sentences))
            tokens += m.n_tokens
            sentences += m.n_sentences
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CorpusManifest:
        counts = d["counts"]
        return cls(
            name=str(d.get("name", "")),
            schema_version=int(d["schema_version"]),
            build_id=str(d["build_id"]),
            data_dir=str(d["data_dir"]),
            model=ModelIdentity.from_dict(d["model"]),
            layers=tuple(int(v) for v in d["layers"]),
            spacy_pipeline=str(d["spacy"]["pipeline"]),
            n_sentences=int(counts["sentences"]),
            n_tokens=int(counts["tokens"]),
            n_words=int(counts["words"]),
            files={str(k): dict(v) for k, v in d["files"].items()},
            raw=d,
        )


def read_manifest(corpus_dir: Path) -> CorpusManifest:
    """Parse ``corpus_dir/manifest.json``; :class:`CorpusCorrupt` when unreadable,
    :class:`CorpusMismatch` for another schema version, :class:`CorpusError` when absent."""
    path = corpus_dir / MANIFEST
    hint = ""
    if (corpus_dir.parent / f"{corpus_dir.name}.partial").exists():
        hint = " (a build is in progress or was interrupted: run the build command again)"
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: no such corpus folder{hint}", path=str(corpus_dir))
    if not path.is_file():
        raise CorpusError(
            f"{corpus_dir}: not a corpus (no {MANIFEST}){hint}; build one with "
            "`exbert corpus build INPUT --model NAME --out DIR`",
            path=str(corpus_dir),
        )
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError("manifest too large")
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise CorpusCorrupt(
            f"{path}: unreadable manifest ({exc}); rebuild the corpus with "
            "`exbert corpus build INPUT --model NAME --out DIR`",
            path=str(path),
        ) from exc
    command = str(data.get("rebuild_command", "exbert corpus build INPUT --model NAME --out DIR"))
    if data.get("format") != FORMAT:
        raise CorpusCorrupt(f"{path}: not an exbert corpus manifest; rebuild: {command}",
                            path=str(path), rebuild_command=command)
    version = data.get("schema_version")
    if version not in READ_VERSIONS:
        raise CorpusMismatch(
            f"{corpus_dir}: corpus schema version {version!r}, this exbert reads version "
            f"{' or '.join(map(str, READ_VERSIONS))}; rebuild it: {command}",
            path=str(corpus_dir),
            rebuild_command=command,
            schema_version=version,
        )
    try:
        manifest = CorpusManifest.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusCorrupt(
            f"{path}: incomplete manifest (missing {exc}); rebuild it: {command}",
            path=str(path),
            rebuild_command=command,
        ) from exc
    if version == 3 or "shards" in data:
        check_shards(manifest, path)
    return manifest


def _shard_raw(top: dict[str, Any], shard: dict[str, Any]) -> dict[str, Any]:
    """The raw manifest of one shard (see :meth:`CorpusManifest.shard_manifests`)."""
    raw = {k: v for k, v in top.items() if k not in ("shards", "documents")}
    raw["data_dir"] = f"{top['data_dir']}/{shard['dir']}"
    raw["shard"] = str(shard["dir"])
    raw["counts"] = {**top.get("counts", {}), "sentences": shard["sentences"],
                     "tokens": shard["tokens"], "words": shard["words"]}
    raw["files"] = shard["files"]
    raw["vectors"] = {**top.get("vectors", {}), "chunks": shard["chunks"],
                      "approximate": shard.get("approximate") or {},
                      "rotation": shard["rotation"]}
    if shard.get("storage") is not None:
        raw["storage"] = {**top.get("storage", {}), **shard["storage"]}
    if shard.get("documents"):
        raw["documents"] = shard["documents"]
    return raw


def check_shards(manifest: CorpusManifest, path: Path) -> None:
    """The shards section of a schema-3 manifest: a list of shards with safe folder names
    (6 digits, each once), complete entries, counts that sum to the totals; else
    :class:`CorpusCorrupt` naming the shard."""
    command = manifest.rebuild_command

    def bad(why: str, shard: str | None = None) -> CorpusCorrupt:
        where = f" shard {shard}:" if shard is not None else ""
        return CorpusCorrupt(f"{path}:{where} {why}; rebuild the corpus: {command}",
                             path=str(path), shard=shard, rebuild_command=command)

    shards = manifest.raw.get("shards")
    if not isinstance(shards, list) or not shards:
        raise bad("the manifest lists no shards")
    if manifest.files:
        raise bad("a sharded manifest lists no top-level files")
    seen: set[str] = set()
    totals = [0, 0, 0]
    for i, s in enumerate(shards):
        name = s.get("dir") if isinstance(s, dict) else None
        if not isinstance(name, str) or not _SHARD_DIR.fullmatch(name):
            raise bad(f"bad shard folder name {name!r} (6 digits expected)", str(i))
        if name in seen:
            raise bad("listed twice", name)
        seen.add(name)
        try:
            counts = [int(s[k]) for k in ("sentences", "tokens", "words")]
            part = CorpusManifest.from_dict(_shard_raw(manifest.raw, s))
            if not isinstance(s["chunks"], dict) or not isinstance(s["rotation"], dict):
                raise TypeError("chunks and rotation must be objects")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad(f"incomplete shard entry ({exc})", name) from None
        if min(counts) < 0 or part.n_tokens != counts[1]:
            raise bad(f"bad counts {counts}", name)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    expected = [manifest.n_sentences, manifest.n_tokens, manifest.n_words]
    if totals != expected:
        raise bad(f"the shards hold {totals[0]} sentences, {totals[1]} tokens, {totals[2]} "
                  f"words; the totals say {expected[0]}, {expected[1]}, {expected[2]}")


def check_model(manifest: CorpusManifest, model: Model, corpus_dir: Path) -> None:
    """Refuse a corpus that another model (name, tokenizer, dimensions) built."""
    diffs = manifest.model.differences(ModelIdentity.of(model))
    if diffs:
        command = rebuild_command(
            str(manifest.raw.get("input", {}).get("path", "INPUT")),
            model.info.name,
            corpus_dir,
            manifest.spacy_pipeline,
            None,
            max_sentences=manifest.raw.get("input", {}).get("max_sentences"),
            text_field=str(manifest.raw.get("input", {}).get("text_field", "text")),
        )
        raise CorpusMismatch(
            f"{corpus_dir}: this corpus was built for {manifest.model.name!r}, not for "
            f"{model.info.name!r} ({'; '.join(diffs)}); rebuild it for this model: {command}",
            path=str(corpus_dir),
            differences=diffs,
            rebuild_command=command,
        )
