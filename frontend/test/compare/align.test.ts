import { describe, expect, it } from "vitest";
import { alignTokens } from "../../src/compare/align";

const words = (s: string) => s.split(" ");
const pairsOf = (a: string, b: string) => alignTokens(words(a), words(b)).pairs.map((p) => [p.a, p.b]);

/** Every alignment is a common subsequence: strictly increasing on both sides, equal texts. */
function checkValid(a: string[], b: string[]) {
  const al = alignTokens(a, b);
  al.pairs.forEach((p, k) => {
    expect(a[p.a]).toBe(b[p.b]);
    if (k) {
      expect(p.a).toBeGreaterThan(al.pairs[k - 1].a);
      expect(p.b).toBeGreaterThan(al.pairs[k - 1].b);
    }
    expect(al.aToB[p.a]).toBe(p.b);
    expect(al.bToA[p.b]).toBe(p.a);
  });
  expect([...al.aToB].filter((x) => x >= 0)).toHaveLength(al.pairs.length);
  expect([...al.bToA].filter((x) => x >= 0)).toHaveLength(al.pairs.length);
  return al;
}

/** LCS length by brute recursion (small inputs): the alignment must be this long. */
function lcs(a: string[], b: string[]): number {
  const memo = new Map<string, number>();
  const go = (i: number, j: number): number => {
    if (i === a.length || j === b.length) return 0;
    const k = `${i},${j}`;
    if (!memo.has(k)) memo.set(k, a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1)));
    return memo.get(k)!;
  };
  return go(0, 0);
}

describe("token alignment", () => {
  it("aligns identical texts fully, position by position", () => {
    const t = words("[CLS] the cat sat on the mat [SEP]");
    const al = checkValid(t, t);
    expect(al.pairs).toEqual(t.map((_, i) => ({ a: i, b: i })));
  });

  it("an inserted word shifts the rest; a deleted one leaves a gap", () => {
    expect(pairsOf("the cat sat on the mat", "the big cat sat on the mat")).toEqual([[0, 0], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]);
    const del = alignTokens(words("the big cat sat"), words("the cat sat"));
    expect(del.aToB[1]).toBe(-1);
    expect(del.pairs.map((p) => [p.a, p.b])).toEqual([[0, 0], [2, 1], [3, 2]]);
  });

  it("a replaced word aligns everything around it", () => {
    const al = alignTokens(words("the cat sat on the mat"), words("the dog sat on the mat"));
    expect(al.aToB[1]).toBe(-1);
    expect(al.bToA[1]).toBe(-1);
    expect(al.pairs).toHaveLength(5);
  });

  it("masked tokens keep their text, so the same text with other masks aligns fully", () => {
    // The server marks masked tokens `masked` but keeps their text: alignment is by text only.
    const t = words("the cat sat");
    expect(alignTokens(t, [...t]).pairs).toHaveLength(3);
  });

  it("handles empty inputs and inputs with nothing in common", () => {
    expect(alignTokens([], words("a b")).pairs).toEqual([]);
    expect(alignTokens(words("a b"), []).aToB).toEqual(new Int32Array([-1, -1]));
    expect(alignTokens(words("a b"), words("c d")).pairs).toEqual([]);
  });

  it("finds a longest common subsequence on random token lists", () => {
    let s = 7;
    const rnd = (n: number) => (s = (s * 1103515245 + 12345) >>> 0) % n;
    for (let trial = 0; trial < 200; trial++) {
      const a = Array.from({ length: rnd(9) }, () => "abcd"[rnd(4)]);
      const b = Array.from({ length: rnd(9) }, () => "abcd"[rnd(4)]);
      expect(checkValid(a, b).pairs).toHaveLength(lcs(a, b));
    }
  });

  it("aligns a repeated word to one partner only", () => {
    const al = checkValid(words("the the cat"), words("the cat"));
    expect(al.pairs).toHaveLength(2);
  });
});
