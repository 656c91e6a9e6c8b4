// The vizcast browser viewer: connects to the hub's /ws on this page's origin, keeps a bounded
// store of what it receives, and draws it once per animation frame (never once per message).

import "uplot/dist/uPlot.min.css";
import "./style.css";

import { Connection, nowSeconds } from "./connection";
import { ImagePanel } from "./images";
import { Plots, type View } from "./plots";
import { Scene3D, webglProblem } from "./scene";
import { Store } from "./store";
import { EventLog, StreamTree, renderStatus } from "./ui";

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
}

const params = new URLSearchParams(location.search);
const token = params.get("token");
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;

const store = new Store();
const view: View = { live: true, windowSeconds: 60, paused: null };
const connection = new Connection(store, url);
const plots = new Plots(byId("plots"), store, view);
const tree = new StreamTree(byId("tree"), store, () => {
  plots.invalidate();
  // Streams hidden entirely are left out of the subscription (no bandwidth); shown again, back in.
  connection.visibilityChanged();
});
const events = new EventLog(byId("events"), store);
const images = new ImagePanel(byId("images"), store);

let scene: Scene3D | null = null;
const problem = webglProblem();
if (problem) {
  const notice = byId("scene");
  notice.classList.add("no-webgl");
  notice.textContent = problem;
} else {
  try {
    scene = new Scene3D(byId("scene"), store);
  } catch (err) {
    byId("scene").classList.add("no-webgl");
    byId("scene").textContent = `The 3D view could not start: ${String(err)}. The plots work without it.`;
  }
}

// Delay between a message's time (when it is Unix time) and the frame that first shows it.
const pending: number[] = [];
const delays: number[] = [];
const metrics = {
  onMessage: [] as number[],
  onFrame: [] as number[],
  recording: params.has("metrics"),
  /** Milliseconds spent in each part of the work, in all. */
  spent: { messages: 0, plots: 0, scene: 0, images: 0, tree: 0, events: 0 },
};
/** Runs `work`, adding its duration to `metrics.spent[part]`. */
function timed(part: keyof typeof metrics.spent, work: () => void): void {
  const start = performance.now();
  work();
  metrics.spent[part] += performance.now() - start;
}
connection.onFrame = (times, receivedAt) => {
  for (const t of times) {
    if (t > 1e9) {
      pending.push(t);
      if (metrics.recording) metrics.onMessage.push((receivedAt - t) * 1000);
    }
  }
};

// Controls.
const liveButton = byId<HTMLButtonElement>("live");
function setLive(live: boolean): void {
  view.live = live;
  if (live) view.paused = null;
  else view.paused = plots.range();
  liveButton.textContent = live ? "pause" : "follow live";
  liveButton.classList.toggle("paused", !live);
  plots.invalidate();
}
liveButton.addEventListener("click", () => setLive(!view.live));
plots.onZoom = (range) => {
  setLive(false);
  view.paused = range;
  plots.invalidate();
};
for (const button of document.querySelectorAll<HTMLButtonElement>("[data-window]")) {
  button.addEventListener("click", () => {
    const value = button.dataset.window ?? "";
    view.windowSeconds = value === "all" ? null : Number(value);
    for (const other of document.querySelectorAll("[data-window]")) other.classList.toggle("active", other === button);
    setLive(true);
  });
}
byId("fit").addEventListener("click", () => scene?.resetView());
const size = byId<HTMLInputElement>("point-size");
size.addEventListener("input", () => scene?.setPointScale(Number(size.value)));
byId("toggle-streams").addEventListener("click", () => document.body.classList.toggle("show-streams"));

// One render per animation frame.
let frames = 0;
/** Milliseconds from navigation to the first frame drawn with the hub's state. */
let firstFrameMs: number | null = null;
function frame(): void {
  const now = nowSeconds();
  if (firstFrameMs === null && connection.status.state === "live") firstFrameMs = performance.now();
  for (const t of pending) {
    const delay = (now - t) * 1000;
    delays.push(delay);
    if (metrics.recording) metrics.onFrame.push(delay);
  }
  pending.length = 0;
  if (delays.length > 2000) delays.splice(0, delays.length - 2000);
  timed("plots", () => plots.update());
  timed("scene", () => scene?.update());
  timed("images", () => images.update());
  // Not mid-snapshot: a reset restates the streams one frame at a time, and rows rebuilt from a
  // partial list would be rebuilt again at its end (a click on a row in between would be lost).
  if (connection.status.state !== "snapshot") timed("tree", () => tree.update());
  timed("events", () => events.update());
  frames++;
  requestAnimationFrame(frame);
}

let delay: { median: number; p99: number } | null = null;
connection.onState = () => renderStatus(byId("status"), connection.status, delay);
setInterval(() => {
  store.tickRates();
  tree.refreshValues();
  delay = null;
  if (delays.length > 0) {
    const sorted = [...delays].sort((a, b) => a - b);
    delay = { median: sorted[Math.floor(sorted.length / 2)], p99: sorted[Math.floor(sorted.length * 0.99)] };
    delays.length = 0;
  }
  renderStatus(byId("status"), connection.status, delay);
}, 1000);

connection.start();
renderStatus(byId("status"), connection.status, null);
requestAnimationFrame(frame);

// For tests and measurements (read-only view of the viewer's state).
(window as unknown as { vizcast: unknown }).vizcast = {
  store,
  status: connection.status,
  metrics,
  frames: () => frames,
  firstFrameMs: () => firstFrameMs,
  handlingMs: () => connection.handlingMs,
  renders3d: () => scene?.renders ?? 0,
  webgl: scene !== null,
  /** Per image stream: size, format, received / decoded / drawn counts, serials, age, renderer, error. */
  images: () => images.stats(),
  /** How heatmaps are drawn: "webgl2", "canvas2d" (without WebGL2), null before the first. */
  heatmapRenderer: () => images.heatmapRenderer(),
};
