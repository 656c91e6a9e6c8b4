//! The `vizcast` binary: the hub with its sources, headless or (later) with the desktop window.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use vizcast_hub::{Hub, Server, random_hex};
use vizcast_record::{Recorder, RecorderOptions, Recording, Replay, ReplayOptions};

mod cli;

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
        None => serve_with(&cli.serve, None),
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
            serve_with(serve, Some((recording, options)))
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
        Some(Command::Export { file, jsonl }) => {
            let recording = Recording::open(file)?;
            let frames = vizcast_record::export_jsonl(&recording, jsonl)?;
            println!("wrote {frames} frames to {}", jsonl.display());
            Ok(())
        }
    }
}

fn serve_with(cli: &ServeArgs, replay: Option<(Recording, ReplayOptions)>) -> anyhow::Result<()> {
    let token = cli
        .sharing()
        .then(|| cli.token.clone().unwrap_or_else(|| random_hex(16)));
    let hub = Hub::new(cli.hub_config(token.clone())).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vizcast-io")
        .build()
        .context("starting the async runtime")?;
    let recorder = match &cli.record {
        Some(path) => {
            let options = RecorderOptions {
                compression: match cli.record_compression {
                    RecordCompression::Zstd => vizcast_record::Compression::Zstd,
                    RecordCompression::Lz4 => vizcast_record::Compression::Lz4,
                    RecordCompression::None => vizcast_record::Compression::None,
                },
                queue_bytes: cli.record_buffer,
                ..RecorderOptions::default()
            };
            Some(Recorder::start(hub.clone(), path, options)?)
        }
        None => None,
    };
    let result = runtime.block_on(serve(cli, hub, token, replay));
    if let Some(recorder) = recorder {
        let summary = recorder.finish()?;
        if summary.unrecorded_frames > 0 {
            eprintln!(
                "vizcast: {} frames ({} bytes) could not be recorded: the recording has gaps (listed in its vizcast.gap metadata)",
                summary.unrecorded_frames, summary.unrecorded_bytes
            );
        }
    }
    result
}

async fn serve(
    cli: &ServeArgs,
    hub: Arc<Hub>,
    token: Option<String>,
    replay: Option<(Recording, ReplayOptions)>,
) -> anyhow::Result<()> {
    let server = Server::bind(hub.clone(), cli.bind_addr())
        .await
        .with_context(|| format!("cannot listen on {}", cli.bind_addr()))?
        .with_files(vizcast_web::FILES);
    let addr = server.local_addr();

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
    let mut out = std::io::stdout().lock();
    let shown = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    };
    if !cli.headless {
        writeln!(out, "no desktop window in this build yet: running headless")?;
    }
    match &token {
        Some(token) => {
            let host = if addr.ip().is_unspecified() {
                gethostname::gethostname().to_string_lossy().into_owned()
            } else {
                addr.ip().to_string()
            };
            writeln!(
                out,
                "share:     http://{host}:{}/?token={token}",
                addr.port()
            )?;
            writeln!(out, "this machine: http://{shown}/?token={token}")?;
        }
        None => writeln!(out, "viewer:    http://{shown}/")?,
    }
    writeln!(out, "producers: ws://{shown}/ingest")?;
    if let Some(listener) = &tcp {
        writeln!(out, "tcp ingest: {}", listener.local_addr()?)?;
    }
    if let Some(path) = &cli.record {
        writeln!(out, "recording: {}", path.display())?;
    }
    // Last, so that scripts can wait for this line and find everything above it printed.
    writeln!(
        out,
        "vizcast {} listening on http://{shown}",
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
    if cli.demo {
        tokio::spawn(vizcast_demo::run(hub.clone()));
    }
    let replay = match replay {
        Some((recording, options)) => Some(Replay::start(hub.clone(), recording, options)?),
        None => None,
    };
    tokio::spawn(shutdown_on_signal(hub.clone()));
    server.run().await.context("serving")?;
    if let Some(replay) = replay {
        tokio::task::spawn_blocking(move || replay.stop())
            .await
            .ok();
    }
    tracing::info!("stopped");
    Ok(())
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
