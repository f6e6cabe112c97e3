// Block means of a matrix over its shown tokens: the head boxes' miniature of a long input
// (a 56-pixel box needs no 512 x 512 image; painting twelve of them cost a long task).

/**
 * The `bins` x `bins` block means of `m` (T x T, row-major) restricted to the rows and columns
 * `visible` (in order): shown token k falls in block floor(k * bins / n), n = visible.length.
 * `bins` is clipped to n.
 */
export function poolMatrix(m: ArrayLike<number>, T: number, visible: readonly number[], bins: number): { values: Float32Array; bins: number } {
  const n = visible.length;
  const B = Math.max(0, Math.min(bins, n));
  const acc = new Float64Array(B * B);
  const binOf = new Int32Array(n);
  const size = new Float64Array(B);
  for (let k = 0; k < n; k++) {
    binOf[k] = Math.floor((k * B) / n);
    size[binOf[k]]++;
  }
  for (let a = 0; a < n; a++) {
    const o = visible[a] * T;
    const row = binOf[a] * B;
    for (let b = 0; b < n; b++) acc[row + binOf[b]] += m[o + visible[b]];
  }
  const values = new Float32Array(B * B);
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) values[i * B + j] = acc[i * B + j] / (size[i] * size[j]);
  return { values, bins: B };
}
