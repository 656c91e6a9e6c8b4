// The image panel: a card per visible image stream, with the image, its name, size and format,
// its age, a colour bar for heatmaps, and the value under the pointer.
//
// Decoding follows the animation frame: once per frame each card looks at its stream's newest
// image and, if it is not the one it shows and nothing is being decoded for it, decodes that one.
// Images that a newer one replaced in the meantime are never decoded (counted as `skipped`).
// JPEG and PNG go through createImageBitmap (off the main thread where the browser does it);
// raw pixels are converted here, heatmaps through the shared WebGL2 renderer (heatmap.ts) or, where
// WebGL2 is missing, the same colormap on the CPU.

import { COLORMAP_SIZE, colormapTable } from "./colormaps";
import { GlHeatmaps } from "./heatmap";
import { type RawPixels, colormapInto, formatNumber, heatmapRange, isHeatmap, pixelValues, rawPixels, rgbaInto } from "./pixels";
import { type ColormapName, type ImageFormat, type ImageUpdate, base64Bytes } from "./protocol";
import type { Store, StoredImage } from "./store";
import { element, naturalOrder } from "./ui";

/** Most cards shown at once (the rest are summarized): the page stays responsive. */
const MAX_CARDS = 48;
/** An image older than this is shown as stale (dimmed age). */
const STALE_MS = 5000;

/** How an image was drawn: a decoded file, raw pixels, a heatmap with WebGL2 or on the CPU. */
export type ImageRenderer = "bitmap" | "pixels" | "webgl2" | "canvas2d";

/** What the page tells about one image stream (window.vizcast.images(), for tests). */
export interface ImageStats {
  format: ImageFormat;
  /** 0 until an encoded image is decoded. */
  width: number;
  height: number;
  channels: number;
  colormap: ColormapName | null;
  /** The range of the heatmap drawn last (given, or the data's). */
  range: [number, number] | null;
  /** Images of the stream received since it was last cleared. */
  received: number;
  /** Images decoded: each at most once, and only the newest at a frame. */
  decodes: number;
  /** Images drawn. */
  drawn: number;
  /** Images replaced by a newer one before they were decoded. */
  skipped: number;
  /** The newest image's serial, and the drawn one's: equal once the newest is on screen. */
  serial: number;
  drawnSerial: number;
  /** When the last image was drawn (ms, performance.now()). */
  lastDrawnAt: number | null;
  /** From the drawn image's arrival to its draw (ms): waiting for a frame, decoding, drawing. */
  latencyMs: number | null;
  /** From the start of the drawn image's decoding to its draw (ms). */
  decodeMs: number | null;
  /** Since the newest image arrived (ms). */
  age: number;
  renderer: ImageRenderer | null;
  error: string | null;
  visible: boolean;
}

/** What a card adds to what the store knows of a stream's image. */
type CardStats = Pick<ImageStats, "decodes" | "drawn" | "skipped" | "drawnSerial" | "lastDrawnAt" | "latencyMs" | "decodeMs" | "renderer" | "error" | "range">;

/** An image stream's stats before any card drew it (or while it is hidden). */
function storedStats(stored: StoredImage, now: number): ImageStats {
  const image = stored.image;
  return {
    format: image.format,
    width: image.width,
    height: image.height,
    channels: image.channels,
    colormap: isHeatmap(image) ? (image.colormap ?? "gray") : null,
    range: null,
    received: stored.count,
    decodes: 0,
    drawn: 0,
    skipped: 0,
    serial: stored.serial,
    drawnSerial: 0,
    lastDrawnAt: null,
    latencyMs: null,
    decodeMs: null,
    age: now - stored.arrivedAt,
    renderer: null,
    error: null,
    visible: stored.visible,
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "3.2 s ago", "40 s ago", "5 min ago". */
function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s ago`;
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** "640×480 · JPEG", "64×48 · f32 · turbo", "320×240 · u8 RGB". */
function describe(image: ImageUpdate, width: number, height: number): string {
  const size = width > 0 ? `${width}×${height} · ` : "";
  if (image.format === "jpeg" || image.format === "png") return `${size}${image.format.toUpperCase()}`;
  const layout = image.format === "u8" ? ` ${["", "mono", "", "RGB", "RGBA"][image.channels] ?? ""}` : "";
  const colormap = isHeatmap(image) ? ` · ${image.colormap ?? "gray"}` : "";
  return `${size}${image.format}${layout}${colormap}`;
}

/** A heatmap's colour bar: the colormap from the range's low end to its high end, with numbers. */
class ColorBar {
  readonly element = element("div", "colorbar");
  private readonly ramp = element("canvas", "colorbar-ramp");
  private readonly lo = element("span");
  private readonly mid = element("span");
  private readonly hi = element("span");
  private shown = "";

  constructor() {
    this.ramp.width = COLORMAP_SIZE;
    this.ramp.height = 1;
    const labels = element("div", "colorbar-labels");
    labels.append(this.lo, this.mid, this.hi);
    this.element.append(this.ramp, labels);
    this.element.hidden = true;
  }

  show(colormap: ColormapName, range: [number, number]): void {
    const key = `${colormap}:${range[0]}:${range[1]}`;
    if (key === this.shown) return;
    this.shown = key;
    this.element.hidden = false;
    const g = this.ramp.getContext("2d");
    if (g) g.putImageData(new ImageData(new Uint8ClampedArray(colormapTable(colormap)), COLORMAP_SIZE, 1), 0, 0);
    this.lo.textContent = formatNumber(range[0]);
    this.mid.textContent = formatNumber((range[0] + range[1]) / 2);
    this.hi.textContent = formatNumber(range[1]);
  }

  hide(): void {
    this.shown = "";
    this.element.hidden = true;
  }
}

/** One image stream's card. */
class ImageCard {
  readonly element = element("article", "image-card");
  private readonly canvas = element("canvas", "image-canvas");
  private readonly context: CanvasRenderingContext2D;
  private readonly box = element("div", "image-box");
  private readonly size = element("span", "image-size");
  private readonly age = element("span", "image-age");
  private readonly probe = element("span", "image-probe");
  private readonly error = element("div", "image-error");
  private readonly bar = new ColorBar();
  /** The raw pixels shown (hovering reads them); null for decoded files (it reads the canvas). */
  private pixels: RawPixels | null = null;
  private imageData: ImageData | null = null;
  /** Where the pointer is over the image, to refresh the readout when the image changes. */
  private pointer: { x: number; y: number } | null = null;
  /** A decode in flight: no other starts until it ends. */
  private busy = false;
  private disposed = false;
  /** The serial and the stream's count of the image drawn or being decoded. */
  private started = 0;
  private startedCount = 0;
  /** When the decoding of the image started (ms, performance.now()). */
  private startedAt = 0;
  private ageText = "";
  private readonly stats: CardStats = {
    decodes: 0,
    drawn: 0,
    skipped: 0,
    drawnSerial: 0,
    lastDrawnAt: null,
    latencyMs: null,
    decodeMs: null,
    renderer: null,
    error: null,
    range: null,
  };

  constructor(readonly stream: string, private readonly heatmaps: () => GlHeatmaps | null) {
    const context = this.canvas.getContext("2d");
    if (!context) throw new Error("this browser cannot draw on a 2D canvas");
    this.context = context;
    this.element.dataset.stream = stream;
    const head = element("header", "image-head");
    head.append(element("span", "image-name", stream), this.age);
    head.title = stream;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", stream);
    this.error.hidden = true;
    this.box.append(this.canvas, this.error);
    const foot = element("footer", "image-meta");
    foot.append(this.size, this.probe);
    this.element.append(head, this.box, this.bar.element, foot);
    this.canvas.addEventListener("pointermove", (event) => this.hover(event.clientX, event.clientY));
    this.canvas.addEventListener("pointerdown", (event) => this.hover(event.clientX, event.clientY));
    this.canvas.addEventListener("pointerleave", (event) => {
      // A touch leaves as the finger lifts: its readout stays until the next touch.
      if (event.pointerType === "touch") return;
      this.pointer = null;
      this.probe.textContent = "";
    });
  }

  /** Once per animation frame: starts drawing the newest image if it is not shown, updates the age. */
  update(stored: StoredImage, now: number): void {
    if (!this.busy && this.started !== stored.serial) this.start(stored);
    const age = formatAge(now - stored.arrivedAt);
    if (age !== this.ageText) {
      this.ageText = age;
      this.age.textContent = age;
      this.age.classList.toggle("stale", now - stored.arrivedAt > STALE_MS);
    }
  }

  snapshot(stored: StoredImage, now: number): ImageStats {
    const drawn = this.stats.drawn > 0;
    return {
      ...storedStats(stored, now),
      ...this.stats,
      // An encoded image's size is known once decoded.
      width: drawn ? this.canvas.width : stored.image.width,
      height: drawn ? this.canvas.height : stored.image.height,
      visible: true,
    };
  }

  dispose(): void {
    this.disposed = true;
    this.element.remove();
  }

  private start(stored: StoredImage): void {
    // The stream's images between the last one started (or the card's start) and this one were
    // replaced before they could be decoded.
    if (stored.count > this.startedCount + 1) this.stats.skipped += stored.count - this.startedCount - 1;
    this.started = stored.serial;
    this.startedCount = stored.count;
    this.startedAt = performance.now();
    const image = stored.image;
    if (image.error) {
      this.fail(image.error);
      return;
    }
    this.stats.decodes++;
    if (image.format === "jpeg" || image.format === "png") this.decodeFile(stored, image.format);
    else this.drawRaw(stored);
  }

  /** A JPEG or PNG: decoded by the browser, then drawn when ready. */
  private decodeFile(stored: StoredImage, format: "jpeg" | "png"): void {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = base64Bytes(stored.image.data) as Uint8Array<ArrayBuffer>;
    } catch {
      this.fail(`the ${format.toUpperCase()} data is not valid base64`);
      return;
    }
    this.busy = true;
    createImageBitmap(new Blob([bytes], { type: `image/${format}` }))
      .then(
        (bitmap) => {
          if (this.disposed) {
            bitmap.close();
            return;
          }
          this.resize(stored.image, bitmap.width, bitmap.height);
          this.context.clearRect(0, 0, bitmap.width, bitmap.height);
          this.context.drawImage(bitmap, 0, 0);
          bitmap.close();
          this.pixels = null;
          this.bar.hide();
          this.stats.range = null;
          this.drawn(stored, "bitmap");
        },
        (err: unknown) => {
          if (!this.disposed) this.fail(`the ${format.toUpperCase()} could not be decoded (${message(err)})`);
        },
      )
      .finally(() => {
        this.busy = false;
      });
  }

  /** Raw pixels: RGBA straight to the canvas, or a heatmap through the colormap. */
  private drawRaw(stored: StoredImage): void {
    const image = stored.image;
    let pixels: RawPixels;
    try {
      pixels = rawPixels(image);
    } catch (err) {
      this.fail(message(err));
      return;
    }
    this.resize(image, pixels.width, pixels.height);
    let renderer: ImageRenderer = "pixels";
    if (isHeatmap(image) && image.format !== "jpeg" && image.format !== "png") {
      const range = heatmapRange(image, pixels.values);
      const colormap = image.colormap ?? "gray";
      const gl = this.heatmaps();
      if (gl?.draw({ pixels, format: image.format, range, colormap }, this.context)) {
        renderer = "webgl2";
      } else {
        const data = this.imageDataOf(pixels.width, pixels.height);
        colormapInto(pixels.values, range, colormapTable(colormap), data.data);
        this.context.putImageData(data, 0, 0);
        renderer = "canvas2d";
      }
      this.bar.show(colormap, range);
      this.stats.range = range;
    } else {
      const data = this.imageDataOf(pixels.width, pixels.height);
      rgbaInto(pixels, data.data);
      this.context.putImageData(data, 0, 0);
      this.bar.hide();
      this.stats.range = null;
    }
    this.pixels = pixels;
    this.drawn(stored, renderer);
  }

  /** An ImageData of the image's size, reused while the size stays. */
  private imageDataOf(width: number, height: number): ImageData {
    if (!this.imageData || this.imageData.width !== width || this.imageData.height !== height) this.imageData = new ImageData(width, height);
    return this.imageData;
  }

  /** Sizes the canvas to the image (which clears it) and the box to its shape. */
  private resize(image: ImageUpdate, width: number, height: number): void {
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      // Very wide or tall images are letterboxed rather than given a strip of a box.
      this.box.style.aspectRatio = String(Math.min(3, Math.max(0.6, width / height)));
    }
    // Raw pixels (often few, heatmap cells) stay crisp when scaled up; photographs are smoothed.
    this.canvas.classList.toggle("pixelated", image.format !== "jpeg" && image.format !== "png");
    this.size.textContent = describe(image, width, height);
  }

  private drawn(stored: StoredImage, renderer: ImageRenderer): void {
    const now = performance.now();
    this.stats.drawn++;
    this.stats.drawnSerial = stored.serial;
    this.stats.lastDrawnAt = now;
    this.stats.latencyMs = now - stored.arrivedAt;
    this.stats.decodeMs = now - this.startedAt;
    this.stats.renderer = renderer;
    this.stats.error = null;
    this.error.hidden = true;
    this.element.classList.remove("failed");
    if (this.pointer) this.hover(this.pointer.x, this.pointer.y);
  }

  /** Shows why the newest image cannot be drawn (over the last one drawn, if any). */
  private fail(reason: string): void {
    this.stats.error = reason;
    this.error.textContent = reason;
    this.error.hidden = false;
    this.element.classList.add("failed");
  }

  /** The image pixel under a point of the page, or null (the canvas is letterboxed: object-fit contain). */
  private pixelAt(clientX: number, clientY: number): { x: number; y: number } | null {
    const { width, height } = this.canvas;
    const rect = this.canvas.getBoundingClientRect();
    if (this.stats.drawn === 0 || rect.width === 0 || rect.height === 0) return null;
    const scale = Math.min(rect.width / width, rect.height / height);
    const x = Math.floor((clientX - rect.left - (rect.width - width * scale) / 2) / scale);
    const y = Math.floor((clientY - rect.top - (rect.height - height * scale) / 2) / scale);
    return x >= 0 && y >= 0 && x < width && y < height ? { x, y } : null;
  }

  /** The readout of the pixel under the pointer: its coordinates and value(s). */
  private hover(clientX: number, clientY: number): void {
    this.pointer = { x: clientX, y: clientY };
    const at = this.pixelAt(clientX, clientY);
    this.probe.textContent = at ? `x ${at.x}, y ${at.y}: ${this.valueAt(at.x, at.y)}` : "";
  }

  private valueAt(x: number, y: number): string {
    if (this.pixels) {
      const values = pixelValues(this.pixels, x, y);
      return values.length === 1 ? formatNumber(values[0]) : `${values.length === 4 ? "rgba" : "rgb"}(${values.join(", ")})`;
    }
    const [r, g, b, a] = this.context.getImageData(x, y, 1, 1).data;
    return a === 255 ? `rgb(${r}, ${g}, ${b})` : `rgba(${r}, ${g}, ${b}, ${a})`;
  }
}

/** The panel of image cards. */
export class ImagePanel {
  private readonly cards = new Map<string, ImageCard>();
  private readonly grid = element("div", "image-grid");
  private readonly count = element("span", "image-count");
  private readonly more = element("div", "note");
  /** The store's image set and visibility when the cards were last laid out. */
  private laidOut = "";
  /** The WebGL2 heatmap renderer: made on the first heatmap; null where WebGL2 is unavailable. */
  private gl: GlHeatmaps | null | undefined;

  constructor(private readonly container: HTMLElement, private readonly store: Store) {
    const head = element("div", "panel-head");
    head.append(element("span", undefined, "images"), this.count);
    this.more.hidden = true;
    container.append(head, this.grid, this.more);
    container.hidden = true;
  }

  /** Once per animation frame. */
  update(now = performance.now()): void {
    this.layout();
    for (const [stream, card] of this.cards) {
      const stored = this.store.images.get(stream);
      if (stored) card.update(stored, now);
    }
  }

  /** Which renderer heatmaps use: "webgl2", "canvas2d" (no WebGL2), or null before the first. */
  heatmapRenderer(): "webgl2" | "canvas2d" | null {
    if (this.gl === undefined) return null;
    return this.gl && !this.gl.problem ? "webgl2" : "canvas2d";
  }

  /** Per image stream (shown or hidden), what the page holds and did with it. */
  stats(now = performance.now()): Record<string, ImageStats> {
    const out: Record<string, ImageStats> = {};
    for (const [stream, stored] of this.store.images) {
      const card = this.cards.get(stream);
      out[stream] = card ? card.snapshot(stored, now) : storedStats(stored, now);
    }
    return out;
  }

  private heatmaps = (): GlHeatmaps | null => {
    if (this.gl === undefined) this.gl = GlHeatmaps.create();
    return this.gl;
  };

  /** Adds and removes cards when image streams come, go, or are hidden or shown. */
  private layout(): void {
    const key = `${this.store.imageSetVersion}:${this.store.visibilityVersion}`;
    if (key === this.laidOut) return;
    this.laidOut = key;
    const names = [...this.store.images].filter(([, stored]) => stored.visible).map(([name]) => name).sort(naturalOrder);
    const shown = new Set(names.slice(0, MAX_CARDS));
    for (const [name, card] of this.cards) {
      if (shown.has(name)) continue;
      card.dispose();
      this.cards.delete(name);
    }
    const ordered = [...shown].map((name) => {
      let card = this.cards.get(name);
      if (!card) {
        card = new ImageCard(name, this.heatmaps);
        this.cards.set(name, card);
      }
      return card.element;
    });
    // Only when the order changed: moving a card would interrupt a pointer over it.
    const current = [...this.grid.children];
    if (current.length !== ordered.length || current.some((child, i) => child !== ordered[i])) this.grid.replaceChildren(...ordered);
    this.more.hidden = names.length <= MAX_CARDS;
    this.more.textContent = `… and ${names.length - MAX_CARDS} more image streams: hide some to see them`;
    this.count.textContent = names.length === 1 ? "1 stream" : `${names.length} streams`;
    this.container.hidden = names.length === 0;
  }
}
