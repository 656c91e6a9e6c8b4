// The Foxglove WebSocket endpoint, /foxglove, seen from Foxglove's own client library: the
// serverInfo and advertise a Lichtblick or Foxglove app reads first, one channel per stream and
// kind in Foxglove's schemas (JSON messages, JSON Schema), only subscribed channels' messages, the
// latest message at once for a late subscriber, the token when sharing, and a status for a
// subscription to a channel that does not exist. Every message, live and exported (`vizcast
// export --foxglove`), validates against Foxglove's official JSON Schema of its name.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

import { assertChannelSchema, assertValidMessage, readMcap } from "./foxglove-schemas.mjs";
import { binary, producer, sleep, startVizcast } from "./helpers.mjs";

// The package is CommonJS: its named exports come through the default import.
const { FoxgloveClient, StatusLevel } = wsProtocol;

const WAIT_MS = 20_000;
/** `foxglove.NumericType` FLOAT32. */
const FLOAT32 = 7;

/** Polls `check()` until it returns something truthy; bounded. `state()` explains a timeout. */
async function until(what, check, state = () => "") {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${state() ? `: ${state()}` : ""}`);
    await sleep(50);
  }
}

/** The hub's `/foxglove` URL, from its `http://` base. */
function endpoint(base, query = "") {
  return `${base.replace(/^http/, "ws")}/foxglove${query}`;
}

/**
 * A FoxgloveClient connected to `/foxglove`; records, in order, everything the server sends.
 * Resolves once the socket is open.
 */
async function connect(base, { query = "", protocol = FoxgloveClient.SUPPORTED_SUBPROTOCOL } = {}) {
  const ws = new WebSocket(endpoint(base, query), [protocol]);
  const client = new FoxgloveClient({ ws });
  const decoder = new TextDecoder();
  const s = {
    ws,
    client,
    /** The ops received, in order (`serverInfo`, `advertise`, `message`…). */
    log: [],
    serverInfo: undefined,
    /** Every channel advertised and not unadvertised, by id. */
    channels: new Map(),
    advertises: [],
    /** `{ subscriptionId, timestamp, payload }`, the payload parsed from its UTF-8 JSON. */
    messages: [],
    statuses: [],
    errors: [],
    closed: false,
    received: (subscriptionId) => s.messages.filter((m) => m.subscriptionId === subscriptionId),
    summary: () =>
      JSON.stringify({
        log: s.log.slice(0, 40),
        topics: [...s.channels.values()].map((c) => `${c.id}:${c.topic}:${c.schemaName}`),
        statuses: s.statuses,
        errors: s.errors,
        messages: s.messages.length,
      }),
  };
  client.on("serverInfo", (info) => {
    s.log.push("serverInfo");
    s.serverInfo = info;
  });
  client.on("advertise", (channels) => {
    s.log.push("advertise");
    s.advertises.push(channels);
    for (const channel of channels) s.channels.set(channel.id, channel);
  });
  client.on("unadvertise", (ids) => {
    s.log.push("unadvertise");
    for (const id of ids) s.channels.delete(id);
  });
  client.on("message", ({ subscriptionId, timestamp, data }) => {
    s.log.push("message");
    const text = decoder.decode(data);
    let payload;
    try {
      payload = JSON.parse(text);
    } catch (e) {
      s.errors.push(`message of subscription ${subscriptionId} is not JSON (${e.message}): ${text.slice(0, 200)}`);
    }
    s.messages.push({ subscriptionId, timestamp, payload });
  });
  client.on("status", (status) => {
    s.log.push("status");
    s.statuses.push(status);
  });
  client.on("error", (e) => s.errors.push(String(e?.message ?? e)));
  client.on("close", () => (s.closed = true));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  s.close = async () => {
    client.close();
    await until("the Foxglove socket to close", () => s.closed);
  };
  return s;
}

/** Waits for the channel of `topic` to be advertised. */
function channelOf(s, topic) {
  return until(`a channel ${topic}`, () => [...s.channels.values()].find((c) => c.topic === topic), s.summary);
}

/** Waits for a message of subscription `id` whose payload is `matching`; returns the latest such payload. */
function nextMessage(s, id, matching = () => true) {
  return until(`a message of subscription ${id}`, () => s.received(id).findLast((m) => matching(m.payload))?.payload, s.summary);
}

/** A channel's encodings and schema as every vizcast channel has them. */
function assertJsonChannel(channel) {
  assert.equal(channel.encoding, "json", `${channel.topic}: message encoding`);
  assert.equal(channel.schemaEncoding, "jsonschema", `${channel.topic}: schema encoding`);
  assert.equal(typeof channel.schema, "string", `${channel.topic}: schema as text`);
  const schema = JSON.parse(channel.schema);
  assert.equal(typeof schema, "object", `${channel.topic}: the schema is a JSON object`);
  assert.notEqual(schema, null);
}

/** A Foxglove `time` as seconds. */
function seconds(stamp) {
  assert.equal(typeof stamp?.sec, "number", `a time: ${JSON.stringify(stamp)}`);
  assert.equal(typeof stamp?.nsec, "number", `a time: ${JSON.stringify(stamp)}`);
  assert.ok(stamp.nsec >= 0 && stamp.nsec < 1e9, `nsec within the second: ${stamp.nsec}`);
  return stamp.sec + stamp.nsec / 1e9;
}

/**
 * Reads a `foxglove.PointCloud` message: checks its frame, pose and x, y, z fields; returns the
 * points (and the bytes of each point, for colours).
 */
function readCloud(cloud) {
  assert.equal(cloud.frame_id, "world");
  assert.equal(cloud.pose?.orientation?.w, 1, `identity pose: ${JSON.stringify(cloud.pose)}`);
  const byName = Object.fromEntries(cloud.fields.map((f) => [f.name, f]));
  for (const [name, offset] of [["x", 0], ["y", 4], ["z", 8]]) {
    assert.deepEqual({ offset: byName[name]?.offset, type: byName[name]?.type }, { offset, type: FLOAT32 }, `field ${name}`);
  }
  const bytes = Buffer.from(cloud.data, "base64");
  const stride = cloud.point_stride;
  assert.equal(bytes.length % stride, 0, `data of ${bytes.length} bytes in points of ${stride}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const points = [];
  for (let at = 0; at < bytes.length; at += stride) {
    points.push([view.getFloat32(at, true), view.getFloat32(at + 4, true), view.getFloat32(at + 8, true)]);
  }
  return { points, bytes, stride, byName };
}

/** Points exactly representable as float32, scaled by `k` (still exact). */
function pointsTimes(k) {
  return [
    [0.5, -2.25, 1],
    [3, 0.25, -0.125],
    [-1.5, 2, 4.75],
    [0, 0, 0],
  ].map((p) => p.map((v) => v * k));
}

test("the demo: serverInfo, then clouds, lines, logs and scalars as Foxglove channels with JSON schemas", async () => {
  const vizcast = await startVizcast(["--demo"]);
  let fox;
  try {
    fox = await connect(vizcast.url);
    assert.equal(fox.ws.protocol, FoxgloveClient.SUPPORTED_SUBPROTOCOL, "the subprotocol is agreed");
    await until("serverInfo", () => fox.serverInfo, fox.summary);
    assert.equal(fox.log[0], "serverInfo", `serverInfo comes first: ${fox.summary()}`);
    assert.equal(fox.serverInfo.name, "vizcast");
    assert.ok(Array.isArray(fox.serverInfo.capabilities), `capabilities: ${JSON.stringify(fox.serverInfo.capabilities)}`);
    assert.equal(typeof fox.serverInfo.sessionId, "string", `sessionId: ${JSON.stringify(fox.serverInfo.sessionId)}`);
    await until("an advertise", () => fox.advertises.length > 0, fox.summary);
    assert.equal(fox.log[1], "advertise", `then an advertise: ${fox.summary()}`);

    // The demo's streams (crates/vizcast-demo): a coloured cloud, a trajectory, events, signals.
    const cloud = await channelOf(fox, "/demo/cloud");
    const trajectory = await channelOf(fox, "/demo/trajectory");
    const events = await channelOf(fox, "/demo/events");
    const sine = await channelOf(fox, "/demo/signal/sine");
    const imu = await channelOf(fox, "/demo/imu");
    assert.equal(cloud.schemaName, "foxglove.PointCloud");
    assert.equal(trajectory.schemaName, "foxglove.SceneUpdate");
    assert.equal(events.schemaName, "foxglove.Log");
    assert.equal(sine.schemaName, "vizcast.Scalars/demo/signal/sine");
    assert.equal(imu.schemaName, "vizcast.Scalars/demo/imu");
    const channels = [...fox.channels.values()];
    for (const channel of channels) assertJsonChannel(channel);
    const topics = channels.map((c) => c.topic);
    assert.equal(new Set(topics).size, topics.length, `one channel per topic: ${topics}`);
    assert.equal(new Set(channels.map((c) => c.id)).size, channels.length, "one id per channel");

    // One message of each, decoded as its schema says.
    const cloudSub = fox.client.subscribe(cloud.id);
    const points = await nextMessage(fox, cloudSub);
    fox.client.unsubscribe(cloudSub);
    const read = readCloud(points);
    assert.equal(read.stride, 16, "a coloured cloud has 16 bytes a point");
    assert.equal(read.points.length, 50_000, "the demo's 50,000 points");
    for (const name of ["red", "green", "blue"]) assert.ok(read.byName[name], `field ${name}: ${JSON.stringify(points.fields)}`);
    assert.ok(read.points.every((p) => p.every(Number.isFinite)), "finite positions");

    const lineSub = fox.client.subscribe(trajectory.id);
    const scene = await nextMessage(fox, lineSub);
    assert.ok(Array.isArray(scene.entities), `SceneUpdate entities: ${JSON.stringify(scene).slice(0, 300)}`);
    assert.ok(Array.isArray(scene.deletions), `SceneUpdate deletions: ${JSON.stringify(scene).slice(0, 300)}`);

    const logSub = fox.client.subscribe(events.id);
    const log = await nextMessage(fox, logSub);
    assert.equal(typeof log.message, "string", `Log: ${JSON.stringify(log)}`);
    assert.equal(typeof log.level, "number", `Log: ${JSON.stringify(log)}`);
    seconds(log.timestamp);

    const sineSub = fox.client.subscribe(sine.id);
    const sample = await nextMessage(fox, sineSub);
    assert.equal(typeof sample.value, "number", `Scalars: ${JSON.stringify(sample)}`);
    assert.ok(Math.abs(sample.value) <= 1, `a sine: ${sample.value}`);
    seconds(sample.timestamp);

    for (const m of fox.messages) assert.ok([cloudSub, lineSub, logSub, sineSub].includes(m.subscriptionId), `subscription ${m.subscriptionId}`);
    assert.deepEqual(fox.errors, []);
  } finally {
    await fox?.close();
    await vizcast.stop();
  }
});

test("only subscribed channels' messages come; a cloud decodes to the points sent; unsubscribe stops the flow", async () => {
  const vizcast = await startVizcast();
  let fox;
  let p;
  try {
    p = await producer(vizcast.url);
    fox = await connect(vizcast.url);
    await until("serverInfo", () => fox.serverInfo, fox.summary);

    // Sample i of gauge/a is i at t = 1000 + i/8 (exact); gauge/b is negative, so never mistaken.
    let next = 0;
    const round = async () => {
      const i = next++;
      await p.send({ stream: "gauge/a", t: 1000 + i / 8, value: i });
      await p.send({ stream: "gauge/b", t: 1000 + i / 8, value: -1 - i });
      return i;
    };
    await round();
    await p.send({ stream: "cloud", t: 1000, points: pointsTimes(1) });
    const a = await channelOf(fox, "/gauge/a");
    const b = await channelOf(fox, "/gauge/b");
    const cloud = await channelOf(fox, "/cloud");
    assert.equal(a.schemaName, "vizcast.Scalars/gauge/a");
    assert.equal(b.schemaName, "vizcast.Scalars/gauge/b");
    assert.equal(cloud.schemaName, "foxglove.PointCloud");
    for (const channel of [a, b, cloud]) assertJsonChannel(channel);
    assert.equal(new Set([a.id, b.id, cloud.id]).size, 3, "three channels");
    assert.deepEqual(fox.messages, [], "nothing before a subscription");

    // One scalar channel subscribed: its samples, and nothing of the other.
    const subA = fox.client.subscribe(a.id);
    let last;
    for (let k = 0; k < 10; k++) last = await round();
    await nextMessage(fox, subA, (m) => m.value === last);
    assert.deepEqual([...new Set(fox.messages.map((m) => m.subscriptionId))], [subA], `only subscription ${subA}: ${fox.summary()}`);
    const values = fox.received(subA).map((m) => m.payload.value);
    assert.ok(values.every((v) => Number.isInteger(v) && v >= 0), `only gauge/a's samples: ${values}`);
    const first = values[0];
    assert.deepEqual(values, Array.from({ length: last - first + 1 }, (_, k) => first + k), "each sample once, in order");
    for (const { payload } of fox.received(subA)) {
      assert.equal(seconds(payload.timestamp), 1000 + payload.value / 8, `the sample's time: ${JSON.stringify(payload)}`);
    }

    // The cloud: sent before the subscription, so it comes at once; the points as float32.
    const subC = fox.client.subscribe(cloud.id);
    const points = readCloud(await nextMessage(fox, subC));
    assert.equal(points.stride, 12, "no colours: 12 bytes a point");
    assert.equal(points.bytes.length, 4 * 12, "data is points × point_stride");
    assert.deepEqual(points.points, pointsTimes(1));

    // Unsubscribed: once a cloud sent afterwards has come, no further gauge/a sample comes, while
    // the producer keeps sending them (each round's sample before its cloud, on one socket).
    fox.client.unsubscribe(subA);
    await round();
    await p.send({ stream: "cloud", t: 1001, points: pointsTimes(2) });
    await nextMessage(fox, subC, (m) => readCloud(m).points[0][0] === pointsTimes(2)[0][0]);
    const held = fox.received(subA).length;
    for (let k = 3; k <= 6; k++) {
      await round();
      await p.send({ stream: "cloud", t: 1000 + k, points: pointsTimes(k) });
      const got = readCloud(await nextMessage(fox, subC, (m) => readCloud(m).points[0][0] === pointsTimes(k)[0][0]));
      assert.deepEqual(got.points, pointsTimes(k));
    }
    assert.equal(fox.received(subA).length, held, "no gauge/a sample after the unsubscribe");
    assert.deepEqual([...new Set(fox.messages.map((m) => m.subscriptionId))].sort(), [subA, subC].sort());
    assert.deepEqual(p.errors, []);
    assert.deepEqual(fox.errors, []);
  } finally {
    p?.close();
    await fox?.close();
    await vizcast.stop();
  }
});

test("a late subscriber gets each channel's latest message at once: clouds, lines, logs", async () => {
  const vizcast = await startVizcast();
  let watcher;
  let fox;
  try {
    const p = await producer(vizcast.url);
    await p.send({ stream: "cloud", t: 1000, points: pointsTimes(1) });
    await p.send({ stream: "cloud", t: 1001, points: pointsTimes(3) });
    await p.send({ stream: "lidar", t: 1001, points: pointsTimes(1).slice(0, 2), colors: ["#ff8000", "#0040c0"] });
    await p.send({ stream: "path", t: 1001, line: [[0, 0, 0], [1, 0, 0]] });
    await p.send({ stream: "log", t: 1001.5, text: "hi" });
    // Once a first client has seen every channel, the hub has them all.
    watcher = await connect(vizcast.url);
    for (const topic of ["/cloud", "/lidar", "/path", "/log"]) await channelOf(watcher, topic);
    assert.deepEqual(p.errors, []);
    p.close();

    fox = await connect(vizcast.url);
    await until("an advertise", () => fox.advertises.length > 0, fox.summary);
    assert.deepEqual(fox.log.slice(0, 2), ["serverInfo", "advertise"], fox.summary());
    const advertised = Object.fromEntries(fox.advertises[0].map((c) => [c.topic, c.schemaName]));
    assert.deepEqual(
      advertised,
      { "/cloud": "foxglove.PointCloud", "/lidar": "foxglove.PointCloud", "/path": "foxglove.SceneUpdate", "/log": "foxglove.Log" },
      "the first advertise lists every channel known",
    );
    for (const channel of fox.advertises[0]) assertJsonChannel(channel);
    const byTopic = Object.fromEntries(fox.advertises[0].map((c) => [c.topic, c]));

    // The latest cloud, not the first.
    const subCloud = fox.client.subscribe(byTopic["/cloud"].id);
    const cloud = await nextMessage(fox, subCloud);
    assert.deepEqual(readCloud(cloud).points, pointsTimes(3));
    assert.equal(seconds(cloud.timestamp), 1001);

    // A coloured cloud: 16 bytes a point, the colours where its fields say.
    const subLidar = fox.client.subscribe(byTopic["/lidar"].id);
    const lidar = readCloud(await nextMessage(fox, subLidar));
    assert.equal(lidar.stride, 16, "colours: 16 bytes a point");
    assert.equal(lidar.bytes.length, 2 * 16, "data is points × point_stride");
    assert.deepEqual(lidar.points, pointsTimes(1).slice(0, 2));
    const rgb = (i) => ["red", "green", "blue"].map((name) => lidar.bytes[i * 16 + lidar.byName[name].offset]);
    assert.deepEqual([rgb(0), rgb(1)], [[0xff, 0x80, 0x00], [0x00, 0x40, 0xc0]]);

    // The line as one entity whose line has the points sent.
    const subPath = fox.client.subscribe(byTopic["/path"].id);
    const scene = await nextMessage(fox, subPath);
    const vertices = (scene.entities ?? []).flatMap((e) => (e.lines ?? []).flatMap((l) => l.points ?? []));
    assert.deepEqual(vertices, [{ x: 0, y: 0, z: 0 }, { x: 1, y: 0, z: 0 }], JSON.stringify(scene));

    const subLog = fox.client.subscribe(byTopic["/log"].id);
    const log = await nextMessage(fox, subLog);
    assert.equal(log.message, "hi", JSON.stringify(log));
    assert.equal(seconds(log.timestamp), 1001.5);

    for (const [sub, n] of [[subCloud, 1], [subLidar, 1], [subPath, 1], [subLog, 1]]) {
      assert.equal(fox.received(sub).length, n, `one message for subscription ${sub}: ${fox.summary()}`);
    }
    assert.deepEqual(watcher.messages, [], "the watcher subscribed to nothing and got nothing");
    assert.deepEqual(fox.errors, []);
  } finally {
    await watcher?.close();
    await fox?.close();
    await vizcast.stop();
  }
});

/** Tries the upgrade; resolves with the HTTP status of a refusal, or "open". */
function upgrade(url, protocol = FoxgloveClient.SUPPORTED_SUBPROTOCOL) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [protocol]);
    ws.once("unexpected-response", (req, res) => {
      res.resume();
      req.destroy();
      resolve(res.statusCode);
    });
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    // After a refusal the aborted request may still report an error: the status decided already.
    ws.on("error", reject);
  });
}

test("when sharing, /foxglove needs the token; both subprotocols are spoken", async () => {
  const vizcast = await startVizcast(["--share", "--token", "t0k3n"]);
  const opened = [];
  try {
    assert.equal(await upgrade(endpoint(vizcast.url)), 401, "no token");
    assert.equal(await upgrade(endpoint(vizcast.url, "?token=wrong")), 401, "a wrong token");
    for (const protocol of [FoxgloveClient.SUPPORTED_SUBPROTOCOL, "foxglove.sdk.v1"]) {
      const fox = await connect(vizcast.url, { query: "?token=t0k3n", protocol });
      opened.push(fox);
      assert.equal(fox.ws.protocol, protocol, "the subprotocol is agreed");
      await until(`serverInfo over ${protocol}`, () => fox.serverInfo, fox.summary);
      assert.equal(fox.serverInfo.name, "vizcast");
      assert.deepEqual(fox.errors, []);
    }
  } finally {
    for (const fox of opened) await fox.close();
    await vizcast.stop();
  }
});

test("a subscription to a channel that does not exist gets an error status naming it", async () => {
  const vizcast = await startVizcast();
  let fox;
  try {
    fox = await connect(vizcast.url);
    await until("serverInfo", () => fox.serverInfo, fox.summary);
    fox.client.subscribe(999999);
    const status = await until("a status", () => fox.statuses[0], fox.summary);
    assert.equal(status.level, StatusLevel.ERROR, JSON.stringify(status));
    assert.match(status.message, /999999/);
    assert.deepEqual(fox.messages, []);
  } finally {
    await fox?.close();
    await vizcast.stop();
  }
});

/** Frames of every kind the translator turns into Foxglove messages, at times from `t0`. */
/** An 8×8 JPEG (red and blue halves) made by Chromium. */
const JPEG_8X8 =
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAYEAEAAwEAAAAAAAAAAAAAAAAABEOBwf/EABUBAQEAAAAAAAAAAAAAAAAAAAQG/8QAGhEAAAcAAAAAAAAAAAAAAAAAAAECBTSBsf/aAAwDAQACEQMRAD8AmZ9e8AVDPCRemEOstdYQ/9k=";
/** 2×3 16-bit depth, little-endian. */
const DEPTH_2X3 = Buffer.from(new Uint16Array([0, 1000, 2000, 3000, 4000, 65535]).buffer).toString("base64");
/** A 2×2 float field. */
const HEAT_2X2 = Buffer.from(new Float32Array([0, 0.25, 0.5, 1]).buffer).toString("base64");

function framesOfEveryKind(t0) {
  return [
    { stream: "cam", t: t0, image: { jpeg: JPEG_8X8 } },
    { stream: "depth", t: t0, image: { shape: [2, 3], u16: DEPTH_2X3 } },
    { stream: "heat", t: t0, image: { shape: [2, 2], f32: HEAT_2X2, colormap: "turbo", range: [0, 1] } },
    { stream: "lidar", t: t0, points: pointsTimes(1), colors: ["#ff8000", "#0040c0", "#00ff00", "#ffffff"] },
    { stream: "cloud", t: t0, points: pointsTimes(2) },
    { stream: "path", t: t0, line: [[0, 0, 0], [1, 0, 0]], color: "#ff0000", width: 3 },
    { stream: "path", t: t0 + 0.5, line: [[1, 1, 0]], append: true, color: "#00ff00" },
    { stream: "trail", t: t0, line: [[0, 0, 1], [0, 1, 1]] },
    ...["debug", "info", "warn", "error"].map((level, i) => ({ stream: "events", t: t0 + i / 8, text: `é ☃ ${level}`, level })),
    { stream: "gauge", t: t0, value: 1.5 },
    { stream: "imu", t: [t0, t0 + 0.25, t0 + 0.5], values: { ax: [0.1, 0.2, 0.3] }, temp: 20 },
    { stream: "robot", t: t0, battery: { volts: 12.1, cells: [3.1, 3.0] }, enabled: true },
    { stream: "robot", t: t0, text: "a second kind on one stream" },
  ];
}

/** The topics and schema names of the channels of `framesOfEveryKind`. */
const EVERY_KIND = {
  "/lidar": "foxglove.PointCloud",
  "/cloud": "foxglove.PointCloud",
  "/path": "foxglove.SceneUpdate",
  "/trail": "foxglove.SceneUpdate",
  "/events": "foxglove.Log",
  "/gauge": "vizcast.Scalars/gauge",
  "/imu": "vizcast.Scalars/imu",
  "/robot": "vizcast.Scalars/robot",
  "/robot/log": "foxglove.Log",
  "/cam": "foxglove.CompressedImage",
  "/depth": "foxglove.RawImage",
  "/heat": "foxglove.RawImage",
};

/** What clears a line and a cloud: a deletion of the line's entity, an empty cloud. */
const CLEARS = [
  { stream: "path", clear: true },
  { stream: "lidar", clear: true },
];

/** Counts messages by schema name; checks that every kind was seen, a deletion and an empty cloud among them. */
function assertEveryKindSeen(seen) {
  const count = (name) => seen.filter((m) => m.schemaName === name).length;
  for (const name of new Set(Object.values(EVERY_KIND))) assert.ok(count(name) > 0, `a ${name} message validated`);
  const updates = seen.filter((m) => m.schemaName === "foxglove.SceneUpdate").map((m) => m.payload);
  assert.ok(updates.some((u) => u.deletions.length > 0), "a deletion validated");
  assert.ok(updates.some((u) => u.entities.length > 0), "an entity validated");
  const clouds = seen.filter((m) => m.schemaName === "foxglove.PointCloud").map((m) => m.payload);
  assert.ok(clouds.some((c) => c.data === ""), "the empty cloud of a clear validated");
  assert.ok(clouds.some((c) => c.point_stride === 16), "a coloured cloud validated");
}

test("every message on /foxglove validates against Foxglove's official schema of its channel's name", async () => {
  const vizcast = await startVizcast();
  let fox;
  let p;
  try {
    p = await producer(vizcast.url);
    fox = await connect(vizcast.url);
    await until("serverInfo", () => fox.serverInfo, fox.summary);
    for (const frame of framesOfEveryKind(1000)) await p.send(frame);
    const byTopic = {};
    for (const topic of Object.keys(EVERY_KIND)) byTopic[topic] = await channelOf(fox, topic);
    assert.deepEqual(
      Object.fromEntries(Object.entries(byTopic).map(([topic, c]) => [topic, c.schemaName])),
      EVERY_KIND,
      fox.summary(),
    );

    // Every channel subscribed: clouds, lines and logs send their latest at once; a second round
    // brings one of everything, then the clears and a last log.
    const channelOfSubscription = new Map();
    const subscriptionOf = {};
    for (const [topic, channel] of Object.entries(byTopic)) {
      subscriptionOf[topic] = fox.client.subscribe(channel.id);
      channelOfSubscription.set(subscriptionOf[topic], channel.id);
    }
    // The last subscription's latest message: every subscription is in place before the second round.
    await nextMessage(fox, subscriptionOf["/robot/log"]);
    for (const frame of [...framesOfEveryKind(1010), ...CLEARS]) await p.send(frame);
    await p.send({ stream: "events", t: 1020, text: "done" });
    await nextMessage(fox, subscriptionOf["/path"], (m) => m.deletions?.length > 0);
    await nextMessage(fox, subscriptionOf["/lidar"], (m) => m.data === "");
    await nextMessage(fox, subscriptionOf["/events"], (m) => m.message === "done");
    for (const topic of Object.keys(EVERY_KIND)) {
      await until(`a message on ${topic}`, () => fox.received(subscriptionOf[topic]).length > 0, fox.summary);
    }

    const seen = [];
    for (const { subscriptionId, payload } of fox.messages) {
      // The channel as last advertised: a scalar schema grows with each series first seen.
      const channel = fox.channels.get(channelOfSubscription.get(subscriptionId));
      assert.ok(channel, `the channel of subscription ${subscriptionId}: ${fox.summary()}`);
      assertValidMessage(channel.schemaName, channel.schema, payload, `${channel.topic} (live)`);
      seen.push({ schemaName: channel.schemaName, payload });
    }
    assertEveryKindSeen(seen);
    for (const channel of fox.channels.values()) assertChannelSchema(channel.schemaName, channel.schema, `${channel.topic} (advertised)`);
    // Images: the producer's JPEG bytes unchanged; raw pixels with their encoding and row size.
    const [cam] = fox.received(subscriptionOf["/cam"]);
    assert.equal(cam.payload.format, "jpeg");
    assert.equal(cam.payload.data, JPEG_8X8);
    const [depth] = fox.received(subscriptionOf["/depth"]);
    assert.deepEqual([depth.payload.encoding, depth.payload.width, depth.payload.height, depth.payload.step], ["mono16", 3, 2, 6]);
    assert.equal(depth.payload.data, DEPTH_2X3);
    const [heat] = fox.received(subscriptionOf["/heat"]);
    assert.deepEqual([heat.payload.encoding, heat.payload.step], ["32FC1", 8]);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(fox.errors, []);
  } finally {
    p?.close();
    await fox?.close();
    await vizcast.stop();
  }
});

test("every message of `vizcast export --foxglove` validates against Foxglove's official schemas, and every channel carries its schema", async () => {
  const dir = await mkdtemp(join(tmpdir(), "vizcast-foxglove-"));
  const recording = join(dir, "session.mcap");
  const exported = join(dir, "session.foxglove.mcap");
  const vizcast = await startVizcast(["--record", recording]);
  try {
    const p = await producer(vizcast.url);
    const frames = [...framesOfEveryKind(1000), ...CLEARS, ...framesOfEveryKind(1010)];
    for (const frame of frames) await p.send(frame);
    await until("every frame accepted", async () => {
      const response = await fetch(`${vizcast.url}/api/stats`);
      assert.equal(response.status, 200);
      return (await response.json()).ingest.frames >= frames.length;
    });
    assert.deepEqual(p.errors, []);
    p.close();
    // Stopped cleanly, the recording is complete.
    await vizcast.stop();
    await promisify(execFile)(binary(), ["export", recording, "--foxglove", exported]);

    const { schemas, channels, messages } = readMcap(await readFile(exported));
    const topics = {};
    for (const channel of channels.values()) {
      const schema = schemas.get(channel.schemaId);
      assert.ok(schema, `${channel.topic}: a schema`);
      assert.equal(channel.messageEncoding, "json", `${channel.topic}: message encoding`);
      assert.equal(schema.encoding, "jsonschema", `${channel.topic}: schema encoding`);
      assertChannelSchema(schema.name, schema.text, `${channel.topic} (exported)`);
      topics[channel.topic] = schema.name;
    }
    assert.deepEqual(topics, EVERY_KIND, "one channel per topic, in Foxglove's schemas");

    const seen = [];
    for (const { channelId, payload } of messages) {
      const channel = channels.get(channelId);
      const schema = schemas.get(channel.schemaId);
      assertValidMessage(schema.name, schema.text, payload, `${channel.topic} (exported)`);
      seen.push({ schemaName: schema.name, payload });
    }
    assertEveryKindSeen(seen);
  } finally {
    await vizcast.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
