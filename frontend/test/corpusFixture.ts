// A small search result in the server's shape (docs/API.md), for the corpus tests.
import type { CorpusToken, HeadRanking, SearchMatch, SearchResult, SummaryCell } from "../src/corpus";

type Ann = [text: string, pos: string | null, dep: string | null, ent: string | null];

function tokens(words: Ann[]): CorpusToken[] {
  let at = 0;
  return words.map(([text, pos, dep, ent]) => {
    const special = pos === null;
    const start = special ? at : at === 0 ? 0 : at + 1;
    const end = special ? start : start + text.length;
    if (!special) at = end;
    return {
      text,
      start,
      end,
      special,
      word: special ? null : 0,
      lemma: special ? null : text.toLowerCase(),
      pos,
      tag: special ? null : pos === "NOUN" ? "NN" : "XX",
      dep,
      head: null,
      head_token: special ? null : 2,
      ent_type: special ? null : (ent ?? ""),
      ent_iob: special ? null : ent ? "B" : "O",
      is_stop: special ? null : false,
      is_punct: special ? null : pos === "PUNCT",
    };
  });
}

const S1: Ann[] = [
  ["[CLS]", null, null, null],
  ["The", "DET", "det", null],
  ["dog", "NOUN", "nsubj", null],
  ["barked", "VERB", "ROOT", null],
  [".", "PUNCT", "punct", null],
  ["[SEP]", null, null, null],
];
const S2: Ann[] = [
  ["[CLS]", null, null, null],
  ["Holmes", "PROPN", "nsubj", "PERSON"],
  ["saw", "VERB", "ROOT", null],
  ["a", "DET", "det", null],
  ["cat", "NOUN", "dobj", null],
  ["[SEP]", null, null, null],
];

function sentence(words: Ann[]): string {
  return words
    .filter((w) => w[1] !== null)
    .map((w) => w[0])
    .join(" ");
}

function match(rank: number, score: number, words: Ann[], position: number, out: number): SearchMatch {
  return {
    rank,
    score,
    sentence_id: rank,
    position,
    text: sentence(words),
    tokens: tokens(words),
    max_attention: { out, out_weight: 0.5, in: 1, in_weight: 0.2 },
  };
}

function row(m: SearchMatch, window: number): (SummaryCell | null)[] {
  const out: (SummaryCell | null)[] = [];
  for (let o = -window; o <= window; o++) {
    const p = m.position + o;
    const t = m.tokens[p];
    out.push(
      t ? { offset: o, position: p, text: t.text, special: t.special, pos: t.pos, dep: t.dep, ent_type: t.ent_type } : null,
    );
  }
  return out;
}

export function fixtureResult(): SearchResult {
  const matches = [match(0, 0.93, S1, 2, 0), match(1, 0.81, S2, 4, 2), match(2, 0.75, S2, 1, 2)];
  return {
    corpus: "tiny",
    model: "minilm-l6",
    by: "embedding",
    layer: 4,
    heads: null,
    k: 50,
    filters: [],
    attention_heads: null,
    max_attention_unavailable: null,
    seconds: 0.004,
    query: { text: "The cat sat.", text_b: null, token: 2, token_text: "cat" },
    matches,
    summary: { window: 2, offsets: [-2, -1, 0, 1, 2], rows: matches.map((m) => row(m, 2)) },
  };
}

export function fixtureRanking(): HeadRanking {
  return {
    layers: [2, 4],
    heads: 3,
    relations: {
      dep_head: {
        description: "the token's syntactic head word",
        eligible: 100,
        scores: [
          [0.1, 0.5, 0.2],
          [0.05, 0.3, 0.9],
        ],
        counts: [
          [10, 50, 20],
          [5, 30, 90],
        ],
        top: [{ layer: 4, head: 2, score: 0.9, count: 90 }],
      },
      prev_token: {
        description: "the previous token",
        eligible: 120,
        scores: [
          [1, 0, 0],
          [0, 0, 0.2],
        ],
      },
    },
  };
}
