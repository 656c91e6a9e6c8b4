// The page around the plots and the 3D view: the stream tree, the event log, the status line.
// Stream names and texts come from producers: they are only ever set as text, never as HTML.

import type { ConnectionStatus } from "./connection";
import { seriesColor } from "./plots";
import type { Store } from "./store";

/** Most rows the stream tree shows (the rest is summarized). */
const MAX_ROWS = 1500;
/** Most events the log shows. */
const MAX_EVENT_ROWS = 60;

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** `s2` before `s10`. */
export const naturalOrder = new Intl.Collator(undefined, { numeric: true }).compare;

function formatValue(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return v.toPrecision(5).replace(/\.?0+$/, "");
}

interface Row {
  name: string;
  check: HTMLInputElement;
  swatch: HTMLElement;
  rate: HTMLElement;
  value: HTMLElement;
}

export class StreamTree {
  private structure = -1;
  private rows: Row[] = [];
  private filter = "";
  /** Which rows are shown, so that a change that keeps them (a replay looping) updates them in place. */
  private shown = "";

  constructor(container: HTMLElement, private readonly store: Store, private readonly onToggle: () => void) {
    const search = element("input", "filter");
    search.type = "search";
    search.placeholder = "filter streams";
    search.setAttribute("aria-label", "filter streams");
    search.addEventListener("input", () => {
      this.filter = search.value.trim().toLowerCase();
      this.structure = -1;
    });
    this.list = element("div", "tree");
    container.append(search, this.list);
  }

  private readonly list: HTMLElement;

  /** Rebuilds the rows when the set of streams changed. */
  update(): void {
    if (this.structure === this.store.structureVersion) return;
    this.structure = this.store.structureVersion;
    const names = [...this.store.kinds.keys()].filter((n) => !this.filter || n.toLowerCase().includes(this.filter)).sort(naturalOrder);
    const shown = `${names.slice(0, MAX_ROWS).join("\n")}\n${names.length}\n${this.filter}`;
    // Rebuilding would detach the rows under the pointer (a click in progress would be lost).
    if (shown === this.shown) {
      for (const row of this.rows) this.fill(row);
      this.refreshValues();
      return;
    }
    this.shown = shown;
    const fragment = document.createDocumentFragment();
    this.rows = [];
    let previous: string[] = [];
    for (const name of names.slice(0, MAX_ROWS)) {
      const parts = name.split("/");
      // Headings for path segments not shared with the previous name.
      let common = 0;
      while (common < parts.length - 1 && common < previous.length - 1 && parts[common] === previous[common]) common++;
      for (let depth = common; depth < parts.length - 1; depth++) {
        const heading = element("div", "tree-group", parts[depth]);
        heading.style.paddingLeft = `${depth * 12 + 4}px`;
        fragment.append(heading);
      }
      previous = parts;
      const row = element("label", "tree-row");
      row.style.paddingLeft = `${(parts.length - 1) * 12 + 4}px`;
      row.title = name;
      const check = element("input");
      check.type = "checkbox";
      check.addEventListener("change", () => {
        this.store.setVisible(name, check.checked);
        this.onToggle();
      });
      const swatch = element("span", "swatch");
      const label = element("span", "tree-name", parts[parts.length - 1]);
      const value = element("span", "tree-value");
      const rate = element("span", "tree-rate");
      row.append(check, swatch, label, value, rate);
      fragment.append(row);
      const entry = { name, check, swatch, rate, value };
      this.fill(entry);
      this.rows.push(entry);
    }
    if (names.length > MAX_ROWS) fragment.append(element("div", "note", `… and ${names.length - MAX_ROWS} more: filter to find them`));
    if (names.length === 0) fragment.append(element("div", "note", this.filter ? "no stream matches" : "no streams yet"));
    this.list.replaceChildren(fragment);
    this.refreshValues();
  }

  /** What a row shows of its stream besides its rate and value: shown or hidden, colour, kinds. */
  private fill(row: Row): void {
    row.check.checked = this.store.isVisible(row.name);
    const series = this.store.series.get(row.name);
    row.swatch.style.background = series ? seriesColor(series.index) : "#64748b";
    if (!series) row.value.textContent = [...(this.store.kinds.get(row.name) ?? [])].filter((k) => k !== "scalar").join(", ");
  }

  /** Rates and latest values (once a second is enough). */
  refreshValues(): void {
    for (const row of this.rows) {
      const series = this.store.series.get(row.name);
      if (!series) continue;
      row.rate.textContent = `${series.rate}/s`;
      row.value.textContent = formatValue(series.last);
    }
  }
}

export class EventLog {
  private version = -1;

  constructor(private readonly container: HTMLElement, private readonly store: Store) {}

  update(): void {
    if (this.version === this.store.eventsVersion) return;
    this.version = this.store.eventsVersion;
    const rows = this.store.events.slice(0, MAX_EVENT_ROWS).map((event) => {
      const row = element("div", `event level-${/^(debug|info|warn|warning|error)$/.test(event.level) ? event.level : "info"}`);
      const when = event.t > 1e9 ? new Date(event.t * 1000).toLocaleTimeString() : event.t.toFixed(3);
      row.append(element("span", "event-time", when), element("span", "event-stream", event.stream), element("span", "event-text", event.text));
      return row;
    });
    if (rows.length === 0) rows.push(element("div", "note", "no events yet"));
    this.container.replaceChildren(...rows);
  }
}

/** The status line: connection, rates, lag, 3D thinning, delay. */
export function renderStatus(target: HTMLElement, status: ConnectionStatus, delayMs: { median: number; p99: number } | null): void {
  let state: string;
  let cls = status.state;
  switch (status.state) {
    case "connecting":
      state = "connecting…";
      break;
    case "snapshot":
      state = "loading state…";
      break;
    case "live":
      state = "live";
      break;
    case "reconnecting":
      state = `reconnecting in ${Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000))} s (${status.reason})`;
      break;
    case "refused":
      state = `refused: ${status.reason}`;
      break;
  }
  if (status.state === "live" && status.lagEvents > 0) {
    cls = "lagged" as typeof cls;
    state = `live, lagged ${status.lagEvents}× (${status.droppedFrames} frames dropped)`;
  }
  const parts = [state];
  if (status.thinned && status.state === "live") {
    // The hub skips clouds, lines and images that newer ones replaced: this link carries fewer of them.
    const fps = status.thinned.fps;
    parts.push(`${status.thinned.what} thinned to ${fps < 10 ? fps.toFixed(1).replace(/\.0$/, "") : Math.round(fps)} fps for this link`);
    if (cls === "live") cls = "thinned" as typeof cls;
  }
  parts.push(`${status.messagesPerSecond} msg/s`);
  const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  if (status.replay) {
    const r = status.replay;
    const speed = r.speed === 0 ? "max" : `${r.speed}×`;
    parts.push(`replay ${r.state} ${clock(r.position)} / ${clock(r.duration)} at ${speed}${r.looping ? ", looping" : ""}`);
  }
  if (status.recording) {
    const r = status.recording;
    const size = r.bytes > 1e6 ? `${(r.bytes / 1e6).toFixed(1)} MB` : `${(r.bytes / 1e3).toFixed(0)} kB`;
    parts.push(r.error ? `recording stopped: ${r.error}` : `● rec ${clock(r.seconds)} ${size}${r.unrecorded_frames ? `, ${r.unrecorded_frames} frames NOT recorded` : ""}`);
  }
  for (const [role, link] of [["publishing to", status.nats?.publish], ["edge of", status.nats?.subscribe]] as const) {
    if (!link) continue;
    // What a person needs to know: is it up, is something missing, and why.
    let text = `NATS ${link.connected ? role : `${role} (disconnected)`} ${link.server}`;
    if (link.missed_frames) text += `, ${link.missed_frames} frames missed${link.last_gap ? ` (latest: ${link.last_gap})` : ""}`;
    if (link.restoring) text += ", still restoring its history (it arrives as live data)";
    if (link.note) text += ` — ${link.note}`;
    parts.push(text);
  }
  if (delayMs) parts.push(`delay ${delayMs.median.toFixed(1)} ms (p99 ${delayMs.p99.toFixed(1)})`);
  if (status.lastError) parts.push(`error: ${status.lastError}`);
  target.textContent = parts.join(" · ");
  target.className = `status ${cls}`;
}
