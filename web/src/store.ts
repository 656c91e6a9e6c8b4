// The viewer's data: scalar series, the latest point cloud and line of each 3D stream, text events.
// Every buffer is bounded: series keep at most `seriesCapacity()` samples (oldest quarter dropped
// at the limit), lines at most MAX_LINE_VERTICES, the event log MAX_EVENTS.

import type { Update } from "./protocol";

/** Samples kept over all series together. */
const SAMPLE_BUDGET = 4_000_000;
/** Per-series bounds on the share of the budget. */
const MIN_SERIES_CAPACITY = 4_096;
const MAX_SERIES_CAPACITY = 300_000;
const MAX_LINE_VERTICES = 1_000_000;
const MAX_EVENTS = 500;

/** One scalar time series, in time order. */
export class Series {
  t = new Float64Array(1024);
  v = new Float64Array(1024);
  len = 0;
  /** Samples received in the current rate window. */
  windowCount = 0;
  rate = 0;
  visible = true;
  /** Index in the store's creation order: a stable colour. */
  constructor(readonly name: string, readonly index: number) {}

  get last(): number | undefined {
    return this.len > 0 ? this.v[this.len - 1] : undefined;
  }

  get lastT(): number | undefined {
    return this.len > 0 ? this.t[this.len - 1] : undefined;
  }

  push(t: number, v: number, capacity: number): void {
    if (this.len === this.t.length) this.grow(capacity);
    if (this.len > 0 && t < this.t[this.len - 1]) {
      // Out of order: insert in place (rare; producers send in order).
      let lo = 0;
      let hi = this.len;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.t[mid] <= t) lo = mid + 1;
        else hi = mid;
      }
      this.t.copyWithin(lo + 1, lo, this.len);
      this.v.copyWithin(lo + 1, lo, this.len);
      this.t[lo] = t;
      this.v[lo] = v;
    } else {
      this.t[this.len] = t;
      this.v[this.len] = v;
    }
    this.len++;
    this.windowCount++;
  }

  /** Doubles the buffers up to `capacity`; at capacity, drops the oldest quarter instead. */
  private grow(capacity: number): void {
    if (this.t.length < capacity) {
      const size = Math.min(capacity, this.t.length * 2);
      const t = new Float64Array(size);
      const v = new Float64Array(size);
      t.set(this.t.subarray(0, this.len));
      v.set(this.v.subarray(0, this.len));
      this.t = t;
      this.v = v;
    } else {
      const drop = Math.max(1, this.len >> 2);
      this.t.copyWithin(0, drop, this.len);
      this.v.copyWithin(0, drop, this.len);
      this.len -= drop;
    }
  }

  /** Index of the first sample at or after `t`. */
  lowerBound(t: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.t[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  clear(): void {
    this.len = 0;
  }
}

/** The latest point cloud of a stream (decoded when drawn). */
export interface Cloud {
  decode: () => { positions: Float32Array; colors?: Uint8Array };
  color?: [number, number, number];
  radius?: number;
  version: number;
  visible: boolean;
}

/** The line strip of a stream, grown in place by appends. */
export class Polyline {
  positions = new Float32Array(3 * 256);
  colors: Uint8Array | null = null;
  color?: [number, number, number];
  count = 0;
  version = 0;
  visible = true;

  set(positions: Float32Array, colors?: Uint8Array, color?: [number, number, number]): void {
    this.count = 0;
    this.colors = null;
    this.color = color;
    this.append(positions, colors);
  }

  append(positions: Float32Array, colors?: Uint8Array, color?: [number, number, number]): void {
    if (color) this.color = color;
    let n = positions.length / 3;
    let source = positions;
    if (this.count + n > MAX_LINE_VERTICES) {
      // Keep the newest vertices.
      const keep = Math.max(0, MAX_LINE_VERTICES - n);
      if (keep < this.count) {
        this.positions.copyWithin(0, (this.count - keep) * 3, this.count * 3);
        this.colors?.copyWithin(0, (this.count - keep) * 3, this.count * 3);
        this.count = keep;
      }
      if (n > MAX_LINE_VERTICES) {
        source = positions.subarray((n - MAX_LINE_VERTICES) * 3);
        n = MAX_LINE_VERTICES;
      }
    }
    const needed = (this.count + n) * 3;
    if (needed > this.positions.length) {
      let size = this.positions.length;
      while (size < needed) size *= 2;
      const grown = new Float32Array(size);
      grown.set(this.positions.subarray(0, this.count * 3));
      this.positions = grown;
      if (this.colors) {
        const c = new Uint8Array(size);
        c.set(this.colors.subarray(0, this.count * 3));
        this.colors = c;
      }
    }
    this.positions.set(source, this.count * 3);
    if (colors && colors.length >= n * 3) {
      if (!this.colors) this.colors = new Uint8Array(this.positions.length).fill(255);
      this.colors.set(colors.subarray(colors.length - n * 3), this.count * 3);
    } else if (this.colors) {
      this.colors.fill(255, this.count * 3, (this.count + n) * 3);
    }
    this.count += n;
    this.version++;
  }
}

/** A text event. */
export interface TextEvent {
  t: number;
  stream: string;
  text: string;
  level: string;
}

/** Everything the viewer knows. */
export class Store {
  readonly series = new Map<string, Series>();
  readonly clouds = new Map<string, Cloud>();
  readonly lines = new Map<string, Polyline>();
  readonly events: TextEvent[] = [];
  /** Names of everything, for the stream list. */
  readonly kinds = new Map<string, Set<string>>();
  /** Bumped whenever the set of streams changes. */
  structureVersion = 0;
  /** Bumped on any data change. */
  dataVersion = 0;
  eventsVersion = 0;
  /** Latest time of any data (seconds). */
  latestT = -Infinity;

  seriesCapacity(): number {
    const share = Math.floor(SAMPLE_BUDGET / Math.max(1, this.series.size));
    return Math.max(MIN_SERIES_CAPACITY, Math.min(MAX_SERIES_CAPACITY, share));
  }

  private kind(name: string, kind: string): void {
    let set = this.kinds.get(name);
    if (!set) {
      set = new Set();
      this.kinds.set(name, set);
      this.structureVersion++;
    }
    if (!set.has(kind)) {
      set.add(kind);
      this.structureVersion++;
    }
  }

  private seriesFor(name: string): Series {
    let s = this.series.get(name);
    if (!s) {
      s = new Series(name, this.series.size);
      this.series.set(name, s);
      this.kind(name, "scalar");
    }
    return s;
  }

  apply(update: Update): void {
    this.dataVersion++;
    if (update.t > this.latestT) this.latestT = update.t;
    if (update.clear) {
      this.clear(update.stream);
      return;
    }
    const capacity = this.seriesCapacity();
    for (const scalar of update.scalars) {
      const series = this.seriesFor(scalar.name);
      if (typeof scalar.v === "number") {
        series.push(typeof scalar.t === "number" ? scalar.t : scalar.t[scalar.t.length - 1], scalar.v, capacity);
      } else {
        const ts = scalar.t;
        const n = Math.min(scalar.v.length, typeof ts === "number" ? 1 : ts.length);
        for (let i = 0; i < n; i++) series.push(typeof ts === "number" ? ts : ts[i], scalar.v[i], capacity);
        if (typeof ts !== "number" && n > 0 && ts[n - 1] > this.latestT) this.latestT = ts[n - 1];
      }
    }
    if (update.points) {
      const previous = this.clouds.get(update.stream);
      this.clouds.set(update.stream, { ...update.points, version: (previous?.version ?? 0) + 1, visible: previous?.visible ?? true });
      this.kind(update.stream, "points");
    }
    if (update.line) {
      let line = this.lines.get(update.stream);
      if (!line) {
        line = new Polyline();
        this.lines.set(update.stream, line);
        this.kind(update.stream, "line");
      }
      if (update.line.append) line.append(update.line.positions, update.line.colors, update.line.color);
      else line.set(update.line.positions, update.line.colors, update.line.color);
    }
    if (update.text) {
      this.events.unshift({ t: update.t, stream: update.stream, text: update.text.text, level: update.text.level });
      if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
      this.eventsVersion++;
      this.kind(update.stream, "text");
    }
  }

  /** Clears `prefix` and everything below it (the data, not the names). */
  clear(prefix: string): void {
    const below = (name: string) => name === prefix || name.startsWith(prefix + "/");
    for (const [name, s] of this.series) if (below(name)) s.clear();
    for (const name of [...this.clouds.keys()]) if (below(name)) this.clouds.delete(name);
    for (const [name, line] of this.lines) if (below(name)) line.set(new Float32Array(0));
    this.structureVersion++;
  }

  /** Forgets everything (a new session, or a rejoin whose snapshot restates the state). */
  reset(): void {
    this.series.clear();
    this.clouds.clear();
    this.lines.clear();
    this.events.length = 0;
    this.kinds.clear();
    this.latestT = -Infinity;
    this.structureVersion++;
    this.dataVersion++;
    this.eventsVersion++;
  }

  /** Updates per-series rates; call once a second. */
  tickRates(): void {
    for (const s of this.series.values()) {
      s.rate = s.windowCount;
      s.windowCount = 0;
    }
  }

  /** Visibility of a name in the stream list (series, cloud or line). */
  setVisible(name: string, visible: boolean): void {
    const s = this.series.get(name);
    if (s) s.visible = visible;
    const c = this.clouds.get(name);
    if (c) c.visible = visible;
    const l = this.lines.get(name);
    if (l) l.visible = visible;
    this.dataVersion++;
    this.structureVersion++;
  }

  isVisible(name: string): boolean {
    return this.series.get(name)?.visible ?? this.clouds.get(name)?.visible ?? this.lines.get(name)?.visible ?? true;
  }
}
