// The viewer over TLS: `--share --tls-cert --tls-key` with a certificate made for the test; the
// page over https://, its WebSocket over wss://, a producer over wss://, and the token enforced.

import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import WebSocket from "ws";

import { launch, openPage, startVizcast, waitInPage } from "./helpers.mjs";

let browser;
let dir;
before(async () => {
  browser = await launch();
  dir = await mkdtemp(join(tmpdir(), "vizcast-tls-"));
  // A self-signed certificate for localhost and 127.0.0.1 (openssl ships with the OS).
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
});
after(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("over TLS the page, its WebSocket and producers work, and the token is still required", async () => {
  const vizcast = await startVizcast([
    "--share", "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"),
  ]);
  try {
    assert.match(vizcast.url, /^https:\/\//);
    const printed = vizcast.stdout().match(/this machine: (https:\/\/\S+)/)[1];
    const ca = await readFile(join(dir, "cert.pem"));
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      // Without the token: refused.
      const refused = await context.newPage();
      const denied = await refused.goto(`${vizcast.url}/`);
      assert.equal(denied.status(), 401);
      await refused.close();

      const page = await context.newPage();
      const problems = [];
      page.on("pageerror", (e) => problems.push(e.message));
      const response = await page.goto(printed);
      assert.equal(response.status(), 200);
      await waitInPage(page, () => window.vizcast.status.state === "live");
      assert.equal(await page.evaluate(() => location.protocol), "https:");

      // A producer over wss:// (on this machine it needs no token).
      const ws = new WebSocket(`${vizcast.url.replace("https", "wss")}/ingest`, { ca });
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      ws.send(JSON.stringify({ stream: "secure", value: 42 }));
      await waitInPage(page, () => window.vizcast.store.series.get("secure")?.last === 42);

      // The page's own origin over wss:// still needs the token.
      const wsStates = await page.evaluate(
        (base) =>
          Promise.all(
            ["", `?token=${new URL(location.href).searchParams.get("token")}`].map(
              (q) =>
                new Promise((resolve) => {
                  const socket = new WebSocket(`${base}/ws${q}`);
                  socket.onopen = () => {
                    socket.close();
                    resolve("open");
                  };
                  socket.onerror = () => resolve("refused");
                }),
            ),
          ),
        vizcast.url.replace("https", "wss"),
      );
      assert.deepEqual(wsStates, ["refused", "open"]);
      assert.deepEqual(problems, []);
      ws.close();
    } finally {
      await context.close();
    }
  } finally {
    await vizcast.stop();
  }
});
