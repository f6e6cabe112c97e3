"""The token tables of a published corpus: sentences, model tokens, spaCy words, text and
label tables (memory-mapped), the document table (metadata of .jsonl / Parquet records), and
the annotated tokens of a sentence."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from exbert.corpus.layout import (
    FLAG_PUNCT,
    FLAG_STOP,
    LABELS_FILE,
    SENTENCES_FILE,
    TEXT_FILE,
    TOKENS_FILE,
    WORDS_FILE,
    sentence_dtype,
    token_dtype,
    word_dtype,
)
from exbert.search.documents import DocumentTable
from exbert.search.results import CorpusToken

if TYPE_CHECKING:
    import numpy as np

    from exbert.search.files import CorpusFiles


class CorpusTables:
    """``sentences`` [n_sentences], ``tokens`` [n_tokens] and ``words`` [n_words] record
    arrays (layouts in :mod:`exbert.corpus.layout`), ``labels`` {field: [label]}."""

    def __init__(self, files: CorpusFiles) -> None:
        import numpy as np

        m = files.manifest
        self.sentences = files.npy(SENTENCES_FILE, m.n_sentences, sentence_dtype())
        self.tokens = files.npy(TOKENS_FILE, m.n_tokens, token_dtype())
        self.words = files.npy(WORDS_FILE, m.n_words, word_dtype())
        self._text = files.text(TEXT_FILE)
        self.labels: dict[str, list[str]] = files.json(LABELS_FILE)
        self._specials = {int(k): str(v) for k, v in m.raw.get("special_tokens", {}).items()}
        self.has_special = bool(np.asarray(self.tokens["special"]).any())
        self._lock = threading.Lock()
        self._token_labels: dict[str, np.ndarray] = {}
        self.documents = DocumentTable(files, self.sentences["unit"])

    def document(self, sid: int) -> dict[str, str | int | float | bool] | None:
        """The metadata of the record sentence ``sid`` comes from (None: this corpus keeps
        none, e.g. built from .txt)."""
        return self.documents.of_sentence(sid)

    def filter_labels(self, fields: tuple[str, ...] = ("pos", "tag", "dep", "ent_type",
                                                       "ent_iob")) -> dict[str, list[str]]:
        """The labels this corpus has per annotation field (what its filters accept, and
        what an app offers: a French corpus has French dependency labels)."""
        return {f: [v for v in self.labels.get(f, []) if v] for f in fields}

    def document_ids_of_tokens(self, name: str) -> np.ndarray:
        """int64 [n_tokens]: per token the value id of metadata field ``name`` of its
        document (-1: none). Computed once per field."""
        import numpy as np

        key = f"doc:{name}"
        with self._lock:
            if key not in self._token_labels:
                per_sentence = self.documents.ids_of_sentences(name)
                sentence = np.asarray(self.tokens["sentence"], dtype=np.int64)
                self._token_labels[key] = per_sentence[sentence]
            return self._token_labels[key]

    def sentence_text(self, sid: int) -> str:
        row = self.sentences[int(sid)]
        return bytes(self._text[int(row["text_start"]) : int(row["text_end"])]).decode("utf-8")

    def sentence_of(self, token_id: int) -> tuple[int, int]:
        """(sentence id, position in the sentence) of a global token id."""
        t = self.tokens[int(token_id)]
        return int(t["sentence"]), int(t["position"])

    def sentence_tokens(self, sid: int) -> list[CorpusToken]:
        """The model tokens of sentence ``sid`` with their words' annotation."""
        row = self.sentences[int(sid)]
        text = self.sentence_text(sid)
        ts, n = int(row["token_start"]), int(row["n_tokens"])
        ws = int(row["word_start"])
        lab = self.labels
        out = []
        for t in self.tokens[ts : ts + n]:
            start, end, w = int(t["start"]), int(t["end"]), int(t["word"])
            special = bool(t["special"])
            piece = self._specials.get(int(t["input_id"]), text[start:end]) if special else (
                text[start:end])
            if w < 0:
                out.append(CorpusToken(piece, start, end, special, None, None, None, None, None,
                                       None, None, None, None, None, None))
                continue
            wd = self.words[w]
            flags = int(wd["flags"])
            head_token = int(wd["head_token"])
            out.append(CorpusToken(
                text=piece, start=start, end=end, special=special, word=w - ws,
                lemma=lab["lemma"][int(wd["lemma"])], pos=lab["pos"][int(wd["pos"])],
                tag=lab["tag"][int(wd["tag"])], dep=lab["dep"][int(wd["dep"])],
                head=int(wd["head"]), head_token=head_token if head_token >= 0 else None,
                ent_type=lab["ent_type"][int(wd["ent_type"])],
                ent_iob=lab["ent_iob"][int(wd["ent_iob"])],
                is_stop=bool(flags & FLAG_STOP), is_punct=bool(flags & FLAG_PUNCT),
            ))
        return out

    def labels_of_tokens(self, field: str) -> np.ndarray:
        """int64 [n_tokens]: per token the label id (or flags) of its word; -1 for tokens
        without a word. Computed once per field."""
        import numpy as np

        with self._lock:
            if field not in self._token_labels:
                word = np.asarray(self.tokens["word"], dtype=np.int64)
                has = word >= 0
                values = np.asarray(self.words[field], dtype=np.int64)[np.where(has, word, 0)]
                self._token_labels[field] = np.where(has, values, -1)
            return self._token_labels[field]
