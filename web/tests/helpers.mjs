// Shared by the browser tests: start the real vizcast binary, launch Debian's Chromium, produce
// data over a real WebSocket, and read back what the page drew.

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";

import { chromium } from "playwright-core";
import WebSocket from "ws";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "../..");
/** The binary under test (cargo test builds target/debug/vizcast), read when used. */
export function binary() {
  return process.env.VIZCAST_BIN ?? join(repo, "target/debug/vizcast");
}
/** Screenshots land here (gitignored). */
export const artifacts = join(repo, "test-artifacts");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Starts `vizcast [SUBCOMMAND] --headless ARGS`; resolves once it listens. */
export async function startVizcast(args = [], { port = 0, subcommand = [] } = {}) {
  const proc = spawn(binary(), [...subcommand, "--headless", "--listen", `127.0.0.1:${port}`, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn", NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vizcast did not start: ${stderr}`)), 20_000);
    proc.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/listening on (https?:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`vizcast exited (${code}): ${stderr}`)));
  });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  return {
    url,
    port: Number(new URL(url).port),
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Launches headless Chromium; `webgl: false` turns WebGL off. */
export function launch({ webgl = true } = {}) {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
  ];
  if (!webgl) args.push("--disable-webgl", "--disable-3d-apis");
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

/** Opens a page that fails the test on any page error or console error. */
export async function openPage(browser, url, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  const response = await page.goto(url);
  return { page, response, problems };
}

/** A producer connected to /ingest. */
export async function producer(base, token) {
  const url = `${base.replace("http", "ws")}/ingest${token ? `?token=${token}` : ""}`;
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const errors = [];
  ws.on("message", (data) => {
    const text = data.toString();
    if (text.includes('"error"')) errors.push(text);
  });
  return {
    errors,
    send: (frame) => new Promise((resolve, reject) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame), (e) => (e ? reject(e) : resolve()))),
    close: () => ws.close(),
  };
}

/** Waits until `predicate()` (evaluated in the page) is truthy. */
export async function waitInPage(page, predicate, arg, timeout = 20_000) {
  await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
}

/**
 * Counts pixels of an element that differ from its background, from an element screenshot
 * (which works for WebGL canvases too). Decoded in the page, so no image library is needed.
 */
export async function drawnPixels(page, selector) {
  const png = await page.locator(selector).first().screenshot();
  return page.evaluate(async (dataUrl) => {
    const image = new Image();
    image.src = dataUrl;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const g = canvas.getContext("2d");
    g.drawImage(image, 0, 0);
    const { data } = g.getImageData(0, 0, canvas.width, canvas.height);
    const [r0, g0, b0] = [data[0], data[1], data[2]];
    let drawn = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r0) + Math.abs(data[i + 1] - g0) + Math.abs(data[i + 2] - b0) > 60) drawn++;
    }
    return drawn;
  }, `data:image/png;base64,${png.toString("base64")}`);
}

/** Saves a screenshot under test-artifacts/. */
export async function screenshot(page, name) {
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, name), fullPage: false });
}

/** Unix time in seconds, sub-millisecond. */
export function now() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** CRC-32 of PNG chunks. */
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type, body) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
  return Buffer.concat([head, body, crc]);
}

/**
 * An RGBA PNG of `width`×`height` from `rgba` (bytes, row by row), made with node:zlib alone.
 * `idat` replaces the compressed pixels (with a correct CRC): a PNG whose structure is sound but
 * whose pixels cannot be decoded.
 */
export function encodePng(width, height, rgba, { idat } = {}) {
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) Buffer.from(rgba.buffer, rgba.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", idat ?? deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** RGBA values ([r, g, b, a]) of image pixels ([x, y]) of the image card of `stream`, read from its canvas. */
export function imagePixels(page, stream, points) {
  return page.evaluate(([name, at]) => {
    const card = [...document.querySelectorAll(".image-card")].find((c) => c.dataset.stream === name);
    const canvas = card?.querySelector("canvas.image-canvas");
    if (!canvas) throw new Error(`no image card for ${name}`);
    const g = canvas.getContext("2d");
    return at.map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data));
  }, [stream, points]);
}

/** Waits until the newest image of `stream` is drawn (and at least `received` of them came). */
export async function waitImageDrawn(page, stream, received = 1, timeout = 20_000) {
  await waitInPage(
    page,
    ([name, n]) => {
      const s = window.vizcast.images()[name];
      return s && s.received >= n && s.drawn > 0 && s.drawnSerial === s.serial;
    },
    [stream, received],
    timeout,
  );
  return page.evaluate((name) => window.vizcast.images()[name], stream);
}
