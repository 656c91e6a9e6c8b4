//! Who may connect: tokens, the `Origin` of WebSocket upgrades, and the `Host` header.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, StatusCode, header};

use crate::config::Access;

/// Which part of the hub a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The viewer page, `/ws` and `/api/*`: the viewer token applies.
    Viewer,
    /// `/ingest`: loopback producers are trusted; others need the ingest token.
    Ingest,
}

/// A refused request: status and a message that says what to do.
#[derive(Debug)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// Why, for people.
    pub message: String,
}

impl Access {
    /// Checks a request; `websocket` adds the `Origin` check.
    pub fn check(
        &self,
        route: Route,
        peer: SocketAddr,
        headers: &HeaderMap,
        query_token: Option<&str>,
        websocket: bool,
    ) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if self.loopback_hosts_only && !is_loopback_host(host) {
            return Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "Host \"{host}\" is not allowed: vizcast listens on loopback only (DNS-rebinding protection). Use --share to serve other machines."
                ),
            });
        }
        if websocket && let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.origin_allowed(origin, host) {
                return Err(Refusal {
                    status: StatusCode::FORBIDDEN,
                    message: format!(
                        "cross-origin WebSocket from {origin} refused; allow it with --allow-origin {origin}"
                    ),
                });
            }
        }
        let presented = query_token.or_else(|| bearer(headers));
        match route {
            Route::Viewer => match &self.viewer_token {
                Some(token) if !presented.is_some_and(|p| constant_time_eq(p, token)) => Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing or wrong token: open the URL vizcast printed (it ends in ?token=…)".to_owned(),
                }),
                _ => Ok(()),
            },
            Route::Ingest if peer.ip().is_loopback() || is_mapped_loopback(peer.ip()) => Ok(()),
            Route::Ingest => match &self.ingest_token {
                None => Err(Refusal {
                    status: StatusCode::FORBIDDEN,
                    message: "producers on other machines need a token: start vizcast with --ingest-token".to_owned(),
                }),
                Some(token) if !presented.is_some_and(|p| constant_time_eq(p, token)) => Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    message: "missing or wrong ingest token (?token= or Authorization: Bearer)".to_owned(),
                }),
                Some(_) => Ok(()),
            },
        }
    }

    /// Same origin as the page (`http(s)://` + the request's `Host`) or explicitly allowed.
    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
        same || self
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Checks the first line of a TCP producer on a non-loopback address:
    /// `{"vizcast": "auth", "token": "…"}`.
    pub fn check_tcp_auth(&self, first_line: &str) -> Result<(), String> {
        let Some(token) = &self.ingest_token else {
            return Err(
                "producers on other machines need a token: start vizcast with --ingest-token"
                    .to_owned(),
            );
        };
        let parsed: Option<(String, String)> =
            serde_json::from_str::<serde_json::Value>(first_line)
                .ok()
                .and_then(|v| {
                    Some((
                        v.get("vizcast")?.as_str()?.to_owned(),
                        v.get("token")?.as_str()?.to_owned(),
                    ))
                });
        match parsed {
            Some((kind, presented)) if kind == "auth" && constant_time_eq(&presented, token) => {
                Ok(())
            }
            _ => Err(
                "the first line must be {\"vizcast\": \"auth\", \"token\": \"<ingest token>\"}"
                    .to_owned(),
            ),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn is_mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

/// Whether a `Host` header names this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const LOCAL: &str = "127.0.0.1:5000";
    const REMOTE: &str = "192.0.2.7:5000";

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost:9000",
            "127.0.0.1:9000",
            "[::1]:9000",
            "127.0.0.1",
            "app.localhost:1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:9000",
            "192.168.1.2:9000",
            "",
            "[fe80::1]:9000",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn dns_rebinding_and_foreign_origins_are_refused() {
        let access = Access {
            loopback_hosts_only: true,
            ..Access::default()
        };
        let peer = LOCAL.parse().unwrap();
        let h = headers(&[(header::HOST, "rebind.example:9000")]);
        assert_eq!(
            access
                .check(Route::Viewer, peer, &h, None, false)
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        let h = headers(&[
            (header::HOST, "localhost:9000"),
            (header::ORIGIN, "http://localhost:9000"),
        ]);
        assert!(access.check(Route::Viewer, peer, &h, None, true).is_ok());
        let h = headers(&[
            (header::HOST, "localhost:9000"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        let refusal = access
            .check(Route::Ingest, peer, &h, None, true)
            .unwrap_err();
        assert!(
            refusal
                .message
                .contains("--allow-origin https://evil.example"),
            "{}",
            refusal.message
        );
        let access = Access {
            allowed_origins: vec!["https://evil.example/".into()],
            ..access
        };
        assert!(access.check(Route::Ingest, peer, &h, None, true).is_ok());
        // Non-browser clients send no Origin.
        let h = headers(&[(header::HOST, "localhost:9000")]);
        assert!(access.check(Route::Viewer, peer, &h, None, true).is_ok());
    }

    #[test]
    fn tokens() {
        let access = Access {
            viewer_token: Some("s3cret".into()),
            ingest_token: Some("ing".into()),
            ..Access::default()
        };
        let h = headers(&[(header::HOST, "box:9000")]);
        let local = LOCAL.parse().unwrap();
        let remote = REMOTE.parse().unwrap();
        assert_eq!(
            access
                .check(Route::Viewer, remote, &h, None, false)
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert!(
            access
                .check(Route::Viewer, remote, &h, Some("wrong!"), false)
                .is_err()
        );
        assert!(
            access
                .check(Route::Viewer, remote, &h, Some("s3cret"), false)
                .is_ok()
        );
        let bearer = headers(&[
            (header::HOST, "box:9000"),
            (header::AUTHORIZATION, "Bearer s3cret"),
        ]);
        assert!(
            access
                .check(Route::Viewer, remote, &bearer, None, false)
                .is_ok()
        );
        // Loopback producers need no token; remote ones need the ingest token, not the viewer's.
        assert!(access.check(Route::Ingest, local, &h, None, false).is_ok());
        assert!(
            access
                .check(Route::Ingest, remote, &h, Some("s3cret"), false)
                .is_err()
        );
        assert!(
            access
                .check(Route::Ingest, remote, &h, Some("ing"), false)
                .is_ok()
        );
        let closed = Access {
            ingest_token: None,
            ..access.clone()
        };
        assert!(
            closed
                .check(Route::Ingest, remote, &h, None, false)
                .unwrap_err()
                .message
                .contains("--ingest-token")
        );
        assert!(
            access
                .check_tcp_auth(r#"{"vizcast":"auth","token":"ing"}"#)
                .is_ok()
        );
        assert!(
            access
                .check_tcp_auth(r#"{"vizcast":"auth","token":"nope"}"#)
                .is_err()
        );
        assert!(
            access
                .check_tcp_auth(r#"{"stream":"x","value":1}"#)
                .is_err()
        );
    }
}
