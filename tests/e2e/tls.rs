//! `--tls-cert`/`--tls-key`: the page, viewers and producers over TLS on one port, with a
//! certificate made at test time; the token still enforced; bad files refused at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite;

use crate::support::{Io, Producer, Socket, Viewer, Vizcast};

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
pub struct Cert {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

pub fn make_cert() -> Cert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    Cert {
        _dir: dir,
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
    }
}

fn connector(cert: &Cert) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(vizcast: &Vizcast, cert: &Cert) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", vizcast.addr.port()))
        .await
        .unwrap();
    connector(cert)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// A WebSocket over TLS to `path`, or the handshake's error.
async fn wss(vizcast: &Vizcast, cert: &Cert, path: &str) -> Result<Socket, tungstenite::Error> {
    let io: Box<dyn Io> = Box::new(tls_stream(vizcast, cert).await);
    let url = format!("wss://localhost:{}{path}", vizcast.addr.port());
    tokio_tungstenite::client_async(url, io)
        .await
        .map(|(socket, _)| socket)
}

/// A producer on `/ingest` over TLS.
pub async fn tls_producer(vizcast: &Vizcast, cert: &Cert) -> Producer {
    Producer::from_socket(wss(vizcast, cert, "/ingest").await.unwrap()).await
}

fn token_of(vizcast: &Vizcast) -> String {
    let stdout = vizcast.stdout.lock().join("\n");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("this machine: https://"))
        .unwrap_or_else(|| panic!("no https URL printed: {stdout}"));
    line.split("?token=").nth(1).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_viewers_and_producers_talk_tls_and_the_token_is_enforced() {
    let cert = make_cert();
    let vizcast = Vizcast::start(&[
        "--share",
        "--tls-cert",
        cert.cert.to_str().unwrap(),
        "--tls-key",
        cert.key.to_str().unwrap(),
    ])
    .await;
    let token = token_of(&vizcast);
    let stdout = vizcast.stdout.lock().join("\n");
    assert!(stdout.contains("producers: wss://"), "{stdout}");
    assert!(stdout.contains("listening on https://"), "{stdout}");
    assert!(
        !vizcast.stderr.lock().contains("sharing without TLS"),
        "no clear-text warning with TLS"
    );

    // The page over https, with and without the token.
    for (path, expected) in [(format!("/?token={token}"), "200"), ("/".to_owned(), "401")] {
        let mut stream = tls_stream(&vizcast, &cert).await;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {expected}")),
            "{path}: {response:.200}"
        );
    }

    // A viewer without the token is refused; with it, it joins.
    assert!(wss(&vizcast, &cert, "/ws").await.is_err());
    let mut viewer = Viewer {
        socket: wss(&vizcast, &cert, &format!("/ws?token={token}"))
            .await
            .unwrap(),
    };
    viewer.join().await;

    // A producer over wss (on this machine it needs no token), mirrored byte for byte.
    let mut producer = Producer::from_socket(wss(&vizcast, &cert, "/ingest").await.unwrap()).await;
    let frame = r#"{"stream":"secure","value":  1.5}"#;
    producer.send(frame).await;
    assert_eq!(viewer.data(1).await, [frame]);

    // Plain text on the TLS port gets no HTTP answer.
    let (status, _) = vizcast.get("/healthz", &[]).await;
    assert_eq!(status, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_without_tls_warns_that_the_token_travels_in_clear() {
    let vizcast = Vizcast::start(&["--share"]).await;
    vizcast.wait_for_log("sharing without TLS").await;
}

/// Runs vizcast with `args` and returns its exit status and stderr (it must exit by itself).
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args(["--headless", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_certificates_and_keys_are_refused_at_start() {
    let cert = make_cert();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let other = make_cert();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let missing = dir.path().join("missing.pem");
    for (cert_file, key_file, why) in [
        (path(&garbage), path(&cert.key), "holds no certificate"),
        (
            path(&missing),
            path(&cert.key),
            "cannot read the certificate",
        ),
        (
            path(&cert.cert),
            path(&garbage),
            "cannot read a private key",
        ),
        (
            path(&cert.cert),
            path(&other.key),
            "do not make a usable pair",
        ),
    ] {
        let (ok, stderr) = run_to_exit(&["--tls-cert", &cert_file, "--tls-key", &key_file]);
        assert!(!ok, "vizcast started with {cert_file} / {key_file}");
        assert!(stderr.contains(why), "expected \"{why}\" in: {stderr}");
    }
    let (ok, stderr) = run_to_exit(&["--tls-cert", &path(&cert.cert)]);
    assert!(!ok && stderr.contains("--tls-key"), "{stderr}");
}
