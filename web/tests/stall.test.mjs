// A page whose connection stops for seconds (a busy tab, garbage collection, a Wi-Fi roam) beside
// the demo's 30 MB/s of clouds keeps every scalar sample: the hub skips the clouds that newer ones
// replaced, and the page is never lagged. The connection is held by a TCP proxy between Chromium
// and the hub that stops reading from the hub, so the hub's socket to the page backs up exactly as
// it does when a browser stalls.

import assert from "node:assert/strict";
import { createConnection, createServer } from "node:net";
import { after, before, test } from "node:test";

import { launch, now, openPage, sleep, startVizcast, waitInPage } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A TCP proxy to `port` on loopback; `hold(ms)` stops reading from the hub for `ms`. */
async function holdingProxy(port) {
  const links = new Set();
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port });
    const link = { client, upstream };
    links.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    async hold(ms) {
      const held = [...links];
      for (const { client, upstream } of held) {
        upstream.unpipe(client);
        upstream.pause();
      }
      await sleep(ms);
      for (const { client, upstream } of held) {
        upstream.pipe(client);
        upstream.resume();
      }
    },
    close() {
      for (const { client, upstream } of links) {
        client.destroy();
        upstream.destroy();
      }
      server.close();
    },
  };
}

test("a page whose socket is held for 3 s beside the demo keeps every sample", async () => {
  // Half the default queue: a debug build's demo makes its clouds at about 12 MB/s (a release
  // build's at 30 MB/s); the held 3 s must be well past the queue for the test to mean anything.
  const vizcast = await startVizcast(["--demo", "--viewer-queue-bytes", "16MiB"]);
  const proxy = await holdingProxy(vizcast.port);
  try {
    const { page, problems } = await openPage(browser, `http://127.0.0.1:${proxy.port}/`);
    await waitInPage(page, () => window.vizcast.status.state === "live" && window.vizcast.store.series.get("demo/signal/sine")?.len > 0);
    await sleep(1000);
    const before = await page.evaluate(() => {
      const s = window.vizcast.store.series.get("demo/signal/sine");
      return s.t[s.len - 1];
    });
    await proxy.hold(3000);
    const resumed = now();
    // Caught up with what was sent a second after the connection came back.
    await waitInPage(
      page,
      (after) => {
        const s = window.vizcast.store.series.get("demo/signal/sine");
        return s.t[s.len - 1] > after;
      },
      resumed + 1,
      60_000,
    );
    const seen = await page.evaluate((from) => {
      const s = window.vizcast.store.series.get("demo/signal/sine");
      let gap = 0;
      let samples = 0;
      for (let i = 1; i < s.len; i++) {
        if (s.t[i - 1] < from) continue;
        gap = Math.max(gap, s.t[i] - s.t[i - 1]);
        samples++;
      }
      const status = window.vizcast.status;
      return { gap, samples, lagEvents: status.lagEvents, dropped: status.droppedFrames, conflated: status.conflatedFrames };
    }, before);
    assert.equal(seen.lagEvents, 0, `the page was lagged: ${JSON.stringify(seen)}`);
    // 1 kHz: consecutive samples are a millisecond apart, across the held 3 s too.
    assert.ok(seen.gap < 0.0015, `a gap of ${seen.gap} s in demo/signal/sine: ${JSON.stringify(seen)}`);
    assert.ok(seen.samples > 4000, `samples across the hold: ${JSON.stringify(seen)}`);
    assert.ok(seen.conflated > 0, `clouds were skipped: ${JSON.stringify(seen)}`);
    assert.deepEqual(problems, []);
  } finally {
    proxy.close();
    await vizcast.stop();
  }
});
