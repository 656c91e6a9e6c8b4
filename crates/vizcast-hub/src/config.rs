//! The hub's configuration, with documented defaults.

use std::time::Duration;

use vizcast_protocol::{Limits, human_bytes};

/// Everything the hub can be told. Defaults are the documented CLI defaults.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Per-frame limits (size, depth, points, names, fields).
    pub limits: Limits,
    /// Most distinct streams (`--max-streams`); a frame that would create more is refused.
    pub max_streams: usize,
    /// Byte budget of the late-joiner history (`--history-bytes`).
    pub history_bytes: usize,
    /// How far, in bytes, a viewer may fall behind before it is lagged (`--viewer-queue-bytes`).
    pub viewer_queue_bytes: usize,
    /// How far, in frames, a viewer may fall behind before it is lagged (`--viewer-queue-frames`).
    pub viewer_queue_frames: usize,
    /// Most viewers at once (`--max-viewers`); more are refused with close code 1013.
    pub max_viewers: usize,
    /// Most producers at once (`--max-producers`); more are refused with close code 1013.
    pub max_producers: usize,
    /// How often viewers are pinged.
    pub ping_interval: Duration,
    /// A viewer that has not answered (or not accepted a write) for this long is closed.
    pub ping_timeout: Duration,
    /// A viewer whose oldest unsent frame is older than this is behind: it skips frames that
    /// newer frames of the same streams superseded (`--conflate-after`; `None`: never).
    pub conflate_after: Option<Duration>,
    /// Who may connect.
    pub access: Access,
}

/// Access rules. See `docs/security.md`.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// When set, `/`, `/ws` and `/api/*` require this token (`?token=` or `Authorization: Bearer`).
    pub viewer_token: Option<String>,
    /// Token producers on non-loopback addresses must present; without one they are refused.
    pub ingest_token: Option<String>,
    /// Extra origins allowed to open WebSockets (besides the page's own origin).
    pub allowed_origins: Vec<String>,
    /// Refuse requests whose `Host` is not a loopback name (DNS-rebinding protection when the hub
    /// listens on loopback only).
    pub loopback_hosts_only: bool,
}

impl HubConfig {
    /// Default for [`HubConfig::max_streams`].
    pub const DEFAULT_MAX_STREAMS: usize = 10_000;
    /// Default for [`HubConfig::history_bytes`]: 64 MiB.
    pub const DEFAULT_HISTORY_BYTES: usize = 64 * 1024 * 1024;
    /// Default for [`HubConfig::viewer_queue_bytes`]: 32 MiB.
    pub const DEFAULT_VIEWER_QUEUE_BYTES: usize = 32 * 1024 * 1024;
    /// Default for [`HubConfig::viewer_queue_frames`].
    pub const DEFAULT_VIEWER_QUEUE_FRAMES: usize = 65_536;
    /// Default for [`HubConfig::max_viewers`].
    pub const DEFAULT_MAX_VIEWERS: usize = 512;
    /// Default for [`HubConfig::conflate_after`]: 100 ms.
    pub const DEFAULT_CONFLATE_AFTER: Duration = Duration::from_millis(100);
    /// Default for [`HubConfig::max_producers`].
    pub const DEFAULT_MAX_PRODUCERS: usize = 128;

    /// Checks the values fit together, naming the flag to change when they do not.
    pub fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        if self.viewer_queue_bytes < self.limits.max_frame_bytes {
            return Err(format!(
                "--viewer-queue-bytes ({}) must be at least --max-frame-bytes ({}): a viewer must be able to queue one frame",
                human_bytes(self.viewer_queue_bytes as u64),
                human_bytes(self.limits.max_frame_bytes as u64)
            ));
        }
        if self.viewer_queue_frames < 2
            || self.max_viewers == 0
            || self.max_producers == 0
            || self.max_streams == 0
        {
            return Err("--viewer-queue-frames must be at least 2; --max-viewers, --max-producers and --max-streams at least 1".to_owned());
        }
        if self.ping_interval.is_zero() || self.ping_timeout <= self.ping_interval {
            return Err("the ping timeout must be longer than the ping interval".to_owned());
        }
        Ok(())
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_streams: Self::DEFAULT_MAX_STREAMS,
            history_bytes: Self::DEFAULT_HISTORY_BYTES,
            viewer_queue_bytes: Self::DEFAULT_VIEWER_QUEUE_BYTES,
            viewer_queue_frames: Self::DEFAULT_VIEWER_QUEUE_FRAMES,
            max_viewers: Self::DEFAULT_MAX_VIEWERS,
            max_producers: Self::DEFAULT_MAX_PRODUCERS,
            ping_interval: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(30),
            conflate_after: Some(Self::DEFAULT_CONFLATE_AFTER),
            access: Access {
                loopback_hosts_only: true,
                ..Access::default()
            },
        }
    }
}

/// A random hex string of `bytes` random bytes (tokens: 16 bytes = 128 bits).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not something to run on without.
    getrandom::fill(&mut buf).expect("the operating system's random number source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
