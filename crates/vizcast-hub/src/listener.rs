//! The hub's listening socket: plain TCP, or TLS (rustls) on the same port when a certificate is
//! given, for `https://` pages and `wss://` viewers and producers.
//!
//! Connections are accepted by one task that sets each socket's options and, with TLS, runs each
//! handshake in a task of its own (at most [`MAX_HANDSHAKES`] at once, each within
//! [`HANDSHAKE_TIMEOUT`]), so a client that stalls its handshake holds up nobody. Ready streams
//! reach the HTTP server through a bounded queue.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use crate::socket::{SharedTcp, SocketWriter};

/// Most TLS handshakes in progress at once; further connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 256;
/// A client that has not finished its TLS handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most unsent bytes a socket's kernel buffer may hold before writes wait.
///
/// Without a limit the kernel queues megabytes for a slow viewer (send buffers autotune up to
/// 4 MiB): seconds of stale data that the hub can no longer conflate. With it, what a viewer has
/// not been sent stays in the live log, where the viewer skips superseded frames.
const UNSENT_LIMIT: u32 = 128 * 1024;

/// A certificate chain and key for serving TLS.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), or says what is wrong with them.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the certificate {} is not valid PEM: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "the certificate file {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\")",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "cannot read a private key from {} (expected PEM \"BEGIN PRIVATE KEY\"): {e}",
                key.display()
            )
        })?;
        Self::new(certs, key)
    }

    /// TLS with a certificate chain and its key.
    pub fn new(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the certificate and key do not make a usable pair: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

/// A connection: plain TCP (with a shareable writing side) or TLS over it.
pub(crate) type Stream = Either<SharedTcp, tokio_rustls::server::TlsStream<TcpStream>>;

/// The peer of a connection, for handlers (`ConnectInfo<Peer>`), and on plain TCP a handle on the
/// connection's writing side, which a viewer's session shares with the ingest path.
#[derive(Clone, Debug)]
pub(crate) struct Peer(pub SocketAddr, pub Option<SocketWriter>);

/// What the HTTP server accepts connections from. See the module docs.
pub(crate) struct HubListener {
    ready: mpsc::Receiver<(Stream, SocketAddr)>,
    local: SocketAddr,
}

impl HubListener {
    /// Starts accepting on `listener` until `shutdown`.
    pub(crate) fn start(
        listener: TcpListener,
        tls: Option<Tls>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, tls, tx, shutdown));
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for HubListener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop ended (shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, HubListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, HubListener>) -> Self {
        let writer = match stream.io() {
            Either::Left(tcp) => Some(tcp.writer()),
            Either::Right(_) => None,
        };
        Self(*stream.remote_addr(), writer)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Tls>,
    ready: mpsc::Sender<(Stream, SocketAddr)>,
    shutdown: CancellationToken,
) {
    let acceptor = tls.map(|tls| TlsAcceptor::from(tls.config));
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!("accepting a connection failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tcp.set_nodelay(true).ok();
        limit_unsent(&tcp);
        let Some(acceptor) = &acceptor else {
            if ready
                .send((Either::Left(SharedTcp::new(tcp)), peer))
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    ready.send((Either::Right(stream), peer)).await.ok();
                }
                Ok(Err(err)) => tracing::info!(%peer, "TLS handshake failed: {err}"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Applies [`UNSENT_LIMIT`] (`TCP_NOTSENT_LOWAT`, where the system has it).
fn limit_unsent(tcp: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(err) = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(UNSENT_LIMIT) {
        tracing::debug!("TCP_NOTSENT_LOWAT: {err}");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = tcp;
}
