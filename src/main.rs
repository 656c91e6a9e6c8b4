//! The `vizcast` binary: the hub with its sources, headless or (later) with the desktop window.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use vizcast_hub::{Hub, Server, random_hex};

mod cli;

/// mimalloc: frames and messages are many short-lived allocations of every size; measured in
/// `benches/protocol.rs`, it parses batches about 1.4× faster than the system allocator and with
/// less variance.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::Cli;

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
    let token = cli
        .sharing()
        .then(|| cli.token.clone().unwrap_or_else(|| random_hex(16)));
    let hub = Hub::new(cli.hub_config(token.clone())).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vizcast-io")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(cli, hub, token))
}

async fn serve(cli: &Cli, hub: Arc<Hub>, token: Option<String>) -> anyhow::Result<()> {
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
    tokio::spawn(shutdown_on_signal(hub.clone()));
    server.run().await.context("serving")?;
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
