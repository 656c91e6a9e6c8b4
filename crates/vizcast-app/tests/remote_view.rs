//! The window on a remote vizcast (`vizcast view URL`): hub A serves `/ws` on a real socket, hub B
//! takes it through the remote view, and the app on B (egui_kittest, real wgpu through Mesa's
//! lavapipe) shows A's streams and the link in its status bar.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use vizcast_app::{App, AppOptions, Clock, Links, Session};
use vizcast_hub::{Hub, HubConfig, Server, Utf8Bytes};
use vizcast_remote::{Remote, RemoteOptions};
use vizcast_store::{StoreConfig, StoreFeed};

/// A cloud of 2,000 points (about 48 KB of text), a little different each time.
fn cloud(i: usize) -> String {
    let points: Vec<String> = (0..2000)
        .map(|k| {
            let a = k as f64 * 0.01 + i as f64 * 0.1;
            format!(
                "[{:.3},{:.3},{:.3}]",
                a.cos() * 2.0,
                a.sin() * 2.0,
                k as f64 * 0.001
            )
        })
        .collect();
    format!(
        r#"{{"stream":"robot/lidar","points":[{}]}}"#,
        points.join(",")
    )
}

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
    a.ingest(Utf8Bytes::from(cloud(0))).unwrap();
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
    while b.streams().len() < 3 {
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
    // The 3D view draws A's cloud: pixels other than the background inside it.
    harness.run_steps(4);
    let rect = harness.state().view3d_rect().expect("a 3D view");
    let image = harness.render().unwrap();
    let ppp = harness.ctx.pixels_per_point();
    assert!(
        common::drawn_pixels(image.as_raw(), image.width(), rect, ppp) > 50,
        "the remote's cloud is drawn"
    );
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

    // Hiding the cloud in B's window takes it out of what A sends B: A's own counters of the
    // view's connection grow by the small frames only.
    harness
        .query_all_by_role_and_label(egui::accesskit::Role::CheckBox, "lidar")
        .find(|node| node.rect().min.x < 290.0)
        .expect("the cloud in the tree")
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
    assert_eq!(remote.excluded(), ["robot/lidar"]);
    let sent_to_view = |a: &Hub| -> u64 {
        a.stats()
            .clients
            .iter()
            .filter(|c| c.role == vizcast_hub::Role::Viewer)
            .map(|c| c.bytes.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    let messages_of = |hub: &Hub, name: &str| {
        hub.streams()
            .into_iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.messages)
    };
    // Until A has taken the subscription, clouds may still go; then five clouds of 48 KB each
    // cost the link nothing but the markers between them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut marker = 0;
    loop {
        let before = sent_to_view(&a);
        for i in 1..=5 {
            a.ingest(Utf8Bytes::from(cloud(i))).unwrap();
            marker += 1;
            let frame = format!(r#"{{"stream":"robot/marker","value":{marker}}}"#);
            a.ingest(Utf8Bytes::from(frame)).unwrap();
        }
        while messages_of(&b, "robot/marker") < marker {
            assert!(Instant::now() < deadline, "the markers reach B");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = sent_to_view(&a) - before;
        if sent < 4096 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A stops sending the hidden cloud ({sent} bytes for five markers)"
        );
        harness.run_steps(1);
    }
    drop(harness);
    a.shutdown();
    b.shutdown();
    drop(Arc::clone(&remote));
}
