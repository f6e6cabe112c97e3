// A small LRU map of fetched arrays, keyed by what was asked (layer, heads, window, ...), so that
// a view change back to something already seen needs no request. In-flight requests are kept too:
// asking twice for the same key while it loads shares one request.

export class Lru<V> {
  private readonly map = new Map<string, Promise<V>>();
  /** The values already there (a cached view change draws them in the same task). */
  private readonly values = new Map<string, V>();

  constructor(private readonly size: number) {}

  /** The value of `key`, fetched by `load` when absent. A failed load is forgotten. */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const p = load();
    this.map.set(key, p);
    p.then(
      (v) => {
        if (this.map.get(key) === p) this.values.set(key, v);
      },
      () => {
        if (this.map.get(key) === p) this.map.delete(key);
      },
    );
    while (this.map.size > this.size) {
      const old = this.map.keys().next().value as string;
      this.map.delete(old);
      this.values.delete(old);
    }
    return p;
  }

  /** The value of `key` if it has arrived (no request). */
  peek(key: string): V | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  clear(): void {
    this.map.clear();
    this.values.clear();
  }
}
