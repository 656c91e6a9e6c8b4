//! The binary's desktop mode: a window where a display exists (a private Xvfb here, rendered by
//! Mesa's software Vulkan), headless where none does; browsers are served either way.

use std::time::Duration;

use crate::support::{PATIENCE, Vizcast, Xvfb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_display_it_runs_headless_and_serves_ws() {
    let mut vizcast = Vizcast::start_windowed(&[], |command| {
        command.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    })
    .await;
    let said = vizcast.stdout.lock().clone();
    assert!(
        said.iter()
            .any(|line| line.starts_with("no display found") && line.ends_with("running headless")),
        "one clear line says why there is no window: {said:?}"
    );
    assert!(!said.iter().any(|line| line.contains("opening the window")));
    let mut viewer = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    producer.send(r#"{"stream":"a","value":1}"#).await;
    assert_eq!(viewer.data(1).await[0], r#"{"stream":"a","value":1}"#);
    assert!(vizcast.stop().await, "exits cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_display_the_window_runs_beside_the_mirror_and_closes_on_sigterm() {
    let xvfb = Xvfb::start();
    let mut vizcast = Vizcast::start_windowed(&["--demo"], |command| {
        command
            .env("DISPLAY", &xvfb.display)
            .env_remove("WAYLAND_DISPLAY");
    })
    .await;
    assert!(
        vizcast
            .stdout
            .lock()
            .iter()
            .any(|line| line.contains("opening the window")),
        "{:?}",
        vizcast.stdout.lock()
    );
    // Browsers get the demo while the window draws it. The window's software rendering takes
    // both cores at first, so the viewer may fall behind and skip superseded clouds.
    let mut viewer = vizcast.viewer().await;
    let frames = viewer.data_conflated(50).await;
    assert!(frames.iter().any(|f| f.contains("demo/signal")));
    // Give the window time to build its GPU pipelines and draw frames with data.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            vizcast.child.try_wait().unwrap().is_none(),
            "vizcast keeps running: {}",
            vizcast.stderr.lock()
        );
        if vizcast
            .stderr
            .lock()
            .contains("desktop window: first frame built")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the window draws: {}",
            vizcast.stderr.lock()
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(vizcast.child.try_wait().unwrap().is_none());
    assert!(
        vizcast.stop().await,
        "SIGTERM closes the window and exits cleanly"
    );
    let stderr = vizcast.stderr.lock().clone();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("cannot open a window"), "{stderr}");
    assert!(stderr.contains("the window was closed"), "{stderr}");
    drop(xvfb);
}
