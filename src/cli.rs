//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vizcast_hub::{Access, HubConfig};
use vizcast_protocol::Limits;

/// vizcast: a live-data visualizer. Producers send JSON; vizcast mirrors it to browsers byte for
/// byte and renders it.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, max_term_width = 100, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// How to serve (when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Something other than serving live data.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay a recording (MCAP or JSON lines) to the desktop and every browser, as if live.
    Replay {
        /// The recording.
        file: PathBuf,
        /// Playback speed: 1 is real time, 10 ten times faster, 0 or "max" as fast as possible.
        #[arg(long, default_value = "1", value_parser = parse_speed)]
        speed: f64,
        /// Start over at the end.
        #[arg(long = "loop")]
        looping: bool,
        /// Start this many seconds into the recording.
        #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
        start: f64,
        /// How to serve the replay.
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Open the window on another vizcast: the URL its `--share` printed
    /// (`http(s)://HOST:PORT/?token=…`) or its `ws(s)://HOST:PORT/ws`.
    ///
    /// The window is fed as the remote's browsers are, and this vizcast re-serves what it
    /// receives to its own browsers, `/foxglove` and `--record` (`--headless` records a remote
    /// hub without a window). Its own page listens on `--listen`; a free port when that one is
    /// taken and `--listen` is the default.
    View {
        /// The remote vizcast.
        url: String,
        /// How to serve and show what the remote sends.
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Rewrite a recording cut short (a crash, a full disk) with a proper summary and index.
    Recover {
        /// The damaged recording.
        file: PathBuf,
        /// Where to write the repaired one (default: FILE with `.recovered.mcap`).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Convert a recording to JSON lines, or to MCAP in Foxglove's schemas (Lichtblick, Foxglove).
    ///
    /// JSON lines: one frame per line, with its receive time. Foxglove's schemas: clouds and lines
    /// for the 3D panel, text events for the Log panel, scalars for plots (see docs/interop.md).
    #[command(group(
        clap::ArgGroup::new("format")
            .required(true)
            .multiple(true)
            .args(["jsonl", "foxglove"])
    ))]
    Export {
        /// The recording.
        file: PathBuf,
        /// The JSON-lines file to write.
        #[arg(long, value_name = "OUT")]
        jsonl: Option<PathBuf>,
        /// The MCAP file to write in Foxglove's schemas (see docs/interop.md).
        #[arg(long, value_name = "OUT.mcap")]
        foxglove: Option<PathBuf>,
    },
}

/// Chunk compression of recordings.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RecordCompression {
    /// zstd (default: best size for the speed, see docs/performance.md).
    Zstd,
    /// lz4: faster to write, larger.
    Lz4,
    /// No compression.
    None,
}

/// Where vizcast listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

/// Options of a running vizcast (live, or replaying).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve the viewer, /ws, /ingest and /api on (port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: SocketAddr,

    /// Share with other machines: listen on all interfaces and require a token (printed as a URL).
    #[arg(long)]
    pub share: bool,

    /// Serve TLS (`https://`, `wss://`) on the port with this PEM certificate chain.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Viewer token to require when sharing (default: 128 random bits).
    #[arg(
        long,
        env = "VIZCAST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Token producers on other machines must present (without it they are refused).
    #[arg(
        long,
        env = "VIZCAST_INGEST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub ingest_token: Option<String>,

    /// Also accept WebSocket connections from pages of this origin (repeatable).
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,

    /// Also take everything another vizcast serves (its page URL, or its `ws(s)://…/ws`), as its
    /// browsers do: see `vizcast view`.
    #[arg(long, value_name = "URL")]
    pub view: Option<String>,

    /// PEM certificates to trust for a `wss://` remote (`--view`, `vizcast view`), besides the
    /// platform's: a self-signed certificate, or a private CA.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Run without a window (servers, CI).
    #[arg(long)]
    pub headless: bool,

    /// Feed the built-in demo: signals at 1 kHz, an IMU, a 50k-point cloud, a trajectory, events.
    #[arg(long)]
    pub demo: bool,

    /// Read JSON lines (one frame per line) from standard input.
    #[arg(long)]
    pub stdin: bool,

    /// Accept JSON lines over TCP on this address.
    #[arg(long, value_name = "ADDR")]
    pub tcp_ingest: Option<SocketAddr>,

    /// Largest accepted frame (units: B, KiB, MiB, GiB; K/M/G are the same).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_frame_bytes: usize,

    /// Deepest accepted JSON nesting (5 to 100).
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_DEPTH, value_name = "N")]
    pub max_depth: usize,

    /// Most points, line vertices or samples per array in one message.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_POINTS, value_name = "N")]
    pub max_points: usize,

    /// Longest stream name in bytes (flattened names included).
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_STREAM_NAME_BYTES, value_name = "BYTES")]
    pub max_stream_name: usize,

    /// Most scalar series one message may name.
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_FIELDS, value_name = "N")]
    pub max_fields: usize,

    /// Most pixels in one image (JPEG, PNG or raw); larger images are refused with the limit
    /// named (8K UHD, 7680 × 4320, by default).
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_IMAGE_PIXELS, value_name = "N")]
    pub max_image_pixels: u64,

    /// Most distinct streams; frames that would add more are refused.
    #[arg(long, default_value_t = HubConfig::DEFAULT_MAX_STREAMS, value_name = "N")]
    pub max_streams: usize,

    /// Most viewers connected at once.
    #[arg(long, default_value_t = HubConfig::DEFAULT_MAX_VIEWERS, value_name = "N")]
    pub max_viewers: usize,

    /// Most producers connected at once.
    #[arg(long, default_value_t = HubConfig::DEFAULT_MAX_PRODUCERS, value_name = "N")]
    pub max_producers: usize,

    /// Byte budget of the history sent to viewers that join late.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "SIZE")]
    pub history_bytes: usize,

    /// How far (bytes) a viewer may fall behind before it skips to live and is resynced.
    #[arg(long, default_value = "32MiB", value_parser = parse_size, value_name = "SIZE")]
    pub viewer_queue_bytes: usize,

    /// How far (frames) a viewer may fall behind before it skips to live and is resynced.
    #[arg(long, default_value_t = HubConfig::DEFAULT_VIEWER_QUEUE_FRAMES, value_name = "N")]
    pub viewer_queue_frames: usize,

    /// Seconds between pings to viewers.
    #[arg(long, default_value = "10", value_parser = parse_seconds, value_name = "SECS")]
    pub ping_interval: Duration,

    /// Seconds after which a viewer that answers nothing (or accepts no data) is closed.
    #[arg(long, default_value = "30", value_parser = parse_seconds, value_name = "SECS")]
    pub ping_timeout: Duration,

    /// A viewer whose oldest unsent frame is older than this many seconds is behind: it skips
    /// clouds and line frames that newer ones of the same stream replaced, and keeps every
    /// scalar sample, event and clear. `never` turns this off.
    #[arg(long, default_value = "0.1", value_parser = parse_conflate_after, value_name = "SECS")]
    pub conflate_after: ConflateAfter,

    /// Memory budget of the desktop app's plots and 3D data; beyond it the oldest samples go
    /// first, in blocks (browsers and recordings are not affected).
    #[arg(long, default_value = "1GiB", value_parser = parse_size, value_name = "SIZE")]
    pub memory_limit: usize,

    /// Record everything accepted to this MCAP file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Chunk compression of the recording.
    #[arg(long, value_enum, default_value = "zstd")]
    pub record_compression: RecordCompression,

    /// Most memory the frames waiting to be written to the recording may hold (their text and
    /// parsed messages); beyond that, frames are reported as not recorded.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE")]
    pub record_buffer: usize,

    /// Publish every accepted frame to this NATS broker, for edges on other machines
    /// (docs/scaling.md).
    #[arg(
        long,
        value_name = "nats://HOST:PORT",
        help_heading = "Scaling out (NATS)"
    )]
    pub nats_publish: Option<String>,

    /// Be an edge: take frames from this NATS broker, as from one more producer.
    #[arg(
        long,
        value_name = "nats://HOST:PORT",
        help_heading = "Scaling out (NATS)"
    )]
    pub nats_subscribe: Option<String>,

    /// The streams an edge takes: a name whose segments may be `*` (any one) or, last, `>` (one or
    /// more), e.g. `robot/>`.
    #[arg(
        long,
        default_value = ">",
        value_name = "PATTERN",
        requires = "nats_subscribe",
        help_heading = "Scaling out (NATS)"
    )]
    pub nats_streams: String,

    /// First token(s) of every subject; instances with different prefixes share a broker without
    /// seeing each other.
    #[arg(long, default_value = vizcast_nats::BridgeOptions::DEFAULT_PREFIX, value_name = "PREFIX", help_heading = "Scaling out (NATS)")]
    pub nats_prefix: String,

    /// This instance's name in the headers of what it publishes (default: the host name).
    #[arg(long, value_name = "NAME", help_heading = "Scaling out (NATS)")]
    pub nats_name: Option<String>,

    /// Messages per stream the broker's JetStream stream keeps for late edges (when vizcast
    /// creates it).
    #[arg(long, default_value_t = vizcast_nats::StreamLimits::default().per_stream, value_name = "N", help_heading = "Scaling out (NATS)")]
    pub nats_history: i64,

    /// Bytes the broker's JetStream stream keeps in all (when vizcast creates it).
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE", help_heading = "Scaling out (NATS)")]
    pub nats_history_bytes: usize,

    /// Most bytes waiting to be published; beyond that, frames are not published (counted, and
    /// seen as gaps by edges).
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "SIZE", help_heading = "Scaling out (NATS)")]
    pub nats_queue: usize,

    /// How long an edge holds its first viewers while it restores what the broker retained, so
    /// that their join snapshot has it; past this, they join with what there is, and the status
    /// says the edge is still restoring.
    #[arg(long, default_value = "10", value_parser = parse_seconds, value_name = "SECS", help_heading = "Scaling out (NATS)")]
    pub nats_restore_timeout: Duration,
}

impl ServeArgs {
    /// What the NATS flags ask for.
    pub fn nats_options(&self) -> vizcast_nats::BridgeOptions {
        vizcast_nats::BridgeOptions {
            publish: self.nats_publish.clone(),
            subscribe: self.nats_subscribe.clone(),
            streams: self.nats_streams.clone(),
            prefix: self.nats_prefix.clone(),
            name: self
                .nats_name
                .clone()
                .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
            queue: vizcast_nats::QueueLimits {
                bytes: self.nats_queue,
                ..vizcast_nats::QueueLimits::default()
            },
            stream: vizcast_nats::StreamLimits {
                per_stream: self.nats_history,
                bytes: i64::try_from(self.nats_history_bytes).unwrap_or(i64::MAX),
            },
            restore_timeout: self.nats_restore_timeout,
        }
    }

    /// Whether the hub is reachable from other machines (and so needs a token).
    pub fn sharing(&self) -> bool {
        self.share || !self.listen.ip().is_loopback()
    }

    /// The address to bind: `--share` widens a loopback `--listen` to all interfaces.
    pub fn bind_addr(&self) -> SocketAddr {
        if self.share && self.listen.ip().is_loopback() {
            let any = if self.listen.is_ipv6() {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            };
            SocketAddr::new(any, self.listen.port())
        } else {
            self.listen
        }
    }

    /// The hub configuration these flags describe; `viewer_token` is the token to require, if any.
    pub fn hub_config(&self, viewer_token: Option<String>) -> HubConfig {
        HubConfig {
            limits: Limits {
                max_frame_bytes: self.max_frame_bytes,
                max_depth: self.max_depth,
                max_points: self.max_points,
                max_stream_name_bytes: self.max_stream_name,
                max_fields: self.max_fields,
                max_image_pixels: self.max_image_pixels,
            },
            max_streams: self.max_streams,
            history_bytes: self.history_bytes,
            viewer_queue_bytes: self.viewer_queue_bytes,
            viewer_queue_frames: self.viewer_queue_frames,
            max_viewers: self.max_viewers,
            max_producers: self.max_producers,
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            conflate_after: self.conflate_after.0,
            access: Access {
                viewer_token,
                ingest_token: self.ingest_token.clone(),
                allowed_origins: self.allow_origin.clone(),
                loopback_hosts_only: !self.sharing(),
            },
        }
    }
}

/// Parses a byte size: `1048576`, `512KiB`, `16MiB`, `1G` (binary units).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_not_a_number| {
        format!("\"{s}\" is not a size (examples: 65536, 512KiB, 16MiB)")
    })?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit \"{other}\" (use B, KiB, MiB or GiB)"
            ));
        }
    };
    Ok((number * scale) as usize)
}

/// Parses a replay speed: a positive factor, or 0 / `max` for as fast as possible.
pub fn parse_speed(s: &str) -> Result<f64, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(0.0);
    }
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "\"{s}\" is not a speed (examples: 1, 0.5, 10, max)"
        )),
    }
}

/// Parses seconds, fractions allowed (`0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_not_a_number| format!("\"{s}\" is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("\"{s}\" must be a positive number of seconds"))
    }
}

/// `--conflate-after`: how far behind a viewer skips superseded frames; `None`: never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConflateAfter(pub Option<Duration>);

/// Parses `--conflate-after`: seconds (0 conflates as soon as a newer frame waits), or `never`.
pub fn parse_conflate_after(s: &str) -> Result<ConflateAfter, String> {
    if s.trim() == "never" {
        return Ok(ConflateAfter(None));
    }
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_not_a_number| format!("\"{s}\" is not a number of seconds, nor `never`"))?;
    if secs.is_finite() && secs >= 0.0 {
        Ok(ConflateAfter(Some(Duration::from_secs_f64(secs))))
    } else {
        Err(format!("\"{s}\" must be zero or more seconds, or `never`"))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn sharing_needs_a_token_and_widens_loopback() {
        let cli = Cli::parse_from(["vizcast", "--share", "--listen", "127.0.0.1:9100"]).serve;
        assert!(cli.sharing());
        assert_eq!(cli.bind_addr().to_string(), "0.0.0.0:9100");
        let cli = Cli::parse_from(["vizcast", "--listen", "0.0.0.0:9100"]).serve;
        assert!(cli.sharing());
        let cli = Cli::parse_from(["vizcast"]).serve;
        assert!(!cli.sharing());
        assert!(cli.hub_config(None).access.loopback_hosts_only);
    }

    #[test]
    fn replay_takes_its_own_serving_options() {
        let cli = Cli::parse_from([
            "vizcast",
            "replay",
            "run.mcap",
            "--speed",
            "max",
            "--loop",
            "--listen",
            "127.0.0.1:0",
        ]);
        let Some(Command::Replay {
            speed,
            looping,
            serve,
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(speed, 0.0);
        assert!(looping);
        assert_eq!(serve.listen.port(), 0);
        assert!(parse_speed("-1").is_err());
    }
}
