// Time-series plots with uPlot: one chart per group of related series (those sharing a parent
// path: `demo/imu/ax` and `demo/imu/ay` plot together), x axes linked, min/max decimation to about
// two points per pixel column so a frame's cost depends on pixels, not on samples.

import uPlot from "uplot";

import type { Series, Store } from "./store";

/** Which part of time is shown. */
export interface View {
  /** Follow the newest data. */
  live: boolean;
  /** Width of the window when live, seconds; null shows everything kept. */
  windowSeconds: number | null;
  /** The fixed range when paused. */
  paused: [number, number] | null;
}

const PALETTE = ["#38bdf8", "#f97316", "#a3e635", "#f472b6", "#facc15", "#818cf8", "#2dd4bf", "#fb7185", "#c084fc", "#94a3b8"];
const MAX_CHARTS = 24;
const MAX_SERIES_PER_CHART = 16;
const HEIGHT = 170;

/** The colour of a series, stable for its lifetime. */
export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

/** The group a series plots in: its parent path. */
export function groupOf(name: string): string {
  const slash = name.lastIndexOf("/");
  return slash > 0 ? name.slice(0, slash) : name;
}

interface Chart {
  key: string;
  series: Series[];
  plot: uPlot;
  element: HTMLElement;
}

/** Min/max per bucket of the samples of `s` in [t0, t1]: at most 2 × `buckets` points. */
function decimate(s: Series, t0: number, t1: number, buckets: number): [Float64Array, Float64Array] {
  const i0 = Math.max(0, s.lowerBound(t0) - 1);
  const i1 = Math.min(s.len, s.lowerBound(t1) + 1);
  const n = i1 - i0;
  if (n <= buckets * 2) return [s.t.slice(i0, i1), s.v.slice(i0, i1)];
  const xs = new Float64Array(buckets * 2);
  const ys = new Float64Array(buckets * 2);
  let out = 0;
  const span = (t1 - t0) / buckets || 1;
  let i = i0;
  for (let b = 0; b < buckets && i < i1; b++) {
    const end = t0 + (b + 1) * span;
    let min = i;
    let max = i;
    while (i < i1 && (s.t[i] < end || b === buckets - 1)) {
      if (s.v[i] < s.v[min]) min = i;
      if (s.v[i] > s.v[max]) max = i;
      i++;
    }
    const [a, c] = min <= max ? [min, max] : [max, min];
    xs[out] = s.t[a];
    ys[out++] = s.v[a];
    if (c !== a) {
      xs[out] = s.t[c];
      ys[out++] = s.v[c];
    }
  }
  return [xs.subarray(0, out), ys.subarray(0, out)];
}

/** Puts series sampled at different times on one x axis (nulls where a series has no sample). */
function align(parts: [Float64Array, Float64Array][]): uPlot.AlignedData {
  if (parts.length === 0) return [[]];
  const first = parts[0][0];
  const same = parts.every(([x]) => x.length === first.length && x.every((v, i) => v === first[i]));
  if (same) return [first, ...parts.map(([, y]) => y)] as unknown as uPlot.AlignedData;
  const all = new Float64Array(parts.reduce((n, [x]) => n + x.length, 0));
  let k = 0;
  for (const [x] of parts) {
    all.set(x, k);
    k += x.length;
  }
  all.sort();
  const xs: number[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) xs.push(all[i]);
  const columns = parts.map(([x, y]) => {
    const column: (number | null)[] = new Array(xs.length).fill(null);
    let j = 0;
    for (let i = 0; i < x.length; i++) {
      while (xs[j] < x[i]) j++;
      column[j] = y[i];
    }
    return column;
  });
  return [xs, ...columns] as unknown as uPlot.AlignedData;
}

export class Plots {
  private charts: Chart[] = [];
  private structure = -1;
  private data = -1;
  private width = 600;
  private legendAt = 0;
  private readonly note: HTMLElement;
  private readonly grid: HTMLElement;
  /** Set when the user zooms with the mouse: the caller pauses. */
  onZoom: (range: [number, number]) => void = () => {};

  constructor(private readonly container: HTMLElement, private readonly store: Store, private readonly view: View) {
    this.grid = document.createElement("div");
    this.grid.className = "chart-grid";
    this.note = document.createElement("p");
    this.note.className = "note";
    container.append(this.grid, this.note);
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
  }

  private resize(): void {
    const columns = this.container.clientWidth > 1100 ? 2 : 1;
    this.width = Math.max(200, Math.floor(this.container.clientWidth / columns) - 24);
    for (const chart of this.charts) chart.plot.setSize({ width: this.width, height: HEIGHT });
    this.data = -1;
  }

  /** The time range shown now. */
  range(): [number, number] | null {
    if (!this.view.live && this.view.paused) return this.view.paused;
    let first = Infinity;
    let last = -Infinity;
    for (const s of this.store.series.values()) {
      if (s.len === 0) continue;
      first = Math.min(first, s.t[0]);
      last = Math.max(last, s.t[s.len - 1]);
    }
    if (!Number.isFinite(last)) return null;
    if (this.view.windowSeconds === null) return [first, last];
    return [last - this.view.windowSeconds, last];
  }

  /** Rebuilds charts when streams changed, redraws them when data changed. */
  update(): void {
    if (this.structure !== this.store.structureVersion) {
      this.rebuild();
      this.structure = this.store.structureVersion;
      this.data = -1;
    }
    if (this.data === this.store.dataVersion) return;
    this.data = this.store.dataVersion;
    const range = this.range();
    if (!range) return;
    const [t0, t1] = range;
    const buckets = Math.max(50, Math.floor(this.width));
    const legendDue = performance.now() - this.legendAt > 250;
    if (legendDue) this.legendAt = performance.now();
    for (const chart of this.charts) {
      const visible = chart.series.filter((s) => s.visible);
      chart.element.hidden = visible.length === 0;
      if (visible.length === 0) continue;
      const parts = chart.series.map((s) => (s.visible ? decimate(s, t0, t1, buckets) : [new Float64Array(0), new Float64Array(0)] as [Float64Array, Float64Array]));
      const plot = chart.plot;
      const data = align(parts);
      plot.batch(() => {
        plot.setData(data);
        plot.setScale("x", { min: t0, max: t1 });
      });
      // Without a hovering cursor, the legend shows the latest values, 4 times a second: it is DOM
      // text, and rewriting it every frame costs the browser style and layout work.
      if ((plot.cursor.left === undefined || plot.cursor.left < 0) && legendDue) plot.setLegend({ idx: Math.max(0, data[0].length - 1) });
    }
  }

  private rebuild(): void {
    const groups = new Map<string, Series[]>();
    for (const s of this.store.series.values()) {
      const key = groupOf(s.name);
      const list = groups.get(key) ?? [];
      list.push(s);
      groups.set(key, list);
    }
    const wanted: [string, Series[]][] = [];
    for (const [key, list] of [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (let i = 0; i < list.length; i += MAX_SERIES_PER_CHART) {
        wanted.push([i === 0 ? key : `${key} (${i / MAX_SERIES_PER_CHART + 1})`, list.slice(i, i + MAX_SERIES_PER_CHART)]);
      }
    }
    const hidden = Math.max(0, wanted.length - MAX_CHARTS);
    wanted.length = Math.min(wanted.length, MAX_CHARTS);
    this.note.textContent = hidden > 0 ? `${hidden} more groups of series are not plotted (at most ${MAX_CHARTS} charts).` : "";

    const keep = new Map(this.charts.map((c) => [c.key, c]));
    const next: Chart[] = [];
    for (const [key, series] of wanted) {
      const existing = keep.get(key);
      if (existing && existing.series.length === series.length && existing.series.every((s, i) => s === series[i])) {
        next.push(existing);
        keep.delete(key);
      } else {
        next.push(this.create(key, series));
      }
    }
    for (const chart of keep.values()) {
      chart.plot.destroy();
      chart.element.remove();
    }
    this.charts = next;
    this.grid.replaceChildren(...next.map((c) => c.element));
  }

  private create(key: string, series: Series[]): Chart {
    const element = document.createElement("div");
    element.className = "chart";
    const title = document.createElement("div");
    title.className = "chart-title";
    title.textContent = key;
    element.append(title);
    const time = this.store.latestT > 1e9;
    const axis = { stroke: "#94a3b8", grid: { stroke: "#1e293b", width: 1 }, ticks: { stroke: "#334155", width: 1 } };
    const options: uPlot.Options = {
      width: this.width,
      height: HEIGHT,
      scales: { x: { time } },
      series: [
        {},
        ...series.map((s) => ({
          label: s.name.slice(key.length + 1) || s.name,
          stroke: seriesColor(s.index),
          width: 1.25,
          spanGaps: true,
          points: { show: false },
        })),
      ],
      axes: [axis, { ...axis, size: 56 }],
      cursor: { sync: { key: "vizcast" }, drag: { x: true, y: false } },
      legend: { live: true },
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.onZoom([min, max]);
          },
        ],
      },
    };
    const plot = new uPlot(options, [[], ...series.map(() => [])] as uPlot.AlignedData, element);
    return { key, series, plot, element };
  }

  /** Forces a redraw (after the view changed). */
  invalidate(): void {
    this.data = -1;
  }
}
