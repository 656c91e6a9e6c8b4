// The WebSocket to the hub's /ws: hello, snapshots, live frames, lag, reconnection with backoff.
//
// Every (re)join starts with a snapshot of the hub's current state and recent history, so the
// store is reset at each `snapshot_begin` of reason "join": the snapshot restates everything, and
// nothing is counted twice. A `resync` snapshot (after a lag) only adds the latest state of what
// this viewer skipped, so it is applied like live data, and so is a `subscribe` snapshot (the
// history of the streams a new subscription adds).
//
// Subscriptions: the page asks for everything but the streams all of whose series, clouds and lines
// the user hid (`["*", "!lidar"]`), so that a hidden stream costs this browser no bandwidth while
// streams it has never seen still arrive. It is sent after each hello, and (debounced) whenever
// what is hidden changes.
//
// Conflation: a viewer that is behind is told, about once a second, that the hub skipped cloud and
// line frames that newer ones replaced (`conflated`); the status line then shows the 3D rate this
// link actually carries.

import { CONTROL_PREFIX, type Control, decodeFrame } from "./protocol";
import type { Store } from "./store";

export type ConnectionState = "connecting" | "snapshot" | "live" | "reconnecting" | "refused";

/** One link of the hub to a NATS broker (see docs/scaling.md). */
export interface NatsLink {
  server: string;
  connected: boolean;
  reconnects: number;
  jetstream?: boolean;
  missed_frames: number;
  gaps: number;
  last_gap?: string;
  note?: string;
  /** The edge is still restoring what the broker retained. */
  restoring?: boolean;
}

export interface ConnectionStatus {
  state: ConnectionState;
  /** Frames received in the last second. */
  framesPerSecond: number;
  messagesPerSecond: number;
  /** Frames the hub dropped for this viewer, in all. */
  droppedFrames: number;
  lagEvents: number;
  /** Why the last connection ended, when it did. */
  reason: string;
  /** Next reconnection attempt, ms since epoch. */
  retryAt: number;
  lastError: string;
  session: string;
  /** The hub's recording in progress, if any (its `status` message). */
  recording: { file: string; bytes: number; seconds: number; unrecorded_frames: number; error?: string } | null;
  /** The hub's links to a NATS broker, if any (the `nats` part of its `status` message). */
  nats: { publish?: NatsLink; subscribe?: NatsLink } | null;
  /** The hub's replay in progress, if any. */
  replay: { file: string; state: string; position: number; duration: number; speed: number; looping: boolean } | null;
  /** The subscription the hub last confirmed (`subscribed`); `["*"]` until then. */
  subscription: string[];
  /** Subscriptions sent on this page (all connections). */
  subscriptionsSent: number;
  /**
   * While the hub thins this link's 3D or images (a `conflated` message within the last
   * CONFLATED_SHOWN_MS): the cloud/line/image frames per second this page actually received of the
   * streams it named (the slowest of them), over the last RATE_WINDOW_MS, and what they carry
   * ("3D", "images" or "3D and images"). Null otherwise.
   */
  thinned: { fps: number; streams: string[]; what: string } | null;
  /** Cloud/line frames the hub skipped for this viewer, in all (its last `conflated`). */
  conflatedFrames: number;
}

/** How long the status line says "thinned" after the last `conflated` message. */
const CONFLATED_SHOWN_MS = 2500;
/** The window over which received 3D frames are counted. */
const RATE_WINDOW_MS = 2000;
/** Visibility changes are sent at most this often. */
const SUBSCRIBE_DEBOUNCE_MS = 200;

/** Wall clock in seconds with sub-millisecond resolution. */
export function nowSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

export class Connection {
  readonly status: ConnectionStatus = {
    state: "connecting",
    framesPerSecond: 0,
    messagesPerSecond: 0,
    droppedFrames: 0,
    lagEvents: 0,
    reason: "",
    retryAt: 0,
    lastError: "",
    session: "",
    recording: null,
    nats: null,
    replay: null,
    subscription: ["*"],
    subscriptionsSent: 0,
    thinned: null,
    conflatedFrames: 0,
  };
  /** Called after each data frame is applied, with the messages' times (for the delay readout). */
  onFrame: (times: number[], receivedAt: number) => void = () => {};
  /** Called when the connection's state changes. */
  onState: () => void = () => {};
  /** Milliseconds spent handling messages, in all. */
  handlingMs = 0;
  private socket: WebSocket | null = null;
  private backoff = 250;
  private frames = 0;
  private messages = 0;
  private inSnapshot = false;
  /** The reason of the snapshot in progress. */
  private snapshotReason = "";
  /** The patterns this connection last asked for (JSON); the hub starts from everything. */
  private sent = '["*"]';
  private subscribeTimer: ReturnType<typeof setTimeout> | null = null;
  /** The subscription this connection's URL asked for (`["*"]`: none). */
  private urlSubscription: string[] = ["*"];
  /** Whether this connection's hello came (a subscription is sent after it). */
  private greeted = false;
  /** Counts data frames, so that a frame counts once per 3D stream. */
  private serial = 0;
  /** The store's visibility and structure when the subscription was last computed. */
  private computedAt = "";
  /** Per 3D or image stream: when live cloud/line/image frames of it arrived (ms, performance.now()). */
  private received3d = new Map<string, { times: number[]; serial: number }>();
  /** Streams named by the last `conflated`, and when it came (ms, performance.now()). */
  private conflated: { streams: string[]; at: number } | null = null;

  constructor(private readonly store: Store, private readonly url: string) {}

  start(): void {
    this.open();
    setInterval(() => {
      this.status.framesPerSecond = this.frames;
      this.status.messagesPerSecond = this.messages;
      this.frames = 0;
      this.messages = 0;
      this.updateThinned();
      // New streams may make a hidden one excludable (or not): recheck when anything changed.
      if (this.computedAt !== this.stamp()) this.sendSubscription();
    }, 1000);
  }

  /** Call when the user changed what is visible: the subscription follows, debounced. */
  visibilityChanged(): void {
    if (this.subscribeTimer !== null) clearTimeout(this.subscribeTimer);
    this.subscribeTimer = setTimeout(() => {
      this.subscribeTimer = null;
      this.sendSubscription();
    }, SUBSCRIBE_DEBOUNCE_MS);
  }

  private stamp(): string {
    return `${this.store.visibilityVersion}:${this.store.structureVersion}`;
  }

  /** Sends the store's subscription if it differs from what this connection last asked for. */
  private sendSubscription(): void {
    // Mid-snapshot the store holds part of the streams: a subscription computed from it would be
    // wrong until the snapshot ends. The once-a-second check sends it then.
    if (this.inSnapshot) return;
    this.computedAt = this.stamp();
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || !this.greeted) return;
    const streams = this.store.subscription();
    const json = JSON.stringify(streams);
    if (json === this.sent) return;
    this.sent = json;
    socket.send(`{"vizcast":"subscribe","streams":${json}}`);
    this.status.subscriptionsSent++;
  }

  /** The streams this connection's URL subscription excludes. */
  private urlExclusions(): string[] {
    return this.urlSubscription.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  }

  /** The streams the hub's subscription for this connection excludes. */
  private excluded(): string[] {
    return this.status.subscription.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  }

  /** Cloud/line/image frames received per second of `stream`, over the last RATE_WINDOW_MS. */
  private rate3d(stream: string, now: number): number {
    const times = this.received3d.get(stream)?.times;
    if (!times) return 0;
    while (times.length > 0 && times[0] < now - RATE_WINDOW_MS) times.shift();
    return times.length / (RATE_WINDOW_MS / 1000);
  }

  private updateThinned(): void {
    const now = performance.now();
    const before = this.status.thinned;
    if (!this.conflated || now - this.conflated.at > CONFLATED_SHOWN_MS) {
      this.conflated = null;
      this.status.thinned = null;
    } else {
      const rates = this.conflated.streams.map((s) => this.rate3d(s, now));
      const images = this.conflated.streams.filter((s) => this.store.images.has(s)).length;
      const what = images === 0 ? "3D" : images === this.conflated.streams.length ? "images" : "3D and images";
      this.status.thinned = { fps: rates.length > 0 ? Math.min(...rates) : 0, streams: this.conflated.streams, what };
    }
    // Forget streams that have gone quiet.
    for (const [stream, { times }] of this.received3d) {
      if (times.length === 0 || times[times.length - 1] < now - RATE_WINDOW_MS) this.received3d.delete(stream);
    }
    if ((before === null) !== (this.status.thinned === null)) this.onState();
  }

  private setState(state: ConnectionState): void {
    if (this.status.state !== state) {
      this.status.state = state;
      this.onState();
    }
  }

  private open(): void {
    this.setState("connecting");
    // A reconnection asks for what the page shows in its URL already, so that its join snapshot
    // carries no stream the user hid (patterns with a comma cannot go in the query: those are
    // sent after hello instead).
    const wanted = this.store.subscription();
    const inUrl = wanted.length > 0 && !(wanted.length === 1 && wanted[0] === "*") && wanted.every((p) => !p.includes(","));
    const url = inUrl ? `${this.url}${this.url.includes("?") ? "&" : "?"}streams=${encodeURIComponent(wanted.join(","))}` : this.url;
    const socket = new WebSocket(url);
    this.socket = socket;
    this.urlSubscription = inUrl ? wanted : ["*"];
    this.sent = JSON.stringify(this.urlSubscription);
    this.greeted = false;
    socket.onmessage = (event) => {
      const start = performance.now();
      this.receive(event.data as string);
      this.handlingMs += performance.now() - start;
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.status.reason = event.reason || `connection closed (${event.code})`;
      // 1008 / 1013 and the like are refusals the user must act on; keep retrying, slower.
      this.status.retryAt = Date.now() + this.backoff;
      this.setState(event.code === 1013 ? "refused" : "reconnecting");
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
    socket.onopen = () => {
      this.backoff = 250;
    };
  }

  private receive(text: string): void {
    if (typeof text !== "string") return;
    if (text.startsWith(CONTROL_PREFIX)) {
      this.control(JSON.parse(text) as Control);
      return;
    }
    const receivedAt = nowSeconds();
    let updates;
    try {
      updates = decodeFrame(text, receivedAt);
    } catch (err) {
      this.status.lastError = `a frame could not be read: ${String(err).slice(0, 200)}`;
      return;
    }
    const times: number[] = [];
    const now = performance.now();
    const serial = ++this.serial;
    for (const update of updates) {
      this.store.apply(update);
      times.push(update.t);
      if ((update.points || update.line || update.image) && !this.inSnapshot) {
        let arrived = this.received3d.get(update.stream);
        if (!arrived) this.received3d.set(update.stream, (arrived = { times: [], serial: 0 }));
        // A frame counts once per stream (a batch of appends is one frame).
        if (arrived.serial === serial) continue;
        arrived.serial = serial;
        arrived.times.push(now);
        while (arrived.times[0] < now - RATE_WINDOW_MS) arrived.times.shift();
      }
    }
    this.frames++;
    this.messages += updates.length;
    if (!this.inSnapshot) this.onFrame(times, receivedAt);
  }

  private control(message: Control): void {
    switch (message.vizcast) {
      case "hello":
        this.status.session = String(message.session ?? "");
        this.status.subscription = this.urlSubscription;
        this.greeted = true;
        // What this page hides, asked for again on each connection.
        this.sendSubscription();
        break;
      case "snapshot_begin":
        this.inSnapshot = true;
        this.snapshotReason = String(message.reason ?? "");
        if (message.reason === "subscribe") {
          // The history of streams the new subscription adds: it adds to the store.
          this.store.beginAdditive();
          break;
        }
        this.setState("snapshot");
        // A join restates everything: start from nothing. So does a reset (a replay seeked), but
        // for the streams this connection excludes, which stay listed so they can be shown again.
        // The streams this connection's URL excludes stay listed too: a join after a reconnection
        // restates only what the new subscription allows, and a hidden stream forgotten here would
        // drop out of the next subscription.
        if (message.reason === "join") this.store.reset(this.urlExclusions());
        else if (message.reason === "reset") this.store.reset(this.excluded());
        break;
      case "snapshot_end":
        this.inSnapshot = false;
        if (this.snapshotReason === "subscribe") this.store.endAdditive();
        this.snapshotReason = "";
        this.setState("live");
        break;
      case "subscribed":
        this.status.subscription = Array.isArray(message.streams) ? (message.streams as unknown[]).map(String) : [];
        break;
      case "conflated":
        this.conflated = { streams: Object.keys((message.streams as Record<string, number> | undefined) ?? {}), at: performance.now() };
        this.status.conflatedFrames = Number(message.total_frames ?? 0);
        this.updateThinned();
        this.onState();
        break;
      case "lagged":
        this.status.droppedFrames = Number(message.total_dropped_frames ?? 0);
        this.status.lagEvents++;
        this.onState();
        break;
      case "status":
        this.status.recording = (message.recording as ConnectionStatus["recording"]) ?? null;
        this.status.replay = (message.replay as ConnectionStatus["replay"]) ?? null;
        this.status.nats = (message.nats as ConnectionStatus["nats"]) ?? null;
        this.onState();
        break;
      case "error":
        this.status.lastError = String(message.message ?? "");
        this.onState();
        break;
    }
  }
}
