//! The JetStream stream that lets edges join late: its configuration and its creation.
//!
//! One stream, named after the prefix (`VIZCAST`), keeps every subject under `PREFIX.>`:
//! - at most [`StreamLimits::per_stream`] messages per subject (`max_msgs_per_subject`): a
//!   scalar stream's recent samples, a line's latest appends;
//! - at most [`StreamLimits::bytes`] in all (`max_bytes`, discarding the oldest first);
//! - rollups allowed: a publisher marks the messages that replace their stream's state (a
//!   cloud, a line base) with `Nats-Rollup: sub`, and the broker then keeps only that message of
//!   the subject: a 30 Hz cloud holds one slot, not a thousand, so it does not push quiet streams
//!   out of `max_bytes`;
//! - on disk (file storage), so it outlives a broker restart.
//!
//! Whoever connects first (a publisher or an edge) creates it; a stream that exists already is
//! used as it is (its limits are logged), so an operator may set it up by hand.

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{CreateStreamError, CreateStreamErrorKind};
use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType, Stream};

use crate::subject::jetstream_name;

/// Header that makes the broker keep only this message of its subject.
pub const ROLLUP: &str = "Nats-Rollup";

/// The bounds of the JetStream stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Messages kept per subject.
    pub per_stream: i64,
    /// Bytes kept in all.
    pub bytes: i64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_stream: 1000,
            bytes: 256 << 20,
        }
    }
}

/// The stream's configuration for `prefix`.
pub fn config(prefix: &str, limits: StreamLimits) -> Config {
    Config {
        name: jetstream_name(prefix),
        description: Some("vizcast frames for edges that join late (docs/scaling.md)".to_owned()),
        subjects: vec![format!("{prefix}.>")],
        max_messages_per_subject: limits.per_stream,
        max_bytes: limits.bytes,
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        allow_rollup: true,
        num_replicas: 1,
        ..Config::default()
    }
}

/// Gets the stream, or creates it with `config`.
pub async fn ensure(
    context: &async_nats::jetstream::Context,
    config: &Config,
) -> Result<Stream, CreateStreamError> {
    let mut stream = context.get_or_create_stream(config.clone()).await?;
    if let Ok(info) = stream.info().await {
        let have = &info.config;
        if have.max_messages_per_subject != config.max_messages_per_subject
            || have.max_bytes != config.max_bytes
            || have.subjects != config.subjects
            || !have.allow_rollup
        {
            tracing::info!(
                "NATS: using the existing JetStream stream {} as it is: subjects {:?}, {} messages per subject, {} bytes, rollups {}",
                have.name,
                have.subjects,
                have.max_messages_per_subject,
                have.max_bytes,
                if have.allow_rollup {
                    "allowed"
                } else {
                    "refused (clouds then take many slots)"
                }
            );
        }
    }
    Ok(stream)
}

/// Whether `err` says the broker has no JetStream (as opposed to a timeout, to retry).
pub fn unavailable(err: &CreateStreamError) -> bool {
    match err.kind() {
        CreateStreamErrorKind::JetStreamUnavailable => true,
        CreateStreamErrorKind::JetStream(err) => matches!(
            err.error_code(),
            ErrorCode::JETSTREAM_NOT_ENABLED | ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT
        ),
        _ => false,
    }
}
