// Images and heatmaps in the browser viewer, in real Chromium against the real vizcast binary:
// JPEG, PNG and raw pixels drawn where they belong, heatmaps' colormaps with and without WebGL,
// only the newest image decoded, hidden image streams left out of the subscription, clears,
// undecodable data, and the page on a desktop and a phone.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { encodePng, imagePixels, launch, openPage, producer, screenshot, sleep, startVizcast, waitImageDrawn, waitInPage } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Top-left, top-right, bottom-left, bottom-right. */
const QUADRANTS = [
  [230, 40, 40],
  [40, 200, 60],
  [40, 60, 220],
  [240, 220, 40],
];

/** The viridis and turbo end colours (matplotlib's and Google's tables). */
const ENDS = {
  viridis: [[0x44, 0x01, 0x54], [0xfd, 0xe7, 0x25]],
  turbo: [[0x30, 0x12, 0x3b], [0x7a, 0x04, 0x03]],
};

/** RGBA bytes of four solid quadrants. */
function quadrantPixels(width, height) {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const q = (y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1);
      rgba.set([...QUADRANTS[q], 255], (y * width + x) * 4);
    }
  }
  return rgba;
}

/** The centres of the four quadrants, as image pixels. */
function quadrantCentres(width, height) {
  const [x0, x1, y0, y1] = [width / 4, (3 * width) / 4, height / 4, (3 * height) / 4].map(Math.floor);
  return [[x0, y0], [x1, y0], [x0, y1], [x1, y1]];
}

/** Whether two colours are within `tolerance` in every channel. */
function near(actual, expected, tolerance) {
  return expected.every((c, k) => Math.abs(actual[k] - c) <= tolerance);
}

function assertColour(actual, expected, tolerance, what) {
  assert.ok(near(actual, expected, tolerance), `${what}: rgb(${actual.slice(0, 3)}) is not within ${tolerance} of rgb(${expected})`);
}

/**
 * JPEGs made by the page's own encoder (canvas convertToBlob), as base64: `draw` is a function
 * source run as (g, width, height, i) on an OffscreenCanvas, once per image.
 */
function jpegsInPage(page, { width, height, count = 1, quality = 0.95, draw }) {
  return page.evaluate(
    async ({ width, height, count, quality, draw }) => {
      const paint = new Function("g", "width", "height", "i", draw);
      const out = [];
      for (let i = 0; i < count; i++) {
        const canvas = new OffscreenCanvas(width, height);
        const g = canvas.getContext("2d");
        paint(g, width, height, i);
        const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/jpeg", quality })).arrayBuffer());
        let binary = "";
        for (let k = 0; k < bytes.length; k += 0x8000) binary += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
        out.push(btoa(binary));
      }
      return out;
    },
    { width, height, count, quality, draw },
  );
}

const DRAW_QUADRANTS = `
  const q = ${JSON.stringify(QUADRANTS)};
  q.forEach(([r, gr, b], k) => {
    g.fillStyle = "rgb(" + r + "," + gr + "," + b + ")";
    g.fillRect((k % 2) * width / 2, Math.floor(k / 2) * height / 2, width / 2, height / 2);
  });`;

/** Little-endian base64 of a typed array. */
function b64(array) {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString("base64");
}

/** The text of a part of the card of `stream`. */
function cardText(page, stream, selector) {
  return page.evaluate(([name, sel]) => {
    const card = [...document.querySelectorAll(".image-card")].find((c) => c.dataset.stream === name);
    return card?.querySelector(sel)?.textContent ?? null;
  }, [stream, selector]);
}

/** Moves the pointer over image pixel (x, y) of the card of `stream` (the canvas is not letterboxed here). */
async function hoverPixel(page, stream, x, y, width, height) {
  const canvas = page.locator(".image-card").filter({ has: page.locator(".image-name", { hasText: stream }) }).locator("canvas.image-canvas");
  const box = await canvas.boundingBox();
  const scale = Math.min(box.width / width, box.height / height);
  const left = (box.width - width * scale) / 2;
  const top = (box.height - height * scale) / 2;
  await canvas.hover({ position: { x: left + (x + 0.5) * scale, y: top + (y + 0.5) * scale } });
}

/** The hub's statistics of its one viewer. */
async function viewerStats(vizcast) {
  const { viewers } = await (await fetch(`${vizcast.url}/api/stats`)).json();
  assert.equal(viewers.length, 1, `one viewer: ${JSON.stringify(viewers)}`);
  return viewers[0];
}

/** Clicks the tree row's checkbox of `name` and waits until the store follows. */
async function toggle(page, name, visible) {
  await page.locator(`label.tree-row[title="${name}"] input[type=checkbox]`).click();
  await waitInPage(page, ([n, v]) => window.vizcast.store.isVisible(n) === v, [name, visible]);
}

test("a JPEG and a PNG of four coloured quadrants show each colour in its quadrant, with name, size, age and the pixel under the pointer", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const [jpeg] = await jpegsInPage(page, { width: 320, height: 240, draw: DRAW_QUADRANTS });
    const png = encodePng(200, 100, quadrantPixels(200, 100)).toString("base64");
    const p = await producer(vizcast.url);
    await p.send({ stream: "cam/front", t: 1.5, image: { jpeg } });
    await p.send({ stream: "cam/png", image: { png } });

    const front = await waitImageDrawn(page, "cam/front");
    assert.deepEqual([front.format, front.width, front.height, front.renderer], ["jpeg", 320, 240, "bitmap"]);
    const jpegPixels = await imagePixels(page, "cam/front", quadrantCentres(320, 240));
    jpegPixels.forEach((pixel, q) => assertColour(pixel, QUADRANTS[q], 16, `JPEG quadrant ${q}`));

    const still = await waitImageDrawn(page, "cam/png");
    assert.deepEqual([still.format, still.width, still.height], ["png", 200, 100]);
    const pngPixels = await imagePixels(page, "cam/png", quadrantCentres(200, 100));
    pngPixels.forEach((pixel, q) => assert.deepEqual(pixel, [...QUADRANTS[q], 255], `PNG quadrant ${q}`));

    // The card says what it shows, and how old it is (updated as time passes).
    assert.equal(await cardText(page, "cam/front", ".image-name"), "cam/front");
    assert.equal(await cardText(page, "cam/front", ".image-size"), "320×240 · JPEG");
    assert.equal(await cardText(page, "cam/png", ".image-size"), "200×100 · PNG");
    const age = await cardText(page, "cam/front", ".image-age");
    assert.match(age, /^\d+\.\d s ago$/);
    await sleep(400);
    assert.notEqual(await cardText(page, "cam/front", ".image-age"), age, "the age moves on");

    // Hovering reads the pixel under the pointer.
    await hoverPixel(page, "cam/png", 150, 75, 200, 100);
    assert.equal(await cardText(page, "cam/png", ".image-probe"), `x 150, y 75: rgb(${QUADRANTS[3].join(", ")})`);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

for (const webgl of [true, false]) {
  test(`heatmaps show their colormap's end colours at the range's ends ${webgl ? "with WebGL2" : "without WebGL (CPU fallback)"}`, async () => {
    const vizcast = await startVizcast();
    const own = webgl ? null : await launch({ webgl: false });
    try {
      const { page, problems } = await openPage(own ?? browser, `${vizcast.url}/`);
      await waitInPage(page, () => window.vizcast.status.state === "live");
      // A ramp over 16×8 cells from −1 (top left) to 3 (bottom right), row by row.
      const [w, h] = [16, 8];
      const ramp = Float32Array.from({ length: w * h }, (_, i) => -1 + (4 * i) / (w * h - 1));
      const p = await producer(vizcast.url);
      // First a larger one without a range: the data's finite min and max (the NaN cell is
      // transparent). WebGL draws the smaller ones after it in a corner of its larger canvas.
      const [aw, ah] = [24, 12];
      const holes = Float32Array.from({ length: aw * ah }, (_, i) => 10 + i / 4);
      holes[5] = NaN;
      await p.send({ stream: "heat/auto", image: { shape: [ah, aw], f32: b64(holes), colormap: "viridis" } });
      const auto = await waitImageDrawn(page, "heat/auto");
      assert.deepEqual(auto.range, [10, 10 + (aw * ah - 1) / 4], "the finite min and max");
      const [nan, first, last] = await imagePixels(page, "heat/auto", [[5, 0], [0, 0], [aw - 1, ah - 1]]);
      assert.equal(nan[3], 0, "NaN is transparent");
      assertColour(first, ENDS.viridis[0], 1, "auto range at the minimum");
      assertColour(last, ENDS.viridis[1], 1, "auto range at the maximum");

      for (const colormap of ["viridis", "turbo"]) {
        await p.send({ stream: `heat/${colormap}`, image: { shape: [h, w], f32: b64(ramp), colormap, range: [-1, 3] } });
      }

      for (const colormap of ["viridis", "turbo"]) {
        const stream = `heat/${colormap}`;
        const s = await waitImageDrawn(page, stream);
        assert.equal(s.renderer, webgl ? "webgl2" : "canvas2d", `${stream} drawn with ${s.renderer}`);
        assert.deepEqual(s.range, [-1, 3]);
        const [lo, hi] = await imagePixels(page, stream, [[0, 0], [w - 1, h - 1]]);
        assertColour(lo, ENDS[colormap][0], 1, `${colormap} at the minimum`);
        assertColour(hi, ENDS[colormap][1], 1, `${colormap} at the maximum`);
        // Every cell has the colour bar's entry for its value (the bar is drawn from the same table).
        const cells = await imagePixels(page, stream, Array.from({ length: w * h }, (_, i) => [i % w, Math.floor(i / w)]));
        const bar = await page.evaluate((name) => {
          const card = [...document.querySelectorAll(".image-card")].find((c) => c.dataset.stream === name);
          return Array.from(card.querySelector(".colorbar-ramp").getContext("2d").getImageData(0, 0, 256, 1).data);
        }, stream);
        cells.forEach((pixel, i) => {
          const index = Math.round(((ramp[i] + 1) * 255) / 4);
          assertColour(pixel, bar.slice(index * 4, index * 4 + 3), 1, `${colormap} cell ${i} (value ${ramp[i]}, entry ${index})`);
        });
        assert.deepEqual(await page.evaluate((name) => {
          const card = [...document.querySelectorAll(".image-card")].find((c) => c.dataset.stream === name);
          return [...card.querySelectorAll(".colorbar-labels span")].map((e) => e.textContent);
        }, stream), ["-1", "1", "3"]);
        assert.equal(await cardText(page, stream, ".image-size"), `16×8 · f32 · ${colormap}`);
      }
      assert.equal(await page.evaluate(() => window.vizcast.heatmapRenderer()), webgl ? "webgl2" : "canvas2d");

      // Hovering shows the cell's float value.
      await hoverPixel(page, "heat/viridis", 5, 2, w, h);
      const expected = Math.fround(-1 + (4 * 37) / 127);
      assert.equal(await cardText(page, "heat/viridis", ".image-probe"), `x 5, y 2: ${expected.toPrecision(6).replace(/0+$/, "")}`);
      await screenshot(page, `images-heatmaps-${webgl ? "webgl" : "cpu"}.png`);
      assert.deepEqual(p.errors, []);
      assert.deepEqual(problems, []);
      p.close();
    } finally {
      await own?.close();
      await vizcast.stop();
    }
  });
}

test("raw u8 mono, RGB and RGBA show their colours; u16 mono takes its range from the data", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const p = await producer(vizcast.url);
    const rgb = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]];
    await p.send({ stream: "raw/rgb", image: { shape: [2, 3, 3], u8: b64(Uint8Array.from(rgb.flat())) } });
    await p.send({ stream: "raw/rgba", image: { shape: [1, 2, 4], u8: b64(Uint8Array.from([10, 200, 30, 255, 250, 120, 0, 255])) } });
    await p.send({ stream: "raw/mono", image: { shape: [2, 2], u8: b64(Uint8Array.from([0, 85, 170, 255])) } });
    await p.send({ stream: "raw/mono-turbo", image: { shape: [1, 3], u8: b64(Uint8Array.from([7, 100, 200])), colormap: "turbo" } });
    const depth = Uint16Array.from({ length: 12 }, (_, i) => 1000 + 500 * i);
    await p.send({ stream: "raw/depth", image: { shape: [3, 4], u16: b64(depth) } });

    const s = await waitImageDrawn(page, "raw/rgb");
    assert.deepEqual([s.format, s.width, s.height, s.channels, s.renderer, s.colormap], ["u8", 3, 2, 3, "pixels", null]);
    const drawn = await imagePixels(page, "raw/rgb", rgb.map((_, i) => [i % 3, Math.floor(i / 3)]));
    drawn.forEach((pixel, i) => assert.deepEqual(pixel, [...rgb[i], 255], `RGB pixel ${i}`));
    assert.equal(await cardText(page, "raw/rgb", ".image-size"), "3×2 · u8 RGB");

    await waitImageDrawn(page, "raw/rgba");
    assert.deepEqual(await imagePixels(page, "raw/rgba", [[0, 0], [1, 0]]), [[10, 200, 30, 255], [250, 120, 0, 255]]);

    const mono = await waitImageDrawn(page, "raw/mono");
    assert.equal(mono.renderer, "pixels", "u8 mono without a colormap is drawn as it is");
    const grays = await imagePixels(page, "raw/mono", [[0, 0], [1, 0], [0, 1], [1, 1]]);
    assert.deepEqual(grays.map((px) => px.slice(0, 3)), [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]]);

    // u8 mono with a colormap is a heatmap (uploaded as R8UI with WebGL), its range the data's.
    const turbo = await waitImageDrawn(page, "raw/mono-turbo");
    assert.deepEqual([turbo.renderer, turbo.colormap, turbo.range], ["webgl2", "turbo", [7, 200]]);
    const [tlo, , thi] = await imagePixels(page, "raw/mono-turbo", [[0, 0], [1, 0], [2, 0]]);
    assertColour(tlo, ENDS.turbo[0], 1, "u8 turbo at the minimum");
    assertColour(thi, ENDS.turbo[1], 1, "u8 turbo at the maximum");
    assert.equal(await cardText(page, "raw/mono-turbo", ".image-size"), "3×1 · u8 mono · turbo");

    const d = await waitImageDrawn(page, "raw/depth");
    assert.deepEqual([d.format, d.colormap, d.range], ["u16", "gray", [1000, 6500]]);
    const [black, white] = await imagePixels(page, "raw/depth", [[0, 0], [3, 2]]);
    assert.deepEqual(black, [0, 0, 0, 255], "the data's minimum is black");
    assert.deepEqual(white, [255, 255, 255, 255], "the data's maximum is white");
    assert.equal(await cardText(page, "raw/depth", ".colorbar-labels"), "100037506500");
    await hoverPixel(page, "raw/depth", 1, 2, 4, 3);
    assert.equal(await cardText(page, "raw/depth", ".image-probe"), "x 1, y 2: 5500");
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("only the newest image is decoded when many arrive at once", async (t) => {
  // The hub itself skips images a newer one replaced once a viewer is behind (conflation): here
  // it sends every one, so that what is measured is the page's own skipping.
  const vizcast = await startVizcast(["--conflate-after", "60"]);
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    // 20 different 1280×720 JPEGs: a solid colour each, with stripes so they are not trivial.
    const colours = Array.from({ length: 20 }, (_, i) => [(i * 53) % 256, (i * 97 + 40) % 256, 255 - ((i * 29) % 256)]);
    const jpegs = await jpegsInPage(page, {
      width: 1280,
      height: 720,
      count: 20,
      draw: `const c = ${JSON.stringify(colours)}[i];
        g.fillStyle = "rgb(" + c.join(",") + ")";
        g.fillRect(0, 0, width, height);
        g.fillStyle = "rgba(0,0,0,0.5)";
        for (let x = 0; x < width; x += 80) g.fillRect(x, 0, 20, height / 4);`,
    });
    const p = await producer(vizcast.url);
    // 20 images in one frame (a batch) arrive within one animation frame: only the last is decoded.
    await p.send(`[${jpegs.map((jpeg) => `{"stream":"cam/batch","image":{"jpeg":"${jpeg}"}}`).join(",")}]`);
    const batch = await waitImageDrawn(page, "cam/batch", 20);
    assert.deepEqual([batch.received, batch.decodes, batch.skipped, batch.drawn], [20, 1, 19, 1], JSON.stringify(batch));
    const [batchCentre] = await imagePixels(page, "cam/batch", [[640, 500]]);
    assertColour(batchCentre, colours[19], 12, "the batch's last image is shown");

    // 20 frames sent back to back arrive over a few animation frames (how many depends on the
    // machine): each frame decodes only the newest, and never one a newer one replaced.
    await Promise.all(jpegs.map((jpeg) => p.send(`{"stream":"cam/burst","image":{"jpeg":"${jpeg}"}}`)));
    const s = await waitImageDrawn(page, "cam/burst", 20);
    t.diagnostic(`20 JPEGs in 20 frames back to back: ${s.decodes} decoded, ${s.skipped} skipped, ${s.drawn} drawn`);
    assert.equal(s.received, 20);
    assert.ok(s.decodes <= 10, `${s.decodes} of 20 images decoded`);
    assert.equal(s.decodes + s.skipped, 20, `every image is decoded or skipped: ${JSON.stringify(s)}`);
    assert.equal(s.drawn, s.decodes);
    assert.equal((await viewerStats(vizcast)).conflated_frames, 0, "the hub sent every image");
    const [centre] = await imagePixels(page, "cam/burst", [[640, 500]]);
    assertColour(centre, colours[19], 12, "the last image is shown");
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a 1080p JPEG from arrival to drawn (measured; software rendering)", async (t) => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    // A busy picture (gradients, shapes, noise) so the file is of a camera's size.
    const jpegs = await jpegsInPage(page, {
      width: 1920,
      height: 1080,
      count: 3,
      quality: 0.85,
      draw: `const sky = g.createLinearGradient(0, 0, 0, height);
        sky.addColorStop(0, "#1e3a8a"); sky.addColorStop(0.6, "#93c5fd"); sky.addColorStop(0.61, "#365314"); sky.addColorStop(1, "#a3e635");
        g.fillStyle = sky; g.fillRect(0, 0, width, height);
        for (let k = 0; k < 4000; k++) {
          g.fillStyle = "hsl(" + ((k * 37 + i * 50) % 360) + ",70%," + (30 + (k % 40)) + "%)";
          g.fillRect((k * 7919) % width, (k * 104729) % height, 4 + (k % 23), 4 + (k % 17));
        }`,
    });
    const p = await producer(vizcast.url);
    const latencies = [];
    const decodes = [];
    for (let i = 0; i < 9; i++) {
      await p.send(`{"stream":"cam/hd","image":{"jpeg":"${jpegs[i % 3]}"}}`);
      const s = await waitImageDrawn(page, "cam/hd", i + 1);
      latencies.push(s.latencyMs);
      decodes.push(s.decodeMs);
      // Slower than the decoder: each image is decoded.
      await sleep(250);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const kb = Math.round((jpegs[0].length * 3) / 4 / 1024);
    t.diagnostic(`1920×1080 JPEG (${kb} KiB): arrival → drawn median ${median(latencies).toFixed(1)} ms (max ${Math.max(...latencies).toFixed(1)}), decode → drawn median ${median(decodes).toFixed(1)} ms; headless Chromium, software rendering`);
    assert.ok(median(latencies) < 2000, `arrival → drawn ${median(latencies)} ms`);
    const s = await page.evaluate(() => window.vizcast.images()["cam/hd"]);
    assert.deepEqual([s.width, s.height, s.decodes, s.skipped], [1920, 1080, 9, 0]);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a hidden image stream is no longer sent to the page, and comes back with its latest image when shown", async () => {
  // Every frame is either sent or filtered (none conflated, should this machine fall behind).
  const vizcast = await startVizcast(["--conflate-after", "60"]);
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const p = await producer(vizcast.url);
    // Tiny PNGs whose red channel counts the images sent.
    const frame = (stream, i) => ({ stream, image: { png: encodePng(2, 2, Uint8Array.from({ length: 16 }, (_, k) => (k % 4 === 0 ? i % 256 : 255))).toString("base64") } });
    let sent = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        await p.send(frame("cam/a", sent));
        await p.send(frame("cam/b", sent));
        sent++;
        await sleep(40);
      }
    })();
    await waitImageDrawn(page, "cam/a", 3);
    await waitImageDrawn(page, "cam/b", 3);
    await waitInPage(page, () => document.querySelector('label.tree-row[title="cam/a"]') !== null);

    await toggle(page, "cam/a", false);
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*","!cam/a"]');
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*", "!cam/a"]);
    await waitInPage(page, () => ![...document.querySelectorAll(".image-card")].some((c) => c.dataset.stream === "cam/a"));
    const held = await page.evaluate(() => window.vizcast.images());
    const filteredBefore = (await viewerStats(vizcast)).filtered_frames;
    const sentBefore = sent;
    await sleep(1200);
    const now = await page.evaluate(() => window.vizcast.images());
    const filtered = (await viewerStats(vizcast)).filtered_frames - filteredBefore;
    assert.equal(now["cam/a"].received, held["cam/a"].received, "no image of the hidden stream arrived");
    assert.equal(now["cam/a"].visible, false);
    assert.ok(now["cam/b"].received > held["cam/b"].received + 5, "the shown stream keeps coming");
    assert.ok(sent - sentBefore > 10, `${sent - sentBefore} hidden images sent meanwhile`);
    assert.ok(filtered >= sent - sentBefore - 5, `the hub filtered ${filtered} of the ${sent - sentBefore} hidden frames`);

    // Shown again: the subscription's snapshot brings its latest image.
    running = false;
    await loop;
    await toggle(page, "cam/a", true);
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*"]');
    await waitImageDrawn(page, "cam/a");
    const [pixel] = await imagePixels(page, "cam/a", [[0, 0]]);
    assert.equal(pixel[0], (sent - 1) % 256, "the latest image sent is shown");
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a clear removes the images at and below its stream; an undecodable image shows an error in its card", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const p = await producer(vizcast.url);
    const png = encodePng(4, 4, quadrantPixels(4, 4)).toString("base64");
    for (const stream of ["cam", "cam/left", "cam/right", "camera"]) await p.send({ stream, image: { png } });
    await waitInPage(page, () => document.querySelectorAll(".image-card").length === 4);
    await p.send({ stream: "cam", clear: true });
    await waitInPage(page, () => document.querySelectorAll(".image-card").length === 1);
    assert.deepEqual(await page.evaluate(() => Object.keys(window.vizcast.images())), ["camera"]);
    assert.deepEqual(await page.evaluate(() => [...document.querySelectorAll(".image-card")].map((c) => c.dataset.stream)), ["camera"]);
    await p.send({ stream: "cam/left", image: { png } });
    await waitImageDrawn(page, "cam/left");

    // A PNG whose structure (and every CRC) is sound, so the hub takes it, but whose pixels are
    // not deflate data: the browser cannot decode it, and the card says so.
    const broken = encodePng(4, 4, quadrantPixels(4, 4), { idat: Buffer.from("these are not deflated pixels") }).toString("base64");
    await p.send({ stream: "cam/left", image: { png: broken } });
    await waitInPage(page, () => window.vizcast.images()["cam/left"]?.error !== null);
    const s = await page.evaluate(() => window.vizcast.images()["cam/left"]);
    assert.match(s.error, /PNG could not be decoded/);
    assert.equal(s.drawn, 1, "the previous image stays");
    assert.match(await cardText(page, "cam/left", ".image-error"), /PNG could not be decoded/);
    assert.equal(await page.locator(".image-card.failed .image-error").isVisible(), true);
    // The next good image clears the error.
    await p.send({ stream: "cam/left", image: { png } });
    const fixed = await waitImageDrawn(page, "cam/left", 3);
    assert.equal(fixed.error, null);
    assert.equal(await page.locator(".image-card.failed").count(), 0);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a camera and heatmaps on a desktop and on a phone (screenshots)", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    const phone = await openPage(browser, `${vizcast.url}/`, { width: 390, height: 844 });
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const [camera] = await jpegsInPage(page, {
      width: 640,
      height: 360,
      quality: 0.9,
      draw: `const sky = g.createLinearGradient(0, 0, 0, height);
        sky.addColorStop(0, "#0c4a6e"); sky.addColorStop(0.55, "#7dd3fc"); sky.addColorStop(0.56, "#3f6212"); sky.addColorStop(1, "#84cc16");
        g.fillStyle = sky; g.fillRect(0, 0, width, height);
        g.fillStyle = "#fde68a"; g.beginPath(); g.arc(500, 70, 36, 0, Math.PI * 2); g.fill();
        g.fillStyle = "#57534e"; g.fillRect(80, 120, 140, 110); g.fillStyle = "#b91c1c";
        g.beginPath(); g.moveTo(70, 120); g.lineTo(150, 70); g.lineTo(230, 120); g.fill();
        g.fillStyle = "#1c1917"; g.fillRect(260, 230, 220, 60); g.fillStyle = "#fafafa"; g.font = "20px sans-serif"; g.fillText("cam/front", 16, 340);`,
    });
    const p = await producer(vizcast.url);
    const [w, h] = [96, 64];
    const field = Float32Array.from({ length: w * h }, (_, i) => {
      const [x, y] = [i % w, Math.floor(i / w)];
      return 40 * Math.exp(-((x - 62) ** 2 + (y - 26) ** 2) / 180) + 25 * Math.exp(-((x - 24) ** 2 + (y - 44) ** 2) / 90) + 20;
    });
    const depth = Uint16Array.from({ length: 80 * 60 }, (_, i) => {
      const [x, y] = [i % 80, Math.floor(i / 80)];
      return 400 + y * 50 + Math.round(300 * Math.sin(x / 9));
    });
    await p.send([
      { stream: "cam/front", t: 1, image: { jpeg: camera } },
      { stream: "cam/depth", t: 1, image: { shape: [60, 80], u16: b64(depth), colormap: "viridis" } },
      { stream: "thermal", t: 1, image: { shape: [h, w], f32: b64(field), colormap: "turbo", range: [20, 60] } },
    ]);
    for (let i = 0; i < 30; i++) await p.send({ stream: "robot/speed", t: 1 + i / 10, value: Math.sin(i / 5) });
    for (const stream of ["cam/front", "cam/depth", "thermal"]) {
      await waitImageDrawn(page, stream);
      await waitImageDrawn(phone.page, stream);
    }
    await hoverPixel(page, "thermal", 62, 26, w, h);
    await sleep(300);
    await screenshot(page, "images-desktop.png");
    await phone.page.locator("#images").scrollIntoViewIfNeeded();
    await sleep(300);
    await screenshot(phone.page, "images-phone.png");
    // On a phone the cards stack in one column, within the screen's width.
    const layout = await phone.page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      lefts: [...new Set([...document.querySelectorAll(".image-card")].map((c) => Math.round(c.getBoundingClientRect().left)))],
      right: Math.max(...[...document.querySelectorAll(".image-card")].map((c) => c.getBoundingClientRect().right)),
    }));
    assert.ok(layout.overflow <= 0, `no sideways scrolling (${layout.overflow} px)`);
    assert.equal(layout.lefts.length, 1, "one column of cards");
    assert.ok(layout.right <= 390, `cards end at ${layout.right} px`);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems.concat(phone.problems), []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});
