// The viewer's data: scalar series, the latest point cloud and line of each 3D stream, the latest
// image of each image stream, text events. Every buffer is bounded: series keep at most
// `seriesCapacity()` samples (oldest quarter dropped at the limit), lines at most
// MAX_LINE_VERTICES, the event log MAX_EVENTS, images only the latest of each stream (as the base64
// text that came, at most one frame's bytes each; streams are bounded by the hub's --max-streams).

import type { ImageUpdate, Update } from "./protocol";

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

/** The latest image of a stream, as it came (decoded only when drawn). */
export interface StoredImage {
  readonly image: ImageUpdate;
  /** The message's time (seconds). */
  readonly t: number;
  /** When it arrived (ms, performance.now()). */
  readonly arrivedAt: number;
  /** Unique over all images this store held: a new image, even after a clear, has a new serial. */
  readonly serial: number;
  /** Images of this stream received since it was last cleared, this one included. */
  readonly count: number;
  visible: boolean;
}

/** What the messages of one stream have carried: the subscription excludes a stream only when all of it is hidden. */
export interface Origin {
  /** Series flattened from its messages (its own `value`, `values`, other fields). */
  series: Set<string>;
  cloud: boolean;
  line: boolean;
  image: boolean;
  /** Text events cannot be hidden: a stream that sends them is never excluded. */
  text: boolean;
}

/** Most exclusions one subscription carries (the hub takes 1,024 patterns, 64 KiB). */
const MAX_EXCLUSIONS = 1000;
const MAX_EXCLUSION_BYTES = 60_000;

/** Whether `name` is strictly below `ancestor` in the `/` hierarchy (as the hub matches). */
function isBelow(name: string, ancestor: string): boolean {
  return name.length > ancestor.length && name.charCodeAt(ancestor.length) === 47 && name.startsWith(ancestor);
}

/** The names strictly above `name`: every prefix ending before a `/`. */
function ancestors(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) out.push(name.slice(0, i));
  return out;
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
  readonly images = new Map<string, StoredImage>();
  readonly events: TextEvent[] = [];
  /** Names of everything, for the stream list. */
  readonly kinds = new Map<string, Set<string>>();
  /** Bumped whenever the set of streams changes. */
  structureVersion = 0;
  /** Bumped on any data change. */
  dataVersion = 0;
  eventsVersion = 0;
  /** Bumped whenever a stream gains or loses its image (not when an image replaces another). */
  imageSetVersion = 0;
  /** The serial of the newest image. */
  private imageSerial = 0;
  /** Latest time of any data (seconds). */
  latestT = -Infinity;
  /** Names the user hid (series, clouds, lines, images); kept over resets, so a replay's loop keeps them hidden. */
  readonly hidden = new Set<string>();
  /** Bumped whenever `hidden` changes. */
  visibilityVersion = 0;
  /** By message stream: what its messages carried. */
  readonly origins = new Map<string, Origin>();
  /**
   * During an additive (`subscribe`) snapshot: per series, the time of the newest sample held
   * when it began. The snapshot restates the history of streams this viewer did not receive for a
   * while, and the part of it that the store still holds must not be added twice.
   */
  private cutoffs: Map<Series, number> | null = null;

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
      s.visible = !this.hidden.has(name);
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
    const origin = this.originOf(update.stream);
    const capacity = this.seriesCapacity();
    for (const scalar of update.scalars) {
      const series = this.seriesFor(scalar.name);
      origin.series.add(scalar.name);
      // Samples a `subscribe` snapshot restates that are already held are skipped.
      const cutoff = this.cutoffs?.get(series) ?? -Infinity;
      if (typeof scalar.v === "number") {
        const t = typeof scalar.t === "number" ? scalar.t : scalar.t[scalar.t.length - 1];
        if (t > cutoff) series.push(t, scalar.v, capacity);
      } else {
        const ts = scalar.t;
        const n = Math.min(scalar.v.length, typeof ts === "number" ? 1 : ts.length);
        for (let i = 0; i < n; i++) {
          const t = typeof ts === "number" ? ts : ts[i];
          if (t > cutoff) series.push(t, scalar.v[i], capacity);
        }
        if (typeof ts !== "number" && n > 0 && ts[n - 1] > this.latestT) this.latestT = ts[n - 1];
      }
    }
    if (update.points) {
      const previous = this.clouds.get(update.stream);
      this.clouds.set(update.stream, { ...update.points, version: (previous?.version ?? 0) + 1, visible: !this.hidden.has(update.stream) });
      this.kind(update.stream, "points");
      origin.cloud = true;
    }
    if (update.line) {
      let line = this.lines.get(update.stream);
      if (!line) {
        line = new Polyline();
        line.visible = !this.hidden.has(update.stream);
        this.lines.set(update.stream, line);
        this.kind(update.stream, "line");
      }
      origin.line = true;
      if (update.line.append) line.append(update.line.positions, update.line.colors, update.line.color);
      else line.set(update.line.positions, update.line.colors, update.line.color);
    }
    if (update.image) {
      this.applyImage(update.stream, update.t, update.image);
      origin.image = true;
    }
    if (update.text) {
      this.events.unshift({ t: update.t, stream: update.stream, text: update.text.text, level: update.text.level });
      if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
      this.eventsVersion++;
      this.kind(update.stream, "text");
      origin.text = true;
    }
  }

  /** An image replaces the stream's previous one. */
  private applyImage(stream: string, t: number, image: ImageUpdate): void {
    const previous = this.images.get(stream);
    if (!previous) this.imageSetVersion++;
    this.images.set(stream, {
      image,
      t,
      arrivedAt: performance.now(),
      serial: ++this.imageSerial,
      count: (previous?.count ?? 0) + 1,
      visible: !this.hidden.has(stream),
    });
    this.kind(stream, "image");
  }

  private originOf(stream: string): Origin {
    let origin = this.origins.get(stream);
    if (!origin) {
      origin = { series: new Set(), cloud: false, line: false, image: false, text: false };
      this.origins.set(stream, origin);
    }
    return origin;
  }

  /** Clears `prefix` and everything below it (the data, not the names). */
  clear(prefix: string): void {
    const below = (name: string) => name === prefix || name.startsWith(prefix + "/");
    for (const [name, s] of this.series) {
      if (!below(name)) continue;
      s.clear();
      // What an additive snapshot restates after a clear is no longer held.
      this.cutoffs?.delete(s);
    }
    for (const name of [...this.clouds.keys()]) if (below(name)) this.clouds.delete(name);
    for (const name of [...this.images.keys()]) {
      if (!below(name)) continue;
      this.images.delete(name);
      this.imageSetVersion++;
    }
    for (const [name, line] of this.lines) if (below(name)) line.set(new Float32Array(0));
    this.structureVersion++;
  }

  /**
   * Forgets everything (a new session, or a rejoin whose snapshot restates the state), but the
   * names the user hid. The streams in `keep` (those the subscription excludes, which the snapshot
   * does not restate) stay listed, without data, so that they can be shown again.
   */
  reset(keep: readonly string[] = []): void {
    const kept = new Map<string, Origin>();
    for (const [stream, origin] of this.origins) {
      if (keep.some((name) => stream === name || isBelow(stream, name))) kept.set(stream, origin);
    }
    this.series.clear();
    this.clouds.clear();
    this.lines.clear();
    if (this.images.size > 0) this.imageSetVersion++;
    this.images.clear();
    this.events.length = 0;
    this.kinds.clear();
    this.origins.clear();
    this.cutoffs = null;
    for (const [stream, origin] of kept) {
      this.origins.set(stream, origin);
      for (const name of origin.series) this.kind(name, "scalar");
      if (origin.cloud) this.kind(stream, "points");
      if (origin.line) this.kind(stream, "line");
      if (origin.image) this.kind(stream, "image");
    }
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

  /**
   * Starts an additive snapshot (the hub's answer to a `subscribe`): it adds to the store, and
   * samples older than what a series holds are skipped (they were received before the stream was
   * excluded).
   */
  beginAdditive(): void {
    this.cutoffs = new Map();
    for (const s of this.series.values()) if (s.len > 0) this.cutoffs.set(s, s.t[s.len - 1]);
  }

  endAdditive(): void {
    this.cutoffs = null;
  }

  /** Visibility of a name in the stream list (series, cloud, line or image). */
  setVisible(name: string, visible: boolean): void {
    if (visible !== !this.hidden.has(name)) {
      if (visible) this.hidden.delete(name);
      else this.hidden.add(name);
      this.visibilityVersion++;
    }
    const s = this.series.get(name);
    if (s) s.visible = visible;
    const c = this.clouds.get(name);
    if (c) c.visible = visible;
    const l = this.lines.get(name);
    if (l) l.visible = visible;
    const image = this.images.get(name);
    if (image) image.visible = visible;
    this.dataVersion++;
    this.structureVersion++;
  }

  isVisible(name: string): boolean {
    return !this.hidden.has(name);
  }

  /** Whether everything the messages of `stream` carried is hidden (and there was something). */
  private allHidden(stream: string, origin: Origin): boolean {
    if (origin.text) return false;
    const shaped = origin.cloud || origin.line || origin.image;
    if (!shaped && origin.series.size === 0) return false;
    if (shaped && !this.hidden.has(stream)) return false;
    for (const name of origin.series) if (!this.hidden.has(name)) return false;
    return true;
  }

  /**
   * The message streams this viewer need not receive: those all of whose series, clouds, lines and
   * images are hidden, with no stream below them that shows anything (an exclusion `!name` also excludes
   * the streams below `name`). Only the topmost of them, sorted. A stream that carries a visible
   * series (`imu`, whose `values` flatten to `imu/ax` and `imu/ay`) is never excluded.
   */
  exclusions(): string[] {
    if (this.hidden.size === 0) return [];
    const candidates = new Set<string>();
    const blocked = new Set<string>();
    for (const [stream, origin] of this.origins) {
      if (this.allHidden(stream, origin)) candidates.add(stream);
      else {
        blocked.add(stream);
        for (const above of ancestors(stream)) blocked.add(above);
      }
    }
    const out: string[] = [];
    let bytes = 0;
    for (const stream of [...candidates].sort()) {
      // Names the pattern syntax cannot say exactly: `*` is a wildcard.
      if (blocked.has(stream) || stream === "" || stream.includes("*")) continue;
      if (ancestors(stream).some((above) => candidates.has(above) && !blocked.has(above) && !above.includes("*") && above !== "")) continue;
      bytes += JSON.stringify(stream).length + 2;
      if (out.length >= MAX_EXCLUSIONS || bytes > MAX_EXCLUSION_BYTES) break;
      out.push(stream);
    }
    return out;
  }

  /** The subscription this viewer wants: everything but the streams it hides entirely. */
  subscription(): string[] {
    return ["*", ...this.exclusions().map((name) => `!${name}`)];
  }
}
