//! End-to-end tests of the `vizcast` binary, through real sockets.
//!
//! Each test starts its own `vizcast --headless --listen 127.0.0.1:0` (the desktop tests without
//! `--headless`), with flags that make the behaviour under test quick to reach (small queues,
//! short ping timeouts).

#![allow(missing_docs, clippy::unwrap_used)]

mod conflation;
#[cfg(feature = "desktop")]
mod desktop;
mod foxglove;
mod framing;
mod images;
mod lifecycle;
/// A link of a given rate (shared with the benchmarks).
#[path = "../../benches/support/link.rs"]
mod link;
mod mirror;
mod nats;
mod record;
mod rejections;
mod remote;
mod security;
mod slow_viewer;
mod sources;
mod stall;
mod support;
mod tls;
/// A private X server (shared with the benchmarks).
#[path = "../../benches/support/xvfb.rs"]
mod xvfb;
