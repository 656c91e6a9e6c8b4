//! Tokens, Origin and Host checks.

use crate::support::{Producer, Viewer, Vizcast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_requires_the_token_on_the_page_the_websocket_and_the_api() {
    let vizcast = Vizcast::start(&["--share", "--token", "s3cret-token"]).await;
    let stdout = vizcast.stdout.lock().join("\n");
    assert!(
        stdout.contains(&format!(":{}/?token=s3cret-token", vizcast.addr.port())),
        "{stdout}"
    );

    for path in ["/", "/api/stats", "/api/streams"] {
        assert_eq!(
            vizcast.get(path, &[]).await.0,
            401,
            "{path} without a token"
        );
        assert_eq!(
            vizcast.get(&format!("{path}?token=wrong"), &[]).await.0,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            vizcast
                .get(&format!("{path}?token=s3cret-token"), &[])
                .await
                .0,
            200,
            "{path} with the token"
        );
    }
    assert_eq!(
        vizcast
            .get("/api/stats", &[("Authorization", "Bearer s3cret-token")])
            .await
            .0,
        200
    );
    assert_eq!(vizcast.get("/healthz", &[]).await.0, 200);

    assert!(Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.is_err());
    assert!(
        Viewer::connect(&vizcast.ws_url("/ws?token=nope"), &[])
            .await
            .is_err()
    );
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws?token=s3cret-token"), &[])
        .await
        .unwrap();
    viewer.join().await;
    // Producers on this machine need no token.
    let mut producer = Producer::connect(&vizcast.ws_url("/ingest"), &[])
        .await
        .unwrap();
    producer.send(r#"{"stream":"a","value":1}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"a","value":1}"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_without_a_token_generates_a_random_one() {
    let vizcast = Vizcast::start(&["--share"]).await;
    let stdout = vizcast.stdout.lock().join("\n");
    let token = stdout
        .split("?token=")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 32, "128 random bits in hex: {token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        vizcast
            .get(&format!("/api/stats?token={token}"), &[])
            .await
            .0,
        200
    );
    assert_eq!(vizcast.get("/api/stats", &[]).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_from_foreign_origins_are_refused_unless_allowed() {
    let vizcast = Vizcast::start(&["--allow-origin", "https://dashboard.example"]).await;
    let own = format!("http://{}", vizcast.addr);
    for path in ["/ws", "/ingest"] {
        let url = vizcast.ws_url(path);
        let err = Viewer::connect(&url, &[("Origin", "https://evil.example")])
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("403"), "{err}");
        assert!(
            Viewer::connect(&url, &[("Origin", own.as_str())])
                .await
                .is_ok(),
            "same origin on {path}"
        );
        assert!(
            Viewer::connect(&url, &[("Origin", "https://dashboard.example")])
                .await
                .is_ok(),
            "allowed origin on {path}"
        );
    }
    vizcast
        .wait_for_log("cross-origin WebSocket from https://evil.example refused")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_hub_refuses_foreign_host_names() {
    let vizcast = Vizcast::start(&[]).await;
    let port = vizcast.addr.port();
    let (status, body) = vizcast
        .get(
            "/api/stats",
            &[("Host", &format!("rebound.example:{port}"))],
        )
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("DNS-rebinding protection"), "{body}");
    assert_eq!(
        vizcast
            .get("/api/stats", &[("Host", &format!("localhost:{port}"))])
            .await
            .0,
        200
    );
}
