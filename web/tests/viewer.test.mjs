// The browser viewer in real Chromium against the real vizcast binary.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { drawnPixels, freePort, launch, now, openPage, producer, repo, screenshot, sleep, startVizcast, waitInPage } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A small scene of every kind: a scalar group, a cloud, a line, an event. */
function sceneFrames(t, i = 0) {
  const cloud = [];
  for (let k = 0; k < 2000; k++) {
    const a = (k / 2000) * Math.PI * 8;
    cloud.push([Math.cos(a) * (1 + k / 2000), Math.sin(a) * (1 + k / 2000), k / 1000]);
  }
  return [
    { stream: "test/signal/a", t, value: Math.sin(t) },
    { stream: "test/signal/b", t, value: Math.cos(t) },
    { stream: "test/cloud", t, points: cloud, radius: 0.03 },
    { stream: "test/path", t, line: [[0, 0, 0], [1, 0, 0.5], [1, 1, 1]], append: i > 0 },
    { stream: "test/events", t, text: `event ${i}`, level: i % 2 ? "warn" : "info" },
  ];
}

test("the page loads, lists the streams, and the plots and the 3D view hold drawn pixels", async () => {
  const vizcast = await startVizcast(["--demo"]);
  try {
    const { page, response, problems } = await openPage(browser, `${vizcast.url}/`);
    assert.equal(response.status(), 200);
    await waitInPage(page, () => {
      const names = [...window.vizcast.store.kinds.keys()];
      return ["demo/signal/sine", "demo/imu/ax", "demo/cloud", "demo/trajectory", "demo/events"].every((n) => names.includes(n));
    });
    await waitInPage(page, () => window.vizcast.renders3d() > 2 && document.querySelectorAll(".uplot canvas").length >= 4);
    await sleep(1500);
    const tree = await page.locator("#tree").innerText();
    for (const name of ["sine", "noise", "cloud", "trajectory", "ax"]) assert.ok(tree.includes(name), `the stream list shows ${name}`);
    const plotPixels = await drawnPixels(page, ".uplot canvas");
    assert.ok(plotPixels > 200, `the first plot has ${plotPixels} drawn pixels`);
    const scenePixels = await drawnPixels(page, "#scene canvas");
    assert.ok(scenePixels > 2000, `the 3D view has ${scenePixels} drawn pixels`);
    assert.match(await page.locator("#status").innerText(), /live/);
    await screenshot(page, "viewer-desktop.png");
    const phone = await openPage(browser, `${vizcast.url}/`, { width: 390, height: 844 });
    await waitInPage(phone.page, () => window.vizcast.renders3d() > 2);
    await sleep(1000);
    await screenshot(phone.page, "viewer-phone.png");
    // On a phone the stream list folds away behind a button.
    assert.equal(await phone.page.locator("#tree").isVisible(), false);
    await phone.page.click("#toggle-streams");
    assert.equal(await phone.page.locator("#tree").isVisible(), true);
    assert.deepEqual(problems.concat(phone.problems), []);
  } finally {
    await vizcast.stop();
  }
});

test("a page opened after 5 s of streaming shows the earlier data at once", async () => {
  const vizcast = await startVizcast();
  try {
    const p = await producer(vizcast.url);
    const start = now();
    for (let i = 0; now() - start < 5; i++) {
      await p.send(sceneFrames(now(), i));
      await sleep(20);
    }
    // The producer is quiet from here on: whatever the page holds once its snapshot has ended
    // came with the snapshot, all at once, not over time (no wall-clock limit: CI machines are slow).
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const seen = await page.evaluate(() => {
      const s = window.vizcast.store.series.get("test/signal/a");
      return { count: s.len, span: s.t[s.len - 1] - s.t[0], cloud: window.vizcast.store.clouds.has("test/cloud"), events: window.vizcast.store.events.length };
    });
    assert.ok(seen.span > 4.5, `the page shows ${seen.span.toFixed(2)} s of history`);
    assert.ok(seen.count > 100, `${seen.count} samples`);
    assert.ok(seen.cloud, "the pinned cloud is there");
    assert.ok(seen.events > 100, `${seen.events} events`);
    await waitInPage(page, () => window.vizcast.renders3d() > 0);
    assert.ok((await drawnPixels(page, "#scene canvas")) > 500, "the late joiner draws the cloud");
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("the page reconnects by itself when vizcast restarts on the same port", async () => {
  const port = await freePort();
  let vizcast = await startVizcast([], { port });
  const { page, problems } = await openPage(browser, `${vizcast.url}/`);
  try {
    let p = await producer(vizcast.url);
    await p.send({ stream: "before", value: 1 });
    await waitInPage(page, () => window.vizcast.store.series.has("before"));
    const firstSession = await page.evaluate(() => window.vizcast.status.session);
    await vizcast.stop();
    await waitInPage(page, () => window.vizcast.status.state === "reconnecting");
    assert.match(await page.locator("#status").innerText(), /reconnecting|shutting down/);
    vizcast = await startVizcast([], { port });
    p = await producer(vizcast.url);
    await waitInPage(page, () => window.vizcast.status.state === "live", undefined, 30_000);
    await p.send({ stream: "after", value: 2 });
    await waitInPage(page, () => window.vizcast.store.series.has("after"));
    const state = await page.evaluate(() => ({ session: window.vizcast.status.session, before: window.vizcast.store.series.has("before") }));
    assert.notEqual(state.session, firstSession, "a new session");
    assert.equal(state.before, false, "the old session's data is gone, not mixed in");
    // The socket dropping is expected here; anything else is not.
    assert.deepEqual(problems.filter((m) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(m)), []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("without WebGL the plots still draw and the 3D view says why", async () => {
  const noGl = await launch({ webgl: false });
  const vizcast = await startVizcast();
  try {
    const p = await producer(vizcast.url);
    const { page, problems } = await openPage(noGl, `${vizcast.url}/`);
    for (let i = 0; i < 50; i++) {
      await p.send(sceneFrames(now(), i));
      await sleep(10);
    }
    await waitInPage(page, () => document.querySelectorAll(".uplot canvas").length > 0 && window.vizcast.store.series.get("test/signal/a")?.len >= 50);
    await sleep(500);
    assert.equal(await page.evaluate(() => window.vizcast.webgl), false);
    assert.match(await page.locator("#scene").innerText(), /WebGL is unavailable/);
    assert.ok((await drawnPixels(page, ".uplot canvas")) > 100, "the plots draw on a 2D canvas");
    await screenshot(page, "viewer-no-webgl.png");
    assert.deepEqual(problems, []);
    p.close();
  } finally {
    await vizcast.stop();
    await noGl.close();
  }
});

test("when sharing, the page and /ws need the token; the printed URL works", async () => {
  const vizcast = await startVizcast(["--share"]);
  try {
    const printed = vizcast.stdout().match(/this machine: (http:\/\/\S+)/)[1];
    const token = new URL(printed).searchParams.get("token");
    for (const url of [`${vizcast.url}/`, `${vizcast.url}/?token=wrong`]) {
      const { page, response } = await openPage(browser, url);
      assert.equal(response.status(), 401, url);
      await page.close();
    }
    const { page, response, problems } = await openPage(browser, printed);
    assert.equal(response.status(), 200);
    const p = await producer(vizcast.url);
    await p.send({ stream: "shared", value: 7 });
    await waitInPage(page, () => window.vizcast.store.series.get("shared")?.last === 7);
    const refused = await page.evaluate(
      (base) =>
        Promise.all(
          ["", "?token=wrong"].map(
            (q) =>
              new Promise((resolve) => {
                const ws = new WebSocket(`${base}/ws${q}`);
                ws.onopen = () => resolve("open");
                ws.onerror = () => resolve("refused");
              }),
          ),
        ),
      vizcast.url.replace("http", "ws"),
    );
    assert.deepEqual(refused, ["refused", "refused"]);
    assert.ok(token.length === 32);
    assert.deepEqual(problems.filter((m) => !/WebSocket|401/.test(m)), []);
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("hostile frames do not break the page", async () => {
  const vizcast = await startVizcast();
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live");
    const p = await producer(vizcast.url);
    const nanCloud = new Float32Array(3000).fill(NaN);
    const bigCloud = new Float32Array(600_000).map((_, i) => Math.sin(i));
    const hostile = [
      { stream: "<img src=x onerror=window.__pwned=1>", value: 1 },
      { stream: "xss", text: "<script>window.__pwned=2</script><b>bold</b>", level: "error" },
      { stream: "huge/text", text: "x".repeat(200_000) },
      { stream: "nan/cloud", points: { f32: Buffer.from(nanCloud.buffer).toString("base64") } },
      { stream: "big/cloud", points: { f32: Buffer.from(bigCloud.buffer).toString("base64") } },
      { stream: "deep", nested: { a: { b: { c: { d: { e: { f: [1, [2, [3, [4]]]] } } } } } } },
      { stream: "extremes", values: { big: 1e308, small: -1e308, tiny: 5e-324 } },
      { stream: "line/empty", line: [] },
      { stream: "line/append-first", line: [[1, 2, 3]], append: true },
      Array.from({ length: 2000 }, (_, i) => ({ stream: `many/s${i}`, value: i })),
    ];
    for (const frame of hostile) await p.send(frame);
    await p.send({ stream: "still/alive", value: 42 });
    await waitInPage(page, () => window.vizcast.store.series.get("still/alive")?.last === 42, undefined, 30_000);
    await sleep(1000);
    const state = await page.evaluate(() => ({
      pwned: window.__pwned,
      status: window.vizcast.status.state,
      frames: window.vizcast.frames(),
      tree: document.querySelector("#tree").innerText.includes("<img src=x"),
      events: document.querySelector("#events").innerText.includes("<script>"),
      injected: document.querySelectorAll("#tree img, #events script, #events b").length,
    }));
    assert.equal(state.pwned, undefined, "no script from a frame ran");
    assert.equal(state.injected, 0, "no element from a frame was created");
    assert.ok(state.tree && state.events, `hostile names and texts are shown as text: ${JSON.stringify(state)}`);
    assert.equal(state.status, "live");
    // The page still animates.
    const frames = state.frames;
    await sleep(500);
    assert.ok((await page.evaluate(() => window.vizcast.frames())) > frames);
    assert.deepEqual(p.errors, [], "the hub accepted all of it");
    assert.deepEqual(problems, []);
    await screenshot(page, "viewer-hostile.png");
    p.close();
  } finally {
    await vizcast.stop();
  }
});

test("a replay shows in the browser, and each loop restarts the view without piling up data", async () => {
  const vizcast = await startVizcast(["--speed", "4", "--loop"], { subcommand: ["replay", `${repo}/tests/data/every-kind-v0.1.mcap`] });
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => /replay (playing|paused)/.test(document.querySelector("#status").textContent));
    await waitInPage(page, () => window.vizcast.store.series.has("robot/arm/joint1") && window.vizcast.renders3d() > 0);
    // The recording is 2.5 s: at 4× a pass takes about 0.6 s. After several passes the series holds
    // at most one pass of samples (each loop's reset snapshot restates the state).
    await sleep(3000);
    const samples = await page.evaluate(() => window.vizcast.store.series.get("robot/arm/joint1").len);
    assert.ok(samples > 0 && samples <= 60, `${samples} samples after several loops (one pass has 50)`);
    assert.match(await page.locator("#status").innerText(), /replay (playing|paused) \d+:\d\d \/ 0:02 at 4×, looping/);
    assert.ok((await drawnPixels(page, "#scene canvas")) > 100, "the replayed cloud is drawn");
    assert.deepEqual(problems, []);
  } finally {
    await vizcast.stop();
  }
});

test("an edge whose NATS broker is unreachable says so in the status line, and still serves its own data", async () => {
  // Nothing listens on this port: the edge keeps trying, and tells its viewers.
  const nowhere = await freePort();
  const vizcast = await startVizcast(["--nats-subscribe", `nats://127.0.0.1:${nowhere}`]);
  try {
    const { page, problems } = await openPage(browser, `${vizcast.url}/`);
    await waitInPage(page, () => /NATS edge of \(disconnected\) nats:\/\/127\.0\.0\.1:\d+/.test(document.querySelector("#status").textContent));
    const p = await producer(vizcast.url);
    await p.send({ stream: "local/value", t: now(), value: 1 });
    await waitInPage(page, () => window.vizcast.store.series.has("local/value"));
    assert.match(await page.locator("#status").innerText(), /live/);
    assert.deepEqual(problems, []);
  } finally {
    await vizcast.stop();
  }
});
