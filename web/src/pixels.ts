// Raw image pixels on the CPU: base64 to typed values (little-endian, row-major, channels
// interleaved), the data's range, RGBA for the canvas, and the colormap applied without WebGL.

import { COLORMAP_SIZE } from "./colormaps";
import { type ImageUpdate, base64Bytes } from "./protocol";

/** One channel's values: u8, u16 or f32. */
export type Values = Uint8Array | Uint16Array | Float32Array;

/** Raw pixels decoded from their base64. */
export interface RawPixels {
  width: number;
  height: number;
  channels: number;
  values: Values;
}

/** Whether this machine stores numbers little-endian (every browser's does; checked anyway). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per channel of a raw format. */
function channelBytes(format: ImageUpdate["format"]): number {
  return format === "u16" ? 2 : format === "f32" ? 4 : 1;
}

/** `bytes` (little-endian) as u16 or f32 values: a view when aligned on a little-endian machine. */
function typed(bytes: Uint8Array, format: "u16" | "f32"): Uint16Array | Float32Array {
  const size = channelBytes(format);
  const n = bytes.length / size;
  if (LITTLE_ENDIAN && bytes.byteOffset % size === 0) {
    return format === "u16" ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.buffer, bytes.byteOffset, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (format === "u16") return Uint16Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
  return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
}

/** Decodes raw pixels; throws with a reason a person can read when the data does not fit its shape. */
export function rawPixels(image: ImageUpdate): RawPixels {
  const { format, width, height, channels } = image;
  if (format === "jpeg" || format === "png") throw new Error(`${format} is not raw pixels`);
  let bytes: Uint8Array;
  try {
    bytes = base64Bytes(image.data);
  } catch {
    throw new Error(`the ${format} data is not valid base64`);
  }
  const expected = width * height * channels * channelBytes(format);
  if (bytes.length !== expected) {
    const shape = channels > 1 ? `[${height}, ${width}, ${channels}]` : `[${height}, ${width}]`;
    throw new Error(`${bytes.length} bytes, but shape ${shape} of ${format} needs ${expected}`);
  }
  const values = format === "u8" ? bytes : typed(bytes, format);
  return { width, height, channels, values };
}

/** Whether an image is drawn through a colormap: u16 and f32, and u8 mono given a colormap or range. */
export function isHeatmap(image: ImageUpdate): boolean {
  if (image.format === "jpeg" || image.format === "png" || image.channels !== 1) return false;
  return image.format !== "u8" || image.colormap !== undefined || image.range !== undefined;
}

/** The smallest and largest finite values, or null when there are none. */
export function finiteRange(values: Values): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // NaN fails both comparisons; infinities are not finite data.
    if (v < lo && v !== -Infinity) lo = v;
    if (v > hi && v !== Infinity) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** The values at the colormap's ends: the message's range, else the data's finite min/max. */
export function heatmapRange(image: ImageUpdate, values: Values): [number, number] {
  return image.range ?? finiteRange(values) ?? [0, 1];
}

/** Entries per unit of value: maps [lo, hi] onto colormap indices 0–255 (0 when lo = hi: all low). */
export function colormapScale([lo, hi]: [number, number]): number {
  return hi > lo ? (COLORMAP_SIZE - 1) / (hi - lo) : 0;
}

/**
 * The colormap applied on the CPU (the fallback without WebGL), into `out` (RGBA). The same rule
 * as the shader: index = round(clamp((v − lo) · scale, 0, 255)); NaN is transparent, infinities
 * take the ends.
 */
export function colormapInto(values: Values, range: [number, number], table: Uint8Array, out: Uint8ClampedArray): void {
  const lo = range[0];
  const scale = colormapScale(range);
  const top = COLORMAP_SIZE - 1;
  for (let i = 0, o = 0; i < values.length; i++, o += 4) {
    const v = values[i];
    if (v !== v) {
      out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
      continue;
    }
    const k = (v - lo) * scale;
    // NaN (∞ · 0) lands on 0.
    const index = k >= top ? top : k > 0 ? (k + 0.5) | 0 : 0;
    const at = index * 4;
    out[o] = table[at];
    out[o + 1] = table[at + 1];
    out[o + 2] = table[at + 2];
    out[o + 3] = 255;
  }
}

/** u8 mono, RGB or RGBA pixels as RGBA, into `out`. */
export function rgbaInto(pixels: RawPixels, out: Uint8ClampedArray): void {
  const { values, channels } = pixels;
  const n = pixels.width * pixels.height;
  if (channels === 4) {
    out.set(values);
    return;
  }
  for (let i = 0, o = 0, s = 0; i < n; i++, o += 4, s += channels) {
    if (channels === 1) {
      out[o] = out[o + 1] = out[o + 2] = values[s];
    } else {
      out[o] = values[s];
      out[o + 1] = values[s + 1];
      out[o + 2] = values[s + 2];
    }
    out[o + 3] = 255;
  }
}

/** A number for a label or a readout: short, exact for integers, exponent for extremes. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return v.toPrecision(6).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

/** The values of pixel (x, y): one per channel. */
export function pixelValues(pixels: RawPixels, x: number, y: number): number[] {
  const at = (y * pixels.width + x) * pixels.channels;
  return Array.from(pixels.values.subarray(at, at + pixels.channels));
}
