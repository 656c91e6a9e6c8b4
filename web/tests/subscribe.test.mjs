// Subscriptions and conflation, seen from the browser: a stream hidden in the tree is left out of
// the page's subscription (the hub stops sending it) and comes back with its history when shown
// again; on a throttled link the page keeps every scalar sample while its 3D thins, and says so.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { freePort, launch, now, openPage, producer, repo, screenshot, sleep, startVizcast, waitInPage } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The hub's statistics. */
async function stats(vizcast) {
  const response = await fetch(`${vizcast.url}/api/stats`);
  assert.equal(response.status, 200);
  return response.json();
}

/** The one viewer's entry in /api/stats. */
async function viewerStats(vizcast) {
  const { viewers } = await stats(vizcast);
  assert.equal(viewers.length, 1, `one viewer: ${JSON.stringify(viewers)}`);
  return viewers[0];
}

/** Polls `check()` (in Node) until it returns something truthy; bounded. */
async function until(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A cloud of `n` points as base64 f32 (x = i, so the count can be read back). */
function cloudOf(n, shift = 0) {
  const f = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = (i / n) * Math.PI * 6;
    f[i * 3] = Math.cos(a + shift) * 2;
    f[i * 3 + 1] = Math.sin(a + shift) * 2;
    f[i * 3 + 2] = i / n;
  }
  return Buffer.from(f.buffer).toString("base64");
}

/** Starts a loop that sends `make(i)` every `everyMs` until stopped; `stop()` resolves with the count. */
function every(everyMs, make) {
  let running = true;
  let count = 0;
  const done = (async () => {
    while (running) {
      await make(count++);
      await sleep(everyMs);
    }
    return count;
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
    count: () => count,
  };
}

/** Clicks the tree row's checkbox of `name` (as a person would) and waits until the store follows. */
async function toggle(page, name, visible) {
  await page.locator(`label.tree-row[title="${name}"] input[type=checkbox]`).click();
  await waitInPage(page, ([n, v]) => window.vizcast.store.isVisible(n) === v, [name, visible]);
}

test("a stream hidden in the tree is no longer sent to the page, and comes back with its history when shown", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const p = await producer(vizcast.url);
    // Each in its own frame: frames are never cut, so a batch with a visible stream would still come.
    const clouds = every(40, (i) => p.send({ stream: "test/cloud", t: now(), points: { f32: cloudOf(500 + i) } }));
    const gauge = every(20, (i) => p.send({ stream: "test/gauge", t: now(), value: i }));
    const imu = every(20, (i) => p.send({ stream: "imu", t: now(), values: { ax: i, ay: -i } }));
    await waitInPage(page, () => {
      const s = window.vizcast.store;
      return s.clouds.get("test/cloud")?.version > 3 && s.series.get("test/gauge")?.len > 3 && s.series.get("imu/ay")?.len > 3;
    });
    await waitInPage(page, () => document.querySelector('label.tree-row[title="test/cloud"]') !== null);
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*"], "everything until something is hidden");

    // A series flattened from a stream that also carries a visible one cannot be left out.
    await toggle(page, "imu/ax", false);
    await sleep(600);
    assert.deepEqual(await page.evaluate(() => window.vizcast.store.subscription()), ["*"], "imu still carries imu/ay");
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*"]);

    // Hiding the cloud and the gauge leaves them out of the subscription.
    await toggle(page, "test/cloud", false);
    await toggle(page, "test/gauge", false);
    const hidden = ["*", "!test/cloud", "!test/gauge"];
    await waitInPage(page, (want) => JSON.stringify(window.vizcast.status.subscription) === want, JSON.stringify(hidden));
    assert.deepEqual((await viewerStats(vizcast)).subscription, hidden);
    // From the hub's `subscribed` on, no frame of theirs reaches the page.
    const held = await page.evaluate(() => ({
      version: window.vizcast.store.clouds.get("test/cloud").version,
      gauge: window.vizcast.store.series.get("test/gauge").len,
      ay: window.vizcast.store.series.get("imu/ay").len,
    }));
    const filteredBefore = (await viewerStats(vizcast)).filtered_frames;
    const sentBefore = clouds.count() + gauge.count();
    await sleep(1500);
    const filtered = (await viewerStats(vizcast)).filtered_frames - filteredBefore;
    const sentMeanwhile = clouds.count() + gauge.count() - sentBefore;
    const after = await page.evaluate(() => ({
      version: window.vizcast.store.clouds.get("test/cloud").version,
      gauge: window.vizcast.store.series.get("test/gauge").len,
      ay: window.vizcast.store.series.get("imu/ay").len,
      listed: document.querySelector('label.tree-row[title="test/cloud"] input').checked === false,
    }));
    assert.equal(after.version, held.version, "no cloud of the hidden stream arrived");
    assert.equal(after.gauge, held.gauge, "no sample of the hidden gauge arrived");
    assert.ok(after.ay > held.ay, "the visible series keeps coming");
    assert.ok(after.listed, "the hidden stream stays listed, unchecked");
    assert.ok(sentMeanwhile > 20, `${sentMeanwhile} hidden frames sent meanwhile`);
    assert.ok(filtered >= sentMeanwhile - 10, `the hub filtered ${filtered} of the ${sentMeanwhile} hidden frames sent`);

    // Shown again: the subscription is everything again, and the `subscribe` snapshot restores
    // what was sent while hidden (the latest cloud, the gauge's samples, each once).
    const cloudsSent = await clouds.stop();
    const gaugeSent = await gauge.stop();
    await sleep(300);
    await toggle(page, "test/cloud", true);
    await toggle(page, "test/gauge", true);
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*"]');
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*"]);
    await waitInPage(page, (n) => window.vizcast.store.series.get("test/gauge").len >= n, gaugeSent);
    const restored = await page.evaluate(() => {
      const s = window.vizcast.store.series.get("test/gauge");
      const values = Array.from(s.v.subarray(0, s.len));
      const cloud = window.vizcast.store.clouds.get("test/cloud");
      return { values, version: cloud.version, points: cloud.decode().positions.length / 3, status: window.vizcast.status.state };
    });
    assert.equal(restored.values.length, gaugeSent, "every gauge sample once: none missing, none twice");
    assert.ok(restored.values.every((v, i) => v === i), "the gauge's samples in order");
    assert.ok(restored.version > held.version, "a cloud came back");
    assert.equal(restored.points, 500 + cloudsSent - 1, "the restored cloud is the last one sent");
    assert.equal(restored.status, "live");
    await imu.stop();
    assert.deepEqual(p.errors, []);
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("what the page hides stays left out after it reconnects to a restarted hub", async () => {
  const port = await freePort();
  let vizcast = await startVizcast([], { port });
  const { page, problems } = await openPage(browser, `${vizcast.url}/`);
  try {
    let p = await producer(vizcast.url);
    await p.send({ stream: "cam/cloud", points: { f32: cloudOf(100) } });
    await p.send({ stream: "cam/rate", value: 1 });
    await waitInPage(page, () => document.querySelector('label.tree-row[title="cam/cloud"]') !== null && window.vizcast.store.series.has("cam/rate"));
    await toggle(page, "cam/cloud", false);
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*","!cam/cloud"]');
    const sentBefore = await page.evaluate(() => window.vizcast.status.subscriptionsSent);
    await vizcast.stop();
    await waitInPage(page, () => window.vizcast.status.state === "reconnecting");
    vizcast = await startVizcast([], { port });
    await waitInPage(page, () => window.vizcast.status.state === "live", undefined, 30_000);
    // Asked for in the new connection's URL, so even its join snapshot leaves the stream out.
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*","!cam/cloud"]');
    // Past the page's once-a-second check: the stream it hid, which the new hub never restated,
    // is still left out (it was once forgotten here, and everything was asked for again).
    await sleep(1500);
    assert.equal(await page.evaluate(() => window.vizcast.status.subscriptionsSent), sentBefore, "no subscribe message was needed");
    assert.equal(await page.evaluate(() => document.querySelector('label.tree-row[title="cam/cloud"] input')?.checked), false, "the hidden stream stays listed, unchecked");
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*", "!cam/cloud"]);
    p = await producer(vizcast.url);
    await p.send({ stream: "cam/cloud", points: { f32: cloudOf(100) } });
    await p.send({ stream: "cam/rate", value: 2 });
    await waitInPage(page, () => window.vizcast.store.series.get("cam/rate")?.last === 2);
    assert.equal(await page.evaluate(() => window.vizcast.store.clouds.has("cam/cloud")), false, "the hidden cloud was not sent");
    assert.equal((await viewerStats(vizcast)).filtered_frames, 1);
    assert.deepEqual(problems.filter((m) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(m)), []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a stream hidden during a looping replay stays listed and left out across loops", async () => {
  const vizcast = await startVizcast(["--speed", "4", "--loop"], { subcommand: ["replay", `${repo}/tests/data/every-kind-v0.1.mcap`] });
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.store.clouds.has("lidar/plain") && document.querySelector('label.tree-row[title="lidar/plain"]') !== null);
    await toggle(page, "lidar/plain", false);
    await waitInPage(page, () => JSON.stringify(window.vizcast.status.subscription) === '["*","!lidar/plain"]');
    const sent = await page.evaluate(() => window.vizcast.status.subscriptionsSent);
    // A pass takes about 0.6 s: each loop's reset snapshot leaves the hidden stream out.
    await sleep(3000);
    const state = await page.evaluate(() => ({
      sent: window.vizcast.status.subscriptionsSent,
      cloud: window.vizcast.store.clouds.has("lidar/plain"),
      other: window.vizcast.store.clouds.has("lidar"),
      row: document.querySelector('label.tree-row[title="lidar/plain"] input')?.checked,
    }));
    assert.deepEqual(state, { sent, cloud: false, other: true, row: false }, "no resubscription per loop, the row stays, unchecked");
    assert.deepEqual((await viewerStats(vizcast)).subscription, ["*", "!lidar/plain"]);
    await toggle(page, "lidar/plain", true);
    await waitInPage(page, () => window.vizcast.store.clouds.has("lidar/plain") && JSON.stringify(window.vizcast.status.subscription) === '["*"]');
    assert.deepEqual(problems, []);
  } finally {
    await vizcast.stop();
  }
});

test("on a throttled link every scalar sample arrives, the 3D view thins and the status line says so", async (t) => {
  const vizcast = await startVizcast(["--conflate-after", "0.1"]);
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  try {
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
    // 4 Mbit/s (~500 kB/s) both ways, far below the cloud stream's ~10 MB/s; set before the page
    // opens its socket.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: 500_000, uploadThroughput: 500_000 });
    await page.goto(`${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live", undefined, 60_000);

    const clouds = await producer(vizcast.url);
    const scalars = await producer(vizcast.url);
    const payloads = [0, 1, 2, 3].map((k) => cloudOf(20_000, k));
    // 20,000-point clouds (~320 kB each) at 30 Hz.
    const cloudLoop = every(33, (i) => clouds.send(`{"stream":"cloud","t":${now()},"points":{"f32":"${payloads[i % 4]}"}}`));
    // 1,000 samples a second with consecutive values: 10 every 10 ms, as columns.
    let next = 0;
    const scalarLoop = every(10, () => {
      const t = now();
      const ts = [];
      const vs = [];
      for (let k = 0; k < 10; k++) {
        ts.push(t - (9 - k) * 0.001);
        vs.push(next++);
      }
      return scalars.send({ stream: "seq", t: ts, value: vs });
    });

    // Watch the page while the link is saturated (bounded: at most 60 s).
    let sawThinned = "";
    let firstVersion = null;
    let lastVersion = 0;
    const start = Date.now();
    for (let i = 0; i < 240 && Date.now() - start < 60_000; i++) {
      await sleep(250);
      const seen = await page.evaluate(() => ({ status: document.querySelector("#status").textContent, version: window.vizcast.store.clouds.get("cloud")?.version ?? 0 }));
      if (seen.version > 0 && firstVersion === null) firstVersion = seen.version;
      lastVersion = seen.version;
      if (/3D thinned to [\d.]+ fps for this link/.test(seen.status)) sawThinned ||= seen.status;
      // Long enough to mean something, however slowly this machine runs the producers.
      if (sawThinned && firstVersion !== null && lastVersion - firstVersion >= 5 && Date.now() - start > 8000 && next > 5000) break;
    }
    await screenshot(page, "viewer-throttled.png");
    await cloudLoop.stop();
    await scalarLoop.stop();
    const total = next;
    const viewer = await viewerStats(vizcast);
    t.diagnostic(`${((Date.now() - start) / 1000).toFixed(1)} s: clouds ${firstVersion} → ${lastVersion}, ${total} samples, ${viewer.conflated_frames} frames conflated; "${sawThinned}"`);

    assert.ok(sawThinned, `the status line said the 3D was thinned (last: ${await page.locator("#status").innerText()})`);
    assert.ok(firstVersion !== null && lastVersion - firstVersion >= 5, `the 3D view kept updating: clouds ${firstVersion} → ${lastVersion}`);
    assert.ok(viewer.conflated_frames > 0, `the hub conflated for this viewer: ${JSON.stringify(viewer)}`);
    assert.ok(total > 5000, `${total} samples sent`);

    // Every sample arrives, in order, none twice (generous: the link drains what is queued).
    await waitInPage(page, (n) => window.vizcast.store.series.get("seq")?.last === n - 1, total, 120_000);
    const seq = await page.evaluate(() => {
      const s = window.vizcast.store.series.get("seq");
      let gaps = 0;
      for (let i = 1; i < s.len; i++) if (s.v[i] !== s.v[i - 1] + 1) gaps++;
      return { len: s.len, first: s.v[0], gaps, lagged: window.vizcast.status.lagEvents, conflated: window.vizcast.status.conflatedFrames };
    });
    assert.deepEqual({ len: seq.len, first: seq.first, gaps: seq.gaps, lagged: seq.lagged }, { len: total, first: 0, gaps: 0, lagged: 0 }, JSON.stringify(seq));
    assert.ok(seq.conflated > 0, "the page was told of the conflation");

    // Once the link keeps up again, the notice goes away.
    await waitInPage(page, () => !/thinned/.test(document.querySelector("#status").textContent), undefined, 30_000);
    assert.deepEqual(problems, []);
    assert.deepEqual(clouds.errors.concat(scalars.errors), []);
    clouds.close();
    scalars.close();
  } finally {
    await context.close();
    await vizcast.stop();
  }
});
