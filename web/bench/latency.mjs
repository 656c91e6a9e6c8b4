// Producer → browser latency, main-thread time and first frame, in real Chromium.
//
//   node web/bench/latency.mjs [--rates 1000,10000] [--seconds 5]
//
// Starts vizcast (VIZCAST_BIN, default target/release/vizcast), opens the viewer with ?metrics,
// and sends single-message frames {"stream","t","value"} at each rate from this process. Each
// message's `t` is its send time; the page records (its clock − t) on `onmessage` and at the next
// animation frame that drew it. Both processes read the same wall clock (performance.timeOrigin +
// performance.now()). Main-thread time is Chromium's own TaskDuration (DevTools protocol).

import { join } from "node:path";

import { launch, now, producer, repo, sleep, startVizcast } from "../tests/helpers.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const rates = option("--rates", "1000,10000").split(",").map(Number);
const seconds = Number(option("--seconds", "5"));
process.env.VIZCAST_BIN ??= join(repo, "target/release/vizcast");

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN);
const fmt = (v) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

const browser = await launch();
console.log(`| rate | messages | onmessage p50 ms | onmessage p99 ms | drawn p50 ms | drawn p99 ms | main thread busy | first frame ms |`);
console.log(`|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const rate of rates) {
  const vizcast = await startVizcast();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.goto(`${vizcast.url}/?metrics`);
  await page.waitForFunction(() => window.vizcast.status.state === "live");
  const firstFrame = await page.evaluate(async () => {
    while (window.vizcast.firstFrameMs() === null) await new Promise((r) => requestAnimationFrame(r));
    return window.vizcast.firstFrameMs();
  });
  const p = await producer(vizcast.url);
  // Warm up for a second, then measure.
  const send = async (duration) => {
    const start = now();
    let sent = 0;
    while (now() - start < duration) {
      const due = Math.floor((now() - start) * rate) - sent;
      for (let k = 0; k < due; k++) p.send(`{"stream":"bench/x","t":${now()},"value":${sent++}}`);
      await sleep(1);
    }
    return sent;
  };
  await send(1);
  await page.evaluate(() => {
    window.vizcast.metrics.onMessage.length = 0;
    window.vizcast.metrics.onFrame.length = 0;
  });
  const before = await cdp.send("Performance.getMetrics");
  const wallBefore = now();
  const sent = await send(seconds);
  await sleep(300);
  const after = await cdp.send("Performance.getMetrics");
  const wall = now() - wallBefore;
  const metric = (m, name) => m.metrics.find((x) => x.name === name)?.value ?? 0;
  const busy = (metric(after, "TaskDuration") - metric(before, "TaskDuration")) / wall;
  const { onMessage, onFrame, spent } = await page.evaluate(() => ({ ...window.vizcast.metrics, spent: { ...window.vizcast.metrics.spent, messages: window.vizcast.handlingMs() } }));
  console.error(`  ${rate}/s: ms spent per second: ${Object.entries(spent).map(([k, v]) => `${k} ${(v / (wall + 1)).toFixed(1)}`).join(", ")}`);
  onMessage.sort((a, b) => a - b);
  onFrame.sort((a, b) => a - b);
  console.log(
    `| ${rate}/s | ${sent} | ${fmt(percentile(onMessage, 0.5))} | ${fmt(percentile(onMessage, 0.99))} | ${fmt(percentile(onFrame, 0.5))} | ${fmt(percentile(onFrame, 0.99))} | ${(busy * 100).toFixed(0)} % | ${firstFrame.toFixed(0)} |`,
  );
  p.close();
  await page.close();
  await vizcast.stop();
}
await browser.close();
