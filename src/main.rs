//! The `vizcast` binary: the hub with its sources, with the desktop window (on the main thread)
//! or headless. Built without the `desktop` feature (`--no-default-features`), it has no window
//! and always runs headless: the build a server needs, without the window's stack.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use vizcast_hub::{Hub, Links, Server, random_hex};
use vizcast_record::{Recorder, RecorderOptions, Recording, Replay, ReplayOptions};

mod cli;
#[cfg(feature = "desktop")]
mod desktop;

/// mimalloc: frames and messages are many short-lived allocations of every size; measured in
/// `benches/protocol.rs`, it parses batches about 1.4× faster than the system allocator and with
/// less variance.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::{Cli, Command, RecordCompression, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vizcast: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        None => serve_with(&cli.serve, None, None),
        Some(Command::View { url, serve }) => serve_with(serve, None, Some(url)),
        Some(Command::Replay {
            file,
            speed,
            looping,
            start,
            serve,
        }) => {
            // Open it before serving anything: a bad file is an error, not an empty replay.
            let recording = Recording::open(file)?;
            let info = recording.info();
            println!(
                "replaying {} ({} messages, {:.1} s{})",
                file.display(),
                info.messages,
                info.duration(),
                if info.indexed { "" } else { ", no index" }
            );
            let options = ReplayOptions {
                speed: *speed,
                looping: *looping,
                start: *start,
            };
            serve_with(
                serve,
                Some(Replaying {
                    recording,
                    options,
                    path: file.clone(),
                }),
                None,
            )
        }
        Some(Command::Recover { file, output }) => {
            let output = output
                .clone()
                .unwrap_or_else(|| file.with_extension("recovered.mcap"));
            let report = vizcast_record::recover(file, &output)?;
            match &report.cut {
                Some(cut) => println!(
                    "recovered {} messages into {} (the input ends early: {cut})",
                    report.messages,
                    output.display()
                ),
                None => println!(
                    "rewrote {} messages into {} (the input was intact)",
                    report.messages,
                    output.display()
                ),
            }
            Ok(())
        }
        Some(Command::Export {
            file,
            jsonl,
            foxglove,
        }) => {
            let recording = Recording::open(file)?;
            if let Some(jsonl) = jsonl {
                let frames = vizcast_record::export_jsonl(&recording, jsonl)?;
                println!("wrote {frames} frames to {}", jsonl.display());
            }
            if let Some(out) = foxglove {
                let report = vizcast_record::export_foxglove(&recording, out)?;
                println!(
                    "wrote {} messages on {} channels ({} frames) in Foxglove's schemas to {}",
                    report.messages,
                    report.channels,
                    report.frames,
                    out.display()
                );
                if let Some(error) = &report.first_invalid {
                    eprintln!(
                        "skipped {} frames that are not valid vizcast frames (the first: {error})",
                        report.invalid_frames
                    );
                }
                if let Some(cut) = &report.cut {
                    eprintln!("the recording ends early: {cut}; exported what precedes");
                }
            }
            Ok(())
        }
    }
}

/// A recording to replay instead of (or besides) live sources.
struct Replaying {
    recording: Recording,
    options: ReplayOptions,
    path: PathBuf,
}

/// Whether a window can be opened; why not, if it cannot.
fn display() -> Result<(), &'static str> {
    if !cfg!(feature = "desktop") {
        return Err("this vizcast was built without the desktop window (`--no-default-features`)");
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)");
        }
    }
    Ok(())
}

fn record_options(cli: &ServeArgs) -> RecorderOptions {
    RecorderOptions {
        compression: match cli.record_compression {
            RecordCompression::Zstd => vizcast_record::Compression::Zstd,
            RecordCompression::Lz4 => vizcast_record::Compression::Lz4,
            RecordCompression::None => vizcast_record::Compression::None,
        },
        queue_bytes: cli.record_buffer,
        ..RecorderOptions::default()
    }
}

/// Serves live data (and `replaying`, if given); `view` is the URL of `vizcast view`, whose own
/// port may be any free one.
fn serve_with(
    cli: &ServeArgs,
    replaying: Option<Replaying>,
    view: Option<&str>,
) -> anyhow::Result<()> {
    let token = cli
        .sharing()
        .then(|| cli.token.clone().unwrap_or_else(|| random_hex(16)));
    let hub = Hub::new(cli.hub_config(token.clone())).map_err(anyhow::Error::msg)?;
    // A bad certificate or key stops vizcast here, before anything listens.
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => {
            Some(vizcast_hub::Tls::from_pem_files(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    if token.is_some() && tls.is_none() {
        tracing::warn!(
            "sharing without TLS: the token and the data travel in clear; use --tls-cert and --tls-key on networks you do not trust"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vizcast-io")
        .build()
        .context("starting the async runtime")?;
    // The remote view starts before the recording, so that the file's header names it; a bad
    // URL or --tls-ca stops vizcast here, before anything listens.
    let remote = match view.or(cli.view.as_deref()) {
        Some(url) => {
            let _runtime = runtime.enter();
            let options = vizcast_remote::RemoteOptions {
                url: url.to_owned(),
                tls_ca: cli.tls_ca.clone(),
                restore_timeout: cli.nats_restore_timeout,
            };
            let (remote, _task) =
                vizcast_remote::Remote::start(&hub, &options).map_err(anyhow::Error::msg)?;
            Some(remote)
        }
        None => None,
    };
    // The window takes the recording and the replay over.
    #[cfg_attr(not(feature = "desktop"), allow(unused_mut))]
    let mut recorder = match &cli.record {
        Some(path) => Some(Recorder::start(hub.clone(), path, record_options(cli))?),
        None => None,
    };
    let window = !cli.headless
        && match display() {
            Ok(()) => true,
            Err(why) => {
                println!("{why}: running headless");
                false
            }
        };
    #[cfg(feature = "desktop")]
    let window_remote = remote.clone();
    let started = runtime.block_on(start(
        cli,
        &hub,
        Sources {
            token: token.as_deref(),
            tls,
            window,
            remote,
            any_port: view.is_some(),
        },
    ))?;
    #[cfg_attr(not(feature = "desktop"), allow(unused_mut))]
    let mut replay = match replaying {
        Some(r) => {
            let duration = r.recording.info().duration();
            let replay = Replay::start(hub.clone(), r.recording, r.options)?;
            Some((replay, r.path, duration))
        }
        None => None,
    };

    // The window runs on this (the main) thread; the hub serves from the runtime's threads.
    #[cfg(feature = "desktop")]
    let headless_session = if window {
        let session = desktop::Start {
            hub: &hub,
            links: &started.links,
            demo: started.demo.as_ref(),
            store_memory: cli.memory_limit,
            record_options: record_options(cli),
            recorder: recorder.take().zip(cli.record.clone()),
            replay: replay.take(),
            remote: window_remote,
        };
        match desktop::run(session)? {
            desktop::Closed::Window => {
                hub.shutdown();
                None
            }
            desktop::Closed::NeverOpened(session) => Some(session),
            desktop::Closed::Failed(err) => {
                hub.shutdown();
                runtime.block_on(started.server).ok();
                return Err(err);
            }
        }
    } else {
        None
    };
    let result = match runtime.block_on(started.server) {
        Ok(result) => result,
        Err(err) => Err(anyhow::anyhow!("the server task failed: {err}")),
    };
    // The last accepted frames go to the broker, if it is there to take them.
    if started.nats.is_active() && !runtime.block_on(started.nats.finish(Duration::from_secs(2))) {
        tracing::warn!(
            "NATS: the last frames may not have reached the broker (it did not take them within 2 s)"
        );
    }
    // Finishes its recording and stops its replay.
    #[cfg(feature = "desktop")]
    drop(headless_session);
    if let Some((replay, _, _)) = replay {
        replay.stop();
    }
    if let Some(recorder) = recorder {
        let summary = recorder.finish()?;
        if summary.unrecorded_frames > 0 {
            eprintln!(
                "vizcast: {} frames ({} bytes) could not be recorded: the recording has gaps (listed in its vizcast.gap metadata)",
                summary.unrecorded_frames, summary.unrecorded_bytes
            );
        }
    }
    tracing::info!("stopped");
    result
}

/// The server, running.
struct Started {
    /// Ends when the hub shuts down.
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Stops the demo (a recording opened in the window replaces it).
    #[cfg_attr(not(feature = "desktop"), allow(dead_code))]
    demo: Option<tokio::task::AbortHandle>,
    /// What the share panel shows.
    #[cfg_attr(not(feature = "desktop"), allow(dead_code))]
    links: Links,
    /// The NATS links (`--nats-publish`, `--nats-subscribe`).
    nats: vizcast_nats::Bridge,
}

/// What [`start`] serves besides the flags.
struct Sources<'a> {
    /// The viewer token, when sharing.
    token: Option<&'a str>,
    /// The certificate and key, for TLS.
    tls: Option<vizcast_hub::Tls>,
    /// Whether the window opens.
    window: bool,
    /// The remote view (`--view`, `vizcast view`), started.
    remote: Option<Arc<vizcast_remote::Remote>>,
    /// `vizcast view`: a free port will do when the default one is taken.
    any_port: bool,
}

/// Binds, prints where to connect, and starts serving and the sources.
async fn start(cli: &ServeArgs, hub: &Arc<Hub>, sources: Sources<'_>) -> anyhow::Result<Started> {
    let Sources {
        token,
        tls,
        window,
        remote,
        any_port,
    } = sources;
    let bound = match Server::bind(hub.clone(), cli.bind_addr()).await {
        Err(err)
            if any_port
                && err.kind() == std::io::ErrorKind::AddrInUse
                && cli.listen == cli::DEFAULT_LISTEN.parse::<std::net::SocketAddr>()? =>
        {
            let free = std::net::SocketAddr::new(cli.bind_addr().ip(), 0);
            tracing::info!(
                "{} is taken (the remote itself, perhaps): this view listens on a free port",
                cli.bind_addr()
            );
            Server::bind(hub.clone(), free).await
        }
        other => other,
    };
    let mut server = bound
        .with_context(|| format!("cannot listen on {}", cli.bind_addr()))?
        .with_files(vizcast_web::FILES);
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    if let Some(tls) = tls {
        server = server.with_tls(tls);
    }
    let addr = server.local_addr();
    // Before any source: the publisher sees every frame accepted from the first.
    let nats = vizcast_nats::Bridge::start(hub, &cli.nats_options()).await?;

    let tcp = match cli.tcp_ingest {
        Some(tcp_addr) => {
            let listener = tokio::net::TcpListener::bind(tcp_addr)
                .await
                .with_context(|| format!("cannot listen for TCP ingest on {tcp_addr}"))?;
            Some(listener)
        }
        None => None,
    };

    // What people and scripts need to know, on stdout; everything else is logged to stderr.
    let shown = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    };
    let links = match token {
        Some(token) => {
            let host = if addr.ip().is_unspecified() {
                gethostname::gethostname().to_string_lossy().into_owned()
            } else {
                addr.ip().to_string()
            };
            Links {
                viewer: format!("{http}://{shown}/?token={token}"),
                share: Some(format!("{http}://{host}:{}/?token={token}", addr.port())),
                producers: format!("{ws}://{shown}/ingest"),
            }
        }
        None => Links {
            viewer: format!("{http}://{shown}/"),
            share: None,
            producers: format!("{ws}://{shown}/ingest"),
        },
    };
    let mut out = std::io::stdout().lock();
    match &links.share {
        Some(share) => {
            writeln!(out, "share:     {share}")?;
            writeln!(out, "this machine: {}", links.viewer)?;
        }
        None => writeln!(out, "viewer:    {}", links.viewer)?,
    }
    writeln!(out, "producers: {}", links.producers)?;
    if let Some(listener) = &tcp {
        writeln!(out, "tcp ingest: {}", listener.local_addr()?)?;
    }
    if let Some(path) = &cli.record {
        writeln!(out, "recording: {}", path.display())?;
    }
    if let Some(url) = &cli.nats_publish {
        writeln!(out, "nats publish: {url}")?;
    }
    if let Some(url) = &cli.nats_subscribe {
        writeln!(out, "nats subscribe: {url} (streams {})", cli.nats_streams)?;
    }
    if let Some(remote) = &remote {
        writeln!(out, "viewing:   {}", remote.target.shown)?;
    }
    if window {
        writeln!(out, "desktop:   opening the window")?;
    }
    // Last, so that scripts can wait for this line and find everything above it printed.
    writeln!(
        out,
        "vizcast {} listening on {http}://{shown}",
        env!("CARGO_PKG_VERSION")
    )?;
    out.flush()?;
    drop(out);

    if let Some(listener) = tcp {
        tokio::spawn(vizcast_hub::sources::serve_tcp(hub.clone(), listener));
    }
    if cli.stdin {
        tokio::spawn(vizcast_hub::sources::serve_stdin(hub.clone()));
    }
    let demo = cli
        .demo
        .then(|| tokio::spawn(vizcast_demo::run(hub.clone())).abort_handle());
    tokio::spawn(shutdown_on_signal(hub.clone()));
    let server = tokio::spawn(async move { server.run().await.context("serving") });
    Ok(Started {
        server,
        demo,
        links,
        nats,
    })
}

/// Starts a graceful shutdown on Ctrl-C or SIGTERM.
async fn shutdown_on_signal(hub: Arc<Hub>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    hub.shutdown();
}
