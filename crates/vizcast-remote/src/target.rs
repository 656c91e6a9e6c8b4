//! Where the remote view connects: the URL a user gives (what `--share` prints, or a `ws(s)://`
//! URL), made into the remote's `/ws`, and the TLS trust it needs.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The remote hub's `/ws`, from the URL the user gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `ws(s)://HOST:PORT/…/ws?token=…`: what to connect to.
    pub ws_url: String,
    /// The same with the token hidden: what logs and the status show.
    pub shown: String,
    /// The host name (for TLS, the name the certificate must be for).
    pub host: String,
    /// The port.
    pub port: u16,
    /// Whether the connection is TLS (`https://`, `wss://`).
    pub tls: bool,
}

impl Target {
    /// Accepts `http(s)://HOST:PORT/?token=…` (the page URL `--share` prints), any path under
    /// which the remote's page is served (`/ws` is added), and `ws(s)://HOST:PORT/ws?token=…`.
    /// Only the `token` query parameter is kept.
    pub fn parse(given: &str) -> Result<Self, String> {
        let url = url::Url::parse(given.trim())
            .map_err(|e| format!("{given:?} is not a URL ({e}): expected http(s)://HOST:PORT/?token=… (what --share prints) or ws(s)://HOST:PORT/ws"))?;
        let tls = match url.scheme() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            other => {
                return Err(format!(
                    "{given:?}: the scheme {other}:// is not one vizcast serves: expected http(s)://HOST:PORT/?token=… (what --share prints) or ws(s)://HOST:PORT/ws"
                ));
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(format!("{given:?} names no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{given:?} names no port"))?;
        let path = url.path();
        let path = if path.ends_with("/ws") {
            path.to_owned()
        } else {
            format!("{}/ws", path.trim_end_matches('/'))
        };
        let token = url
            .query_pairs()
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned());
        let scheme = if tls { "wss" } else { "ws" };
        let authority = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let base = format!("{scheme}://{authority}{path}");
        let (ws_url, shown) = match token {
            Some(token) => {
                let mut with = url::Url::parse(&base).map_err(|e| e.to_string())?;
                with.query_pairs_mut().append_pair("token", &token);
                (with.to_string(), format!("{base}?token=…"))
            }
            None => (base.clone(), base),
        };
        Ok(Self {
            ws_url,
            shown,
            host,
            port,
            tls,
        })
    }
}

/// The TLS client configuration of the remote view: the platform's trust roots, plus the
/// certificates of `ca` (`--tls-ca`, PEM), for a remote whose certificate is self-signed or from
/// a private CA. A certificate that does not verify is refused, never accepted silently.
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A platform certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read --tls-ca {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--tls-ca {} is not valid PEM: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--tls-ca {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\")",
                path.display()
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!(
                    "--tls-ca {}: a certificate rustls cannot trust: {e}",
                    path.display()
                )
            })?;
        }
    } else if roots.is_empty() {
        tracing::warn!(
            "remote view: no trust roots found on this machine: wss:// remotes need --tls-ca FILE"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn the_share_url_becomes_the_remotes_ws_with_its_token() {
        let t = Target::parse("http://robot-7:9000/?token=abc123").unwrap();
        assert_eq!(t.ws_url, "ws://robot-7:9000/ws?token=abc123");
        assert_eq!(t.shown, "ws://robot-7:9000/ws?token=…");
        assert_eq!((t.host.as_str(), t.port, t.tls), ("robot-7", 9000, false));

        let t = Target::parse("https://10.0.0.2:8443?token=a%2Bb").unwrap();
        assert_eq!(t.ws_url, "wss://10.0.0.2:8443/ws?token=a%2Bb");
        assert!(t.tls);
    }

    #[test]
    fn ws_urls_and_paths_under_a_proxy_are_kept() {
        let t = Target::parse("ws://127.0.0.1:9000/ws").unwrap();
        assert_eq!(t.ws_url, "ws://127.0.0.1:9000/ws");
        assert_eq!(t.shown, t.ws_url);
        let t = Target::parse("wss://example.org/vizcast/").unwrap();
        assert_eq!(t.ws_url, "wss://example.org:443/vizcast/ws");
        let t = Target::parse("http://[::1]:9000/?other=1").unwrap();
        assert_eq!(t.ws_url, "ws://[::1]:9000/ws");
        assert_eq!(t.host, "::1");
    }

    #[test]
    fn what_is_not_a_vizcast_url_is_refused_with_the_reason() {
        for (given, says) in [
            ("robot:9000", "scheme robot://"),
            ("ftp://host/", "scheme ftp://"),
            ("not a url", "is not a URL"),
            ("nats://127.0.0.1:4222", "scheme nats://"),
        ] {
            let err = Target::parse(given).unwrap_err();
            assert!(err.contains(says), "{given}: {err}");
        }
    }
}
