//! The window on a remote vizcast (`vizcast view URL`): hub A serves `/ws` on a real socket, hub B
//! takes it through the remote view, and the app on B (egui_kittest, real wgpu through Mesa's
//! lavapipe) shows A's streams and the link in its status bar.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use vizcast_app::{App, AppOptions, Clock, Links, Session};
use vizcast_hub::{Hub, HubConfig, Server, Utf8Bytes};
use vizcast_remote::{Remote, RemoteOptions};
use vizcast_store::{StoreConfig, StoreFeed};

#[test]
fn the_window_of_a_view_shows_the_remotes_streams_and_the_link() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let a = Hub::new(HubConfig::default()).unwrap();
    for i in 0..200 {
        let frame = format!(
            r#"{{"stream":"robot/arm/joint1","t":{},"value":{i}}}"#,
            i as f64 * 0.01
        );
        a.ingest(Utf8Bytes::from(frame)).unwrap();
    }
    a.ingest(Utf8Bytes::from(
        r#"{"stream":"robot/log","text":"calibrated","level":"info"}"#,
    ))
    .unwrap();
    let server = runtime
        .block_on(Server::bind(a.clone(), "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = server.local_addr();
    runtime.spawn(server.run());

    let b = Hub::new(HubConfig::default()).unwrap();
    let feed = StoreFeed::start(&b, StoreConfig::default()).unwrap();
    let options = RemoteOptions {
        url: format!("http://{addr}/"),
        tls_ca: None,
        restore_timeout: Duration::from_secs(10),
    };
    let (remote, _task) = runtime
        .block_on(async { Remote::start(&b, &options) })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.streams().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "B gets A's state: {:?}",
            remote.last_error()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(remote.session().as_deref(), Some(a.session()));

    let links = Links {
        viewer: "http://127.0.0.1:9000/".to_owned(),
        share: None,
        producers: "ws://127.0.0.1:9000/ingest".to_owned(),
    };
    // As the binary does for `vizcast view`: what the window hides, the view leaves out.
    let session = Session::new(b.clone(), feed, links).with_exclusions({
        let remote = remote.clone();
        move |streams| remote.set_excluded(streams)
    });
    let dir = tempfile::tempdir().unwrap();
    let app_options = AppOptions {
        msaa_samples: 1,
        clock: Clock::Fixed,
        output_dir: dir.path().to_owned(),
        persist: false,
    };
    let mut harness: Harness<'static, App> = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(0.25)
        .wgpu()
        .build_eframe(move |cc| App::new(cc, session, app_options));
    // The store is fed off the UI thread: step until A's streams are in the tree.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        harness.run_steps(2);
        if harness.query_all_by_label("joint1").next().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "A's streams appear in B's tree");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The status bar names the remote and says it is connected (no "reconnecting").
    harness.get_by_label_contains("🔗 viewing 127.0.0.1:");
    assert!(harness.query_by_label_contains("(reconnecting)").is_none());
    // A live frame of A reaches B's window too.
    a.ingest(Utf8Bytes::from(r#"{"stream":"robot/gripper","value":1}"#))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        harness.run_steps(2);
        if harness.query_all_by_label("gripper").next().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a live frame of A reaches B's tree"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Hiding a stream in B's window takes it out of what A sends B: a hidden stream costs the
    // link nothing. Shown again, it comes back.
    let messages_of = |hub: &Hub, name: &str| {
        hub.streams()
            .into_iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.messages)
    };
    harness
        .query_all_by_role_and_label(egui::accesskit::Role::CheckBox, "gripper")
        .find(|node| node.rect().min.x < 290.0)
        .expect("gripper in the tree")
        .click();
    let deadline = Instant::now() + Duration::from_secs(20);
    while remote.excluded().is_empty() {
        harness.run_steps(2);
        assert!(
            Instant::now() < deadline,
            "the window tells the view what it hides"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(remote.excluded(), ["robot/gripper"]);
    // Once A confirms the subscription, its gripper frames no longer reach B; the others do.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut marker = 0;
    loop {
        let before = messages_of(&b, "robot/gripper");
        a.ingest(Utf8Bytes::from(r#"{"stream":"robot/gripper","value":2}"#))
            .unwrap();
        marker += 1;
        let frame = format!(r#"{{"stream":"robot/marker","value":{marker}}}"#);
        a.ingest(Utf8Bytes::from(frame)).unwrap();
        while messages_of(&b, "robot/marker") < marker {
            assert!(Instant::now() < deadline, "the marker reaches B");
            std::thread::sleep(Duration::from_millis(10));
        }
        if messages_of(&b, "robot/gripper") == before {
            break;
        }
        assert!(Instant::now() < deadline, "A stops sending what B hides");
        harness.run_steps(1);
    }
    drop(harness);
    a.shutdown();
    b.shutdown();
    drop(Arc::clone(&remote));
}
