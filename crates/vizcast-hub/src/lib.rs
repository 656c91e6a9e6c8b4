//! The vizcast hub: takes producers' JSON frames in, validates each once, and mirrors the accepted
//! frames byte for byte to any number of viewers, without one slow viewer holding back the others.
//!
//! # Layout
//! - [`Hub`] (`hub.rs`): shared by every connection. [`Hub::ingest`] validates and accepts a frame.
//! - `state.rs`: what an accepted frame updates under one lock: the live log, the late-joiner
//!   history with pinned latest state, and the stream table.
//! - `log.rs`: the live log, one ring shared by every viewer; each viewer's queue is its cursor.
//! - [`Server`] (`server.rs`): the HTTP listener with `/`, `/ws`, `/ingest`, `/api/*`, `/healthz`.
//! - `viewer.rs` and `producer.rs`: one connection each; `foxglove.rs`: `/foxglove`, the Foxglove
//!   WebSocket protocol over the `vizcast-foxglove` translation.
//! - [`sources`]: JSON lines over TCP and standard input.
//! - `listener.rs`: the listening socket, plain or TLS ([`Tls`]), and socket options;
//!   `socket.rs`: a plain connection whose writing side a viewer shares with the ingest path.
//! - `direct.rs`: write-through, small frames written to caught-up viewers from the ingest path.
//! - [`FrameQueue`] (`queue.rs`): the bounded queue from a [`FrameSink`] to its thread (recorder,
//!   desktop store, Foxglove translation), bounded in frames and in the memory they hold.
//! - `access.rs`: tokens, `Origin` and `Host` checks.
//! - [`HubConfig`] (`config.rs`): limits and defaults.

mod access;
mod config;
mod direct;
mod foxglove;
#[cfg(test)]
mod fuzz;
mod hub;
mod listener;
mod log;
mod producer;
mod queue;
mod ready;
mod server;
mod socket;
pub mod sources;
mod state;
mod viewer;
mod websocket;

pub use access::{Refusal, Route};
pub use axum::extract::ws::Utf8Bytes;
pub use config::{Access, HubConfig, random_hex};
pub use hub::{
    Accepted, Client, ClientGuard, FrameSink, Hub, HubStats, IngestError, Rates, Role, StatsSource,
    StreamSummary, unix_now,
};
pub use listener::{HANDSHAKE_TIMEOUT, MAX_HANDSHAKES, Tls};
pub use queue::{FrameQueue, QueueBounds, Refused, Taken};
pub use ready::JoinHold;
pub use server::{Links, Server, StaticFile, router};
pub use state::{AdmitError, HistoryStats, StreamStats, Totals};
