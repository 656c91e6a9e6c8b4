// The WebSocket to the hub's /ws: hello, snapshots, live frames, lag, reconnection with backoff.
//
// Every (re)join starts with a snapshot of the hub's current state and recent history, so the
// store is reset at each `snapshot_begin` of reason "join": the snapshot restates everything, and
// nothing is counted twice. A `resync` snapshot (after a lag) only adds the latest state of what
// this viewer skipped, so it is applied like live data.

import { CONTROL_PREFIX, type Control, decodeFrame } from "./protocol";
import type { Store } from "./store";

export type ConnectionState = "connecting" | "snapshot" | "live" | "reconnecting" | "refused";

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
  /** The hub's replay in progress, if any. */
  replay: { file: string; state: string; position: number; duration: number; speed: number; looping: boolean } | null;
}

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
    replay: null,
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

  constructor(private readonly store: Store, private readonly url: string) {}

  start(): void {
    this.open();
    setInterval(() => {
      this.status.framesPerSecond = this.frames;
      this.status.messagesPerSecond = this.messages;
      this.frames = 0;
      this.messages = 0;
    }, 1000);
  }

  private setState(state: ConnectionState): void {
    if (this.status.state !== state) {
      this.status.state = state;
      this.onState();
    }
  }

  private open(): void {
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
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
    for (const update of updates) {
      this.store.apply(update);
      times.push(update.t);
    }
    this.frames++;
    this.messages += updates.length;
    if (!this.inSnapshot) this.onFrame(times, receivedAt);
  }

  private control(message: Control): void {
    switch (message.vizcast) {
      case "hello":
        this.status.session = String(message.session ?? "");
        break;
      case "snapshot_begin":
        this.inSnapshot = true;
        this.setState("snapshot");
        // A join or a reset (a replay seeked) restates everything: start from nothing.
        if (message.reason === "join" || message.reason === "reset") this.store.reset();
        break;
      case "snapshot_end":
        this.inSnapshot = false;
        this.setState("live");
        break;
      case "lagged":
        this.status.droppedFrames = Number(message.total_dropped_frames ?? 0);
        this.status.lagEvents++;
        this.onState();
        break;
      case "status":
        this.status.recording = (message.recording as ConnectionStatus["recording"]) ?? null;
        this.status.replay = (message.replay as ConnectionStatus["replay"]) ?? null;
        this.onState();
        break;
      case "error":
        this.status.lastError = String(message.message ?? "");
        this.onState();
        break;
    }
  }
}
