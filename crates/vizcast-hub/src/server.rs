//! The hub's one HTTP listener: the viewer page, `/ws`, `/ingest`, `/api/*` and `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use vizcast_protocol::Subscription;

use crate::access::Route;
use crate::hub::{Hub, Role};
use crate::listener::{HubListener, Peer, Tls};
use crate::socket::SocketWriter;
use crate::websocket::{self, FrameWriter, Kind};
use crate::{producer, viewer};

/// A file served as is (the browser viewer's page, script, style and icon).
#[derive(Clone, Copy, Debug)]
pub struct StaticFile {
    /// Its URL path (`/` for the page).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// The same bytes gzipped, sent to clients that accept gzip.
    pub gzip: Option<&'static [u8]>,
}

/// What the page says may run and connect: our own scripts, styles and WebSockets only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Where to connect: printed at start, and shown by the desktop window's share panel.
#[derive(Clone, Debug, Default)]
pub struct Links {
    /// The viewer on this machine (with the token when sharing).
    pub viewer: String,
    /// The viewer for other machines, when sharing (`--share`).
    pub share: Option<String>,
    /// Where producers connect.
    pub producers: String,
}

/// A listener bound and ready to serve.
pub struct Server {
    hub: Arc<Hub>,
    listener: TcpListener,
    addr: SocketAddr,
    files: &'static [StaticFile],
    tls: Option<Tls>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port: see [`Server::local_addr`]).
    pub async fn bind(hub: Arc<Hub>, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Self {
            hub,
            listener,
            addr,
            files: &[],
            tls: None,
        })
    }

    /// Serves TLS only (`https://`, `wss://`) on the same port.
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Serves `files` too (the browser viewer); the file at `/` is the page.
    #[must_use]
    pub fn with_files(mut self, files: &'static [StaticFile]) -> Self {
        self.files = files;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the hub shuts down, then waits (briefly) for connections to close.
    pub async fn run(self) -> std::io::Result<()> {
        let hub = self.hub;
        let ticker = {
            let hub = hub.clone();
            let shutdown = hub.shutdown_token();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = interval.tick() => hub.tick(),
                        () = shutdown.cancelled() => return,
                    }
                }
            })
        };
        let app = router(hub.clone(), self.files);
        let shutdown = hub.shutdown_token();
        let listener = HubListener::start(self.listener, self.tls, shutdown.clone())?;
        axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        ticker.abort();
        if !hub.wait_closed(Duration::from_secs(3)).await {
            tracing::warn!("some connections did not close in time");
        }
        Ok(())
    }
}

/// `/readyz`: 200 once the hub serves joins with its whole state; 503, saying why, while a
/// source restores it (an edge reading what its broker retained, see [`Hub::hold_joins`]).
async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    match hub.not_ready() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// The routes: `files` (the page at `/` needs the viewer's access, the rest is public), `/ws`,
/// `/ingest`, `/api/*`, `/healthz`. Access rules are applied by [`check_access`].
pub fn router(hub: Arc<Hub>, files: &'static [StaticFile]) -> Router {
    let page = files.iter().find(|f| f.path == "/").copied();
    let viewer = Router::new()
        .route(
            "/",
            get(move |headers: HeaderMap| async move {
                page.map_or_else(no_page, |f| serve_file(&f, &headers))
            }),
        )
        .route("/ws", get(viewer_upgrade))
        .route("/foxglove", get(foxglove_upgrade))
        .route("/api/streams", get(api_streams))
        .route("/api/stats", get(api_stats))
        .route_layer(middleware::from_fn_with_state(
            (hub.clone(), Route::Viewer),
            check_access,
        ));
    let ingest = Router::new()
        .route("/ingest", get(producer_upgrade))
        .route_layer(middleware::from_fn_with_state(
            (hub.clone(), Route::Ingest),
            check_access,
        ));
    let mut router = Router::new()
        .merge(viewer)
        .merge(ingest)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    for file in files.iter().filter(|f| f.path != "/") {
        let file = *file;
        router = router.route(
            file.path,
            get(move |headers: HeaderMap| async move { serve_file(&file, &headers) }),
        );
    }
    router.with_state(hub)
}

/// A static file, gzipped when the client accepts it.
fn serve_file(file: &StaticFile, request: &HeaderMap) -> Response {
    let accepts_gzip = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let (body, gzipped) = match file.gzip {
        Some(gz) if accepts_gzip => (gz, true),
        _ => (file.body, false),
    };
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if file.content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

fn no_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this build of vizcast has no viewer page; /ws, /ingest and /api/* work\n",
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Applies the access rules of `route`: token, `Host`, and `Origin` for WebSocket upgrades.
async fn check_access(
    State((hub, route)): State<(Arc<Hub>, Route)>,
    ConnectInfo(Peer(peer, _)): ConnectInfo<Peer>,
    Query(query): Query<TokenQuery>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let checked =
        hub.config()
            .access
            .check(route, peer, headers, query.token.as_deref(), websocket);
    match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(%peer, "refused a request: {}", refusal.message);
            (refusal.status, refusal.message + "\n").into_response()
        }
    }
}

#[derive(Deserialize)]
struct ViewerQuery {
    /// Subscription patterns, comma-separated.
    streams: Option<String>,
}

async fn viewer_upgrade(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(Peer(peer, socket)): ConnectInfo<Peer>,
    Query(query): Query<ViewerQuery>,
    request: Request,
) -> Response {
    let subscription = match query.streams.as_deref() {
        None => Subscription::all(),
        Some(streams) => match Subscription::from_query(streams, &hub.config().limits) {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::info!(%peer, "refused a viewer: {err}");
                return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response();
            }
        },
    };
    upgrade(
        hub,
        peer.to_string(),
        Role::Viewer,
        "viewer",
        None,
        socket,
        request,
        move |hub, io, socket, guard| viewer::run(hub, io, socket, guard, subscription),
    )
}

/// Upgrades a WebSocket connection with vizcast's own framing (see `websocket.rs`: frames are
/// written from the shared buffers): it counts towards `--max-viewers` or `--max-producers` by its
/// `role`, and runs `session` unless the limit is reached. `socket` is the connection's writing
/// side on plain TCP.
#[allow(clippy::too_many_arguments)]
fn upgrade<F, S>(
    hub: Arc<Hub>,
    addr: String,
    role: Role,
    what: &'static str,
    protocol: Option<&'static str>,
    socket: Option<SocketWriter>,
    mut request: Request,
    session: F,
) -> Response
where
    F: FnOnce(Arc<Hub>, viewer::Io, Option<SocketWriter>, crate::hub::ClientGuard) -> S
        + Send
        + 'static,
    S: Future<Output = ()> + Send,
{
    let response = match websocket::accept(request.headers(), protocol) {
        Ok(response) => response,
        Err(refusal) => return *refusal,
    };
    let upgrade = hyper::upgrade::on(&mut request);
    let task = hub.tasks().token();
    tokio::spawn(async move {
        let _task = task;
        let io = match upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(err) => {
                tracing::debug!(peer = %addr, "a {what}'s upgrade failed: {err}");
                return;
            }
        };
        if let Some(guard) = register(&hub, &addr, role, what) {
            session(hub, io, socket, guard).await;
            match role {
                Role::Viewer => tracing::debug!(peer = %addr, "{what} disconnected"),
                Role::Producer => tracing::info!(peer = %addr, "{what} disconnected"),
            }
        } else {
            let mut writer = FrameWriter::new(io);
            let reason = too_many(&hub, role);
            writer.push(Kind::Text, refusal(&reason).into());
            let bye = writer.close(1013, &reason);
            tokio::time::timeout(Duration::from_secs(1), bye).await.ok();
        }
    });
    response
}

/// Registers a connection: it counts towards `--max-viewers` or `--max-producers`.
fn register(hub: &Arc<Hub>, addr: &str, role: Role, what: &str) -> Option<crate::hub::ClientGuard> {
    let guard = hub.register(role, addr.to_owned());
    match (&guard, role) {
        (Some(_), Role::Viewer) => tracing::debug!(peer = %addr, "{what} connected"),
        (Some(_), Role::Producer) => tracing::info!(peer = %addr, "{what} connected"),
        (None, _) => tracing::warn!(peer = %addr, "refused a {what}: {}", too_many(hub, role)),
    }
    guard
}

/// Why a connection is refused when `role`'s limit is reached.
fn too_many(hub: &Hub, role: Role) -> String {
    match role {
        Role::Viewer => format!(
            "too many viewers ({}, --max-viewers)",
            hub.config().max_viewers
        ),
        Role::Producer => format!(
            "too many producers ({}, --max-producers)",
            hub.config().max_producers
        ),
    }
}

/// The error a refused connection is sent before it is closed.
fn refusal(reason: &str) -> String {
    vizcast_protocol::Control::Error {
        code: "refused".to_owned(),
        message: reason.to_owned(),
        frame: None,
        offset: None,
    }
    .to_json()
}

/// `/foxglove`: the Foxglove WebSocket protocol, for Foxglove and Lichtblick (see `foxglove.rs`).
async fn foxglove_upgrade(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(Peer(peer, socket)): ConnectInfo<Peer>,
    request: Request,
) -> Response {
    // The server's preference among what the client offers.
    let offered: Vec<String> = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    let Some(protocol) = crate::foxglove::SUBPROTOCOLS
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "/foxglove speaks the Foxglove WebSocket protocol: offer the subprotocol foxglove.websocket.v1\n",
        )
            .into_response();
    };
    upgrade(
        hub,
        format!("{peer} (Foxglove)"),
        Role::Viewer,
        "Foxglove client",
        Some(protocol),
        socket,
        request,
        crate::foxglove::run,
    )
}

async fn producer_upgrade(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(Peer(peer, socket)): ConnectInfo<Peer>,
    request: Request,
) -> Response {
    upgrade(
        hub,
        peer.to_string(),
        Role::Producer,
        "producer",
        None,
        socket,
        request,
        producer::run,
    )
}

async fn api_streams(State(hub): State<Arc<Hub>>) -> Response {
    axum::Json(hub.streams()).into_response()
}

async fn api_stats(State(hub): State<Arc<Hub>>) -> Response {
    let stats = hub.stats();
    let clients = |role: Role| -> Vec<serde_json::Value> {
        stats
            .clients
            .iter()
            .filter(|c| c.role == role)
            .map(|c| {
                let mut value = serde_json::json!({
                    "id": c.id,
                    "addr": c.addr,
                    "connected_s": c.connected.elapsed().as_secs_f64(),
                    "frames": c.frames.load(Ordering::Relaxed),
                    "bytes": c.bytes.load(Ordering::Relaxed),
                });
                match role {
                    Role::Viewer => {
                        let cursor = c.cursor.load(Ordering::Relaxed);
                        if cursor == crate::foxglove::FOXGLOVE_CURSOR {
                            value["protocol"] = "foxglove".into();
                        } else {
                            let (queue_frames, queue_bytes) = hub.behind(cursor);
                            value["protocol"] = "vizcast".into();
                            value["queue_frames"] = queue_frames.into();
                            value["queue_bytes"] = queue_bytes.into();
                        }
                        value["dropped_frames"] = c.dropped_frames.load(Ordering::Relaxed).into();
                        value["dropped_bytes"] = c.dropped_bytes.load(Ordering::Relaxed).into();
                        value["lagged"] = c.lagged.load(Ordering::Relaxed).into();
                        value["bytes_per_s"] = c.send_rate().into();
                        value["conflated_frames"] =
                            c.conflated_frames.load(Ordering::Relaxed).into();
                        value["conflated_bytes"] = c.conflated_bytes.load(Ordering::Relaxed).into();
                        value["conflated_by_stream"] = c
                            .conflated_by_stream()
                            .into_iter()
                            .map(|(name, n)| (name, n.into()))
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                        value["filtered_frames"] = c.filtered_frames.load(Ordering::Relaxed).into();
                        value["filtered_bytes"] = c.filtered_bytes.load(Ordering::Relaxed).into();
                        value["subscription"] = c.subscription.lock().clone().into();
                        value["written_through"] = c.written_through.load(Ordering::Relaxed).into();
                    }
                    Role::Producer => {
                        value["rejected"] = c.dropped_frames.load(Ordering::Relaxed).into();
                    }
                }
                value
            })
            .collect()
    };
    let config = hub.config();
    let mut json = serde_json::json!({
        "session": stats.session,
        "uptime_s": stats.uptime.as_secs_f64(),
        "ingest": {
            "frames": stats.totals.frames,
            "messages": stats.totals.messages,
            "bytes": stats.totals.bytes,
            "samples": stats.totals.samples,
            "rejected": stats.rejected,
            "frames_per_s": stats.rates.frames,
            "messages_per_s": stats.rates.messages,
            "bytes_per_s": stats.rates.bytes,
            "samples_per_s": stats.rates.samples,
        },
        "streams": stats.streams,
        "history": {
            "frames": stats.history.frames,
            "bytes": stats.history.bytes,
            "pinned_frames": stats.history.pinned_frames,
            "pinned_bytes": stats.history.pinned_bytes,
            "budget_bytes": stats.history.budget_bytes,
            "forced_evictions": stats.history.forced_evictions,
        },
        "live_log": { "frames": stats.log_frames, "bytes": stats.log_bytes },
        "recording": hub.status_parts().0,
        "replay": hub.status_parts().1,
        "viewers": clients(Role::Viewer),
        "producers": clients(Role::Producer),
        "limits": {
            "max_frame_bytes": config.limits.max_frame_bytes,
            "max_depth": config.limits.max_depth,
            "max_points": config.limits.max_points,
            "max_stream_name_bytes": config.limits.max_stream_name_bytes,
            "max_fields": config.limits.max_fields,
            "max_streams": config.max_streams,
            "max_viewers": config.max_viewers,
            "max_producers": config.max_producers,
            "viewer_queue_bytes": config.viewer_queue_bytes,
            "viewer_queue_frames": config.viewer_queue_frames,
            "history_bytes": config.history_bytes,
        },
    });
    // Parts of the process with counters of their own (the NATS bridge), each under its name;
    // the hub's own keys win.
    if let Some(object) = json.as_object_mut() {
        for (name, value) in stats.extra {
            object.entry(name).or_insert(value);
        }
    }
    (StatusCode::OK, axum::Json(json)).into_response()
}
