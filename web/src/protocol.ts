// Decoding the hub's frames: the JSON a producer sent (already validated by the hub) and the hub's
// own control messages. Mirrors docs/protocol.md: values and other numeric fields are flattened to
// `stream/path`, arrays may be `{"f32" | "f64" | "u8": "<base64>"}`. Images keep their base64 text:
// they are decoded only if drawn (images.ts).

/** A hub control message: the first key of every one is "vizcast". */
export interface Control {
  vizcast: "hello" | "snapshot_begin" | "snapshot_end" | "lagged" | "error" | string;
  [key: string]: unknown;
}

/** Control messages start with these bytes; no producer frame can. */
export const CONTROL_PREFIX = '{"vizcast":';

/** A scalar series update: one sample or a column of them. */
export interface ScalarUpdate {
  name: string;
  t: number | Float64Array | number[];
  v: number | Float64Array | number[];
}

/** What one message asks of the store. */
export interface Update {
  stream: string;
  /** Seconds; the receive time when the producer gave none. */
  t: number;
  scalars: ScalarUpdate[];
  /** A cloud is decoded only if it is drawn: a newer one often replaces it first. */
  points?: { decode: () => { positions: Float32Array; colors?: Uint8Array }; color?: [number, number, number]; radius?: number };
  line?: { positions: Float32Array; append: boolean; color?: [number, number, number]; colors?: Uint8Array };
  text?: { text: string; level: string };
  clear?: boolean;
  /** An image, kept as base64 text: decoded only if it is drawn (a newer one often replaces it first). */
  image?: ImageUpdate;
}

/** How an image's pixels are given: an encoded file, or raw little-endian pixels. */
export type ImageFormat = "jpeg" | "png" | "u8" | "u16" | "f32";
const IMAGE_FORMATS: readonly ImageFormat[] = ["jpeg", "png", "u8", "u16", "f32"];

/** The colormaps of one-channel raw pixels. */
export type ColormapName = "gray" | "viridis" | "turbo";
export const COLORMAP_NAMES: readonly ColormapName[] = ["gray", "viridis", "turbo"];

/** An image message's payload (docs/protocol.md, crates/vizcast-protocol/src/image.rs). */
export interface ImageUpdate {
  format: ImageFormat;
  /** The base64 text as it came. */
  data: string;
  /** Raw pixels: from `shape`. Encoded images say their size in their file: 0 until decoded. */
  width: number;
  height: number;
  /** Raw pixels: 1 (mono), 3 (RGB) or 4 (RGBA); encoded images: 0. */
  channels: number;
  /** One-channel raw pixels only; gray when absent. */
  colormap?: ColormapName;
  /** The values at the colormap's ends; the data's finite min/max when absent. */
  range?: [number, number];
  /**
   * Why it cannot be shown. The hub validates every image, so this is a bug or a newer protocol;
   * the panel says so instead of drawing.
   */
  error?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const KNOWN = new Set(["stream", "t", "value", "values", "points", "colors", "color", "radius", "line", "append", "width", "text", "level", "clear", "image"]);

/** Bytes of a base64 string. */
export function base64Bytes(b64: string): Uint8Array {
  const native = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;
  if (native) return native(b64.length % 4 === 0 ? b64 : b64 + "=".repeat(4 - (b64.length % 4)));
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function encoded(value: Json): { kind: string; bytes: Uint8Array } | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1) return null;
  const kind = keys[0];
  const b64 = value[kind];
  if ((kind !== "f32" && kind !== "f64" && kind !== "u8") || typeof b64 !== "string") return null;
  return { kind, bytes: base64Bytes(b64) };
}

/** Little-endian floats from bytes (copied: the result is aligned). */
function floats32(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes.length - (bytes.length % 4));
  copy.set(bytes.subarray(0, copy.length));
  return new Float32Array(copy.buffer);
}

function floats64(bytes: Uint8Array): Float64Array {
  const copy = new Uint8Array(bytes.length - (bytes.length % 8));
  copy.set(bytes.subarray(0, copy.length));
  return new Float64Array(copy.buffer);
}

/** A number, an array of numbers or an encoded array, as numbers. */
function numbers(value: Json): number | number[] | Float64Array | null {
  if (typeof value === "number") return value;
  if (Array.isArray(value)) return value as number[];
  const enc = encoded(value);
  if (!enc) return null;
  if (enc.kind === "f64") return floats64(enc.bytes);
  const f32 = floats32(enc.bytes);
  return Float64Array.from(f32);
}

/** `[[x, y, z], …]` or `{"f32": …}` as a flat Float32Array. */
function vec3s(value: Json): Float32Array {
  if (Array.isArray(value)) {
    const out = new Float32Array(value.length * 3);
    for (let i = 0; i < value.length; i++) {
      const p = value[i] as number[];
      out[i * 3] = p[0];
      out[i * 3 + 1] = p[1];
      out[i * 3 + 2] = p[2];
    }
    return out;
  }
  const enc = encoded(value);
  return enc ? floats32(enc.bytes) : new Float32Array(0);
}

/** One colour: "#rrggbb" or [r, g, b] in 0–1, as bytes. */
function color(value: Json): [number, number, number] | undefined {
  if (typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value)) {
    return [parseInt(value.slice(1, 3), 16), parseInt(value.slice(3, 5), 16), parseInt(value.slice(5, 7), 16)];
  }
  if (Array.isArray(value) && value.length === 3) {
    return (value as number[]).map((c) => Math.round(c * 255)) as [number, number, number];
  }
  return undefined;
}

/** Per-point colours as RGB bytes. */
function colors(value: Json): Uint8Array | undefined {
  if (Array.isArray(value)) {
    const out = new Uint8Array(value.length * 3);
    for (let i = 0; i < value.length; i++) {
      const c = color(value[i]);
      if (c) out.set(c, i * 3);
    }
    return out;
  }
  const enc = encoded(value);
  if (!enc) return undefined;
  if (enc.kind === "u8") return enc.bytes;
  const f = floats32(enc.bytes);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, f[i])) * 255);
  return out;
}

/** Flattens numbers and booleans of `value` into series below `prefix`. */
function flatten(prefix: string, value: Json, t: Update["t"] | number[] | Float64Array, out: ScalarUpdate[], columnar: boolean, depth: number): void {
  if (depth > 100) return;
  if (typeof value === "number") out.push({ name: prefix, t: columnar ? lastOf(t) : (t as number), v: value });
  else if (typeof value === "boolean") out.push({ name: prefix, t: columnar ? lastOf(t) : (t as number), v: value ? 1 : 0 });
  else if (Array.isArray(value)) value.forEach((item, i) => flatten(`${prefix}/${i}`, item, t, out, columnar, depth + 1));
  else if (value && typeof value === "object") for (const [key, item] of Object.entries(value)) flatten(`${prefix}/${key}`, item, t, out, columnar, depth + 1);
}

function lastOf(t: number | number[] | Float64Array): number {
  return typeof t === "number" ? t : t[t.length - 1];
}

/** `values`: numbers, columns (with a columnar t) or nested objects, flattened below `prefix`. */
function flattenValues(prefix: string, value: Json, t: number | number[] | Float64Array, out: ScalarUpdate[], depth: number): void {
  if (depth > 100) return;
  const column = numbers(value);
  if (column !== null) {
    out.push({ name: prefix, t: typeof column === "number" && typeof t !== "number" ? lastOf(t) : t, v: column });
    return;
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) flattenValues(`${prefix}/${key}`, item, t, out, depth + 1);
  }
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Raw pixels' `shape`: [height, width] or [height, width, channels], checked for the format. */
function imageShape(format: ImageFormat, shape: Json | undefined): [number, number, number] | string {
  if (!Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) || !shape.every((n) => Number.isSafeInteger(n) && (n as number) > 0)) {
    return "raw pixels need \"shape\": [height, width] or [height, width, channels]";
  }
  const [height, width, channels = 1] = shape as number[];
  const allowed = format === "u8" ? [1, 3, 4] : [1];
  if (!allowed.includes(channels)) return `${channels} channels of ${format} (expected ${format === "u8" ? "1, 3 or 4" : "1"})`;
  return [height, width, channels];
}

/** The `image` object of a message. Anything the viewer cannot show comes back with `error` set. */
export function decodeImage(value: Json): ImageUpdate {
  const image: ImageUpdate = { format: "u8", data: "", width: 0, height: 0, channels: 0 };
  if (!isObject(value)) return { ...image, error: "the image is not an object" };
  const formats = IMAGE_FORMATS.filter((f) => typeof value[f] === "string");
  if (formats.length !== 1) return { ...image, error: "an image needs one of jpeg, png, u8, u16 or f32 (base64 text)" };
  image.format = formats[0];
  image.data = value[image.format] as string;
  const raw = image.format !== "jpeg" && image.format !== "png";
  if (raw) {
    const shape = imageShape(image.format, value.shape);
    if (typeof shape === "string") return { ...image, error: shape };
    [image.height, image.width, image.channels] = shape;
  }
  if (value.colormap !== undefined) {
    const name = COLORMAP_NAMES.find((c) => c === value.colormap);
    if (!name) return { ...image, error: `unknown colormap ${JSON.stringify(value.colormap)}` };
    image.colormap = name;
  }
  if (value.range !== undefined) {
    const range = value.range;
    const valid = Array.isArray(range) && range.length === 2 && range.every((n) => typeof n === "number" && Number.isFinite(n)) && (range[0] as number) < (range[1] as number);
    if (!valid) return { ...image, error: "range must be [min, max] with min < max" };
    image.range = [range[0] as number, range[1] as number];
  }
  if ((image.colormap || image.range) && !(raw && image.channels === 1)) {
    return { ...image, error: "colormap and range are for one-channel raw pixels" };
  }
  return image;
}

/** Decodes one message object. `now` is the receive time, in seconds. */
export function decodeMessage(m: { [key: string]: Json }, now: number): Update | null {
  const stream = m.stream;
  if (typeof stream !== "string") return null;
  const tField = m.t === undefined ? now : numbers(m.t);
  const t: number | number[] | Float64Array = tField === null ? now : tField;
  const single = typeof t === "number" ? t : lastOf(t);
  const update: Update = { stream, t: single, scalars: [] };
  if (m.value !== undefined) {
    const v = numbers(m.value);
    if (v !== null) update.scalars.push({ name: stream, t, v });
  }
  if (m.values !== undefined) flattenValues(stream, m.values, t, update.scalars, 0);
  for (const [key, value] of Object.entries(m)) {
    if (!KNOWN.has(key)) flatten(`${stream}/${key}`, value, t, update.scalars, typeof t !== "number", 0);
  }
  if (m.points !== undefined) {
    const points = m.points;
    const pointColors = m.colors;
    update.points = {
      decode: () => ({ positions: vec3s(points), colors: pointColors !== undefined ? colors(pointColors) : undefined }),
      color: m.color !== undefined ? color(m.color) : undefined,
      radius: typeof m.radius === "number" ? m.radius : undefined,
    };
  }
  if (m.line !== undefined) {
    update.line = {
      positions: vec3s(m.line),
      append: m.append === true,
      colors: m.colors !== undefined ? colors(m.colors) : undefined,
      color: m.color !== undefined ? color(m.color) : undefined,
    };
  }
  if (typeof m.text === "string") update.text = { text: m.text, level: typeof m.level === "string" ? m.level : "info" };
  if (m.clear === true) update.clear = true;
  if (m.image !== undefined) update.image = decodeImage(m.image);
  return update;
}

/** Decodes a data frame (one message or a batch). */
export function decodeFrame(text: string, now: number): Update[] {
  const parsed = JSON.parse(text) as Json;
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const out: Update[] = [];
  for (const item of list) {
    if (item && typeof item === "object" && !Array.isArray(item)) {
      const update = decodeMessage(item, now);
      if (update) out.push(update);
    }
  }
  return out;
}
