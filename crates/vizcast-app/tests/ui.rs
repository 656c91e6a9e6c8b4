//! The desktop app driven through egui_kittest with its wgpu renderer (Mesa's lavapipe without a
//! GPU): the demo's data, a fixed clock, real paint callbacks, real files.
//!
//! Snapshots live in `tests/snapshots/`; `UPDATE_SNAPSHOTS=1 cargo test -p vizcast-app` rewrites
//! them after an intended change of the look.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::Queryable as _;
use egui_kittest::{Harness, SnapshotOptions};
use parking_lot::RwLock;
use vizcast_app::{App, AppOptions, Clock, Links, Session, TimeWindow};
use vizcast_demo::Demo;
use vizcast_hub::{Hub, HubConfig, Role, Utf8Bytes};
use vizcast_store::{Store, StoreConfig, StoreFeed};

/// The demo's time 0: 2025-11-24 00:00 UTC.
const EPOCH: f64 = 1_763_942_400.0;

fn links() -> Links {
    Links {
        viewer: "http://127.0.0.1:9000/".to_owned(),
        share: None,
        producers: "ws://127.0.0.1:9000/ingest".to_owned(),
    }
}

/// A session holding `seconds` of the demo, applied synchronously (nothing depends on timing).
fn demo_session(seconds: f64) -> Session {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let mut store = Store::new(StoreConfig::default());
    let mut demo = Demo::new(EPOCH, 7);
    for frame in demo.frames_until(seconds) {
        let accepted = hub.ingest(Utf8Bytes::from(frame)).unwrap();
        store.apply(&accepted);
    }
    store.tick(seconds);
    Session::with_store(hub, Arc::new(RwLock::new(store)), links())
}

fn options(dir: &Path) -> AppOptions {
    AppOptions {
        msaa_samples: 1,
        clock: Clock::Fixed,
        output_dir: dir.to_owned(),
        persist: false,
    }
}

fn harness(session: Session, dir: &Path) -> Harness<'static, App> {
    harness_with_step(session, dir, 0.25)
}

/// `step_dt`: egui time per step (a double-click needs its clicks within 0.3 s).
fn harness_with_step(session: Session, dir: &Path, step_dt: f32) -> Harness<'static, App> {
    let options = options(dir);
    Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(step_dt)
        .wgpu()
        .build_eframe(move |cc| App::new(cc, session, options))
}

/// Clicks `item` in the menu `menu`.
fn open_menu_item(harness: &mut Harness<'_, App>, menu: &str, item: &str) {
    harness.get_by_label(menu).click();
    harness.run_steps(2);
    harness.get_by_label(item).hover();
    harness.run_steps(1);
    harness.get_by_label(item).click();
    harness.run_steps(2);
}

/// The "Open recording" window's path field (the event log has a text field too).
fn path_field<'a>(harness: &'a Harness<'_, App>) -> egui_kittest::Node<'a> {
    harness
        .query_all_by_role(egui::accesskit::Role::TextInput)
        .find(|n| n.rect().min.y < 200.0)
        .unwrap_or_else(|| panic!("the path field"))
}

/// Replaces the text of the path field.
fn type_path(harness: &mut Harness<'_, App>, path: &str) {
    path_field(harness).focus();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    path_field(harness).type_text(path);
    harness.run_steps(1);
}

/// The stream tree's checkbox for `name`.
fn tree_checkbox<'a>(harness: &'a Harness<'_, App>, name: &'a str) -> egui_kittest::Node<'a> {
    harness
        .query_all_by_role_and_label(egui::accesskit::Role::CheckBox, name)
        .find(|node| node.rect().min.x < 290.0)
        .unwrap_or_else(|| panic!("no stream {name} in the tree"))
}

#[test]
fn the_demo_looks_right_and_the_3d_view_holds_drawn_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(demo_session(12.0), dir.path());
    harness.run_steps(4);
    harness.snapshot_options("demo", &SnapshotOptions::new().threshold(2.0));

    let rect = harness.state().view3d_rect().expect("a 3D view");
    let image = harness.render().unwrap();
    let with_cloud = common::drawn_pixels(image.as_raw(), image.width(), rect, 1.0);
    let area = (rect.width() * rect.height()) as usize;
    assert!(
        with_cloud > area / 20,
        "the cloud covers part of the view: {with_cloud} of {area} pixels"
    );

    // Hide the cloud and the trajectory: what is left is the grid and the axes.
    tree_checkbox(&harness, "cloud").click();
    tree_checkbox(&harness, "trajectory").click();
    harness.run_steps(2);
    let image = harness.render().unwrap();
    let without = common::drawn_pixels(image.as_raw(), image.width(), rect, 1.0);
    assert!(
        without * 3 < with_cloud,
        "hiding the 3D streams removes their pixels: {without} left of {with_cloud}"
    );
}

#[test]
fn pause_and_resume_follow_the_live_edge() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(demo_session(12.0), dir.path());
    harness.run_steps(2);
    assert!(harness.state().following());
    let (_, right) = harness.state().shown_range().unwrap();
    assert!(
        (right - (EPOCH + 12.0)).abs() < 0.01,
        "the live edge: {right}"
    );

    harness.get_by_label("⏸ Pause").click();
    harness.run_steps(2);
    assert!(!harness.state().following());
    assert!(harness.query_by_label("⏸ paused").is_some());

    harness.get_by_label("▶ Follow live").click();
    harness.run_steps(2);
    assert!(harness.state().following());

    // Space toggles, and dragging a plot pauses to scroll back.
    harness.key_press(egui::Key::Space);
    harness.run_steps(2);
    assert!(!harness.state().following());
    harness.key_press(egui::Key::Space);
    harness.run_steps(2);
    assert!(harness.state().following());
}

#[test]
fn dragging_a_plot_pauses_and_scrolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness_with_step(demo_session(30.0), dir.path(), 0.05);
    harness.run_steps(2);
    let (_, live_right) = harness.state().shown_range().unwrap();
    // The first plot sits just below the top bar, right of the stream tree (and left of the
    // image panel, which shows the demo's heatmap).
    let start = egui::pos2(450.0, 90.0);
    harness.drag_at(start);
    harness.run_steps(1);
    harness.hover_at(start + egui::vec2(250.0, 0.0));
    harness.run_steps(1);
    harness.drop_at(start + egui::vec2(250.0, 0.0));
    harness.run_steps(2);
    assert!(!harness.state().following(), "a drag pauses");
    let (_, right) = harness.state().shown_range().unwrap();
    assert!(
        right < live_right - 0.5,
        "dragged right shows older data: {right} < {live_right}"
    );
    // Double-click: back to live.
    harness.hover_at(start);
    for pressed in [true, false, true, false] {
        harness.event(egui::Event::PointerButton {
            pos: start,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    harness.run_steps(2);
    assert!(
        harness.state().following(),
        "a double-click follows live again"
    );
}

#[test]
fn hiding_a_stream_removes_it_from_the_plots() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(demo_session(12.0), dir.path());
    harness.run_steps(2);
    let plots = harness.state().plot_count();
    let points = harness.state().points_drawn();
    tree_checkbox(&harness, "noise").click();
    harness.run_steps(2);
    assert!(harness.state().settings().is_hidden("demo/signal/noise"));
    assert_eq!(harness.state().plot_count(), plots, "sine keeps the group");
    assert!(harness.state().points_drawn() < points);

    // Hiding a group hides everything below it.
    tree_checkbox(&harness, "imu").click();
    harness.run_steps(2);
    assert!(harness.state().settings().is_hidden("demo/imu/ax"));
    assert_eq!(harness.state().plot_count(), plots - 1);
    tree_checkbox(&harness, "imu").click();
    harness.run_steps(2);
    assert!(!harness.state().settings().is_hidden("demo/imu/gz"));
    assert_eq!(harness.state().plot_count(), plots);
}

#[test]
fn the_time_window_presets_change_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(demo_session(90.0), dir.path());
    harness.run_steps(2);
    let span = |h: &Harness<'_, App>| {
        let (a, b) = h.state().shown_range().unwrap();
        b - a
    };
    assert!((span(&harness) - 10.0).abs() < 1e-6);
    harness.get_by_label("1 min").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings().window, TimeWindow::Minute1);
    assert!((span(&harness) - 60.0).abs() < 1e-6);
    harness.get_by_label("all").click();
    harness.run_steps(2);
    assert!(
        (span(&harness) - 90.0).abs() < 0.1,
        "all the data: {}",
        span(&harness)
    );

    // Paused, a preset applies around what is shown.
    harness.get_by_label("⏸ Pause").click();
    harness.run_steps(2);
    harness.get_by_label("10 s").click();
    harness.run_steps(2);
    assert!(!harness.state().following());
    assert!((span(&harness) - 10.0).abs() < 1e-6);
}

#[test]
fn the_share_panel_shows_the_url_and_the_connected_browsers() {
    let dir = tempfile::tempdir().unwrap();
    let session = demo_session(3.0);
    let hub = session.hub.clone();
    let browser = hub
        .register(Role::Viewer, "10.1.2.3:50000".to_owned())
        .unwrap();
    // A browser on a slow link: what the hub would have counted for it.
    let client = browser.client();
    client
        .bytes_per_s
        .store(1.5e6_f64.to_bits(), std::sync::atomic::Ordering::Relaxed);
    client
        .conflated_frames
        .store(12, std::sync::atomic::Ordering::Relaxed);
    client.conflated_streams.lock().insert("lidar".into(), 12);
    let mut harness = harness(session, dir.path());
    harness.run_steps(2);
    assert!(!harness.state().share_open());
    harness.get_by_label_contains("Share").click();
    harness.run_steps(2);
    assert!(harness.state().share_open());
    assert!(
        harness
            .query_all_by_value("http://127.0.0.1:9000/")
            .next()
            .is_some()
    );
    assert!(harness.query_by_label("Browsers connected: 1").is_some());
    assert!(harness.query_by_label("10.1.2.3:50000").is_some());
    assert!(harness.query_by_label("12 frames: lidar 12").is_some());
    harness.get_all_by_label("Copy").next().unwrap().click();
    harness.run_steps(1);
    assert!(
        harness
            .state()
            .toasts()
            .iter()
            .any(|t| t == "copied http://127.0.0.1:9000/"),
        "{:?}",
        harness.state().toasts()
    );
    harness.run_steps(2);
    harness.snapshot_options("share", &SnapshotOptions::new().threshold(2.0));
}

#[test]
fn a_screenshot_of_the_3d_view_is_saved_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(demo_session(5.0), dir.path());
    harness.run_steps(2);
    harness.get_by_label("Screenshot").click();
    harness.run_steps(1);
    let png: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(png.len(), 1, "one screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png[0]).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let [w, h] = harness
        .state()
        .view3d_rect()
        .map(|r| [r.width(), r.height()])
        .unwrap();
    assert_eq!(
        (info.width, info.height),
        (w.round() as u32, h.round() as u32)
    );
    let all = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w, h));
    assert!(
        common::drawn_pixels(&buf, info.width, all, 1.0) > (w * h) as usize / 20,
        "points in the PNG"
    );
}

#[test]
fn recording_from_the_app_writes_an_mcap_file() {
    let dir = tempfile::tempdir().unwrap();
    let session = demo_session(1.0);
    let hub = session.hub.clone();
    let mut harness = harness(session, dir.path());
    harness.run_steps(1);
    harness.get_by_label("⏺ Record").click();
    harness.run_steps(1);
    for i in 0..100 {
        hub.ingest(Utf8Bytes::from(format!(
            r#"{{"stream":"rec/x","t":{i},"value":{i}}}"#
        )))
        .unwrap();
    }
    harness.run_steps(1);
    harness.get_by_label_contains("Stop recording").click();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !harness
        .state()
        .toasts()
        .iter()
        .any(|t| t.starts_with("recording saved to"))
    {
        assert!(Instant::now() < deadline, "{:?}", harness.state().toasts());
        std::thread::sleep(Duration::from_millis(20));
        harness.run_steps(1);
    }
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mcap"))
        .unwrap();
    let recording = vizcast_record::Recording::open(&file).unwrap();
    assert_eq!(recording.info().messages, 100);
}

#[test]
fn a_recording_opened_in_the_app_replays_with_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
    let session = Session::new(hub, feed, links());
    let mut harness = harness(session, dir.path());
    harness.run_steps(1);
    open_menu_item(&mut harness, "File", "Open recording…");
    let recording = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/every-kind-v0.1.mcap")
        .canonicalize()
        .unwrap();
    type_path(&mut harness, recording.to_str().unwrap());
    harness.get_by_label("Open").click();
    harness.run_steps(2);
    assert!(
        harness.query_by_label("Loop").is_some(),
        "the timeline is shown: {:?}",
        harness.state().toasts()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        harness.run_steps(1);
        let streams = harness.state().session().store().read().names().len();
        if streams > 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the replay reaches the store");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        harness
            .state()
            .settings()
            .recent
            .first()
            .map(String::as_str),
        recording.to_str()
    );
    // A file that is not a recording: a clear error, the app goes on.
    open_menu_item(&mut harness, "File", "Open recording…");
    let bogus = dir.path().join("not-a-recording.mcap");
    std::fs::write(&bogus, b"hello").unwrap();
    type_path(&mut harness, bogus.to_str().unwrap());
    harness.run_steps(1);
    harness.get_by_label("Open").click();
    harness.run_steps(1);
    assert!(
        harness
            .state()
            .toasts()
            .iter()
            .any(|t| t.starts_with("cannot open")),
        "{:?}",
        harness.state().toasts()
    );
}

/// A file dropped on the window, as the windowing layer hands it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_recording_replays_and_the_timeline_controls_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
    let session = Session::new(hub.clone(), feed, links());
    let mut harness = harness(session, dir.path());
    harness.run_steps(1);
    let recording = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/every-kind-v0.1.jsonl")
        .canonicalize()
        .unwrap();
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(recording.clone())));
    harness.run_steps(2);
    assert!(
        harness.query_by_label("Loop").is_some(),
        "the timeline is shown"
    );
    let status = |hub: &Hub| hub.status_parts().1.unwrap_or_default();
    let wait_for = |harness: &mut Harness<'_, App>, what: &str, ok: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
            harness.run_steps(1);
        }
        // Once more, so that the window shows what was waited for.
        harness.run_steps(1);
    };
    wait_for(&mut harness, "the replay reports its state", &|| {
        !status(&hub).state.is_empty()
    });
    harness
        .get_by_role_and_label(egui::accesskit::Role::CheckBox, "Loop")
        .click();
    harness.run_steps(1);
    wait_for(&mut harness, "loop is on", &|| status(&hub).looping);
    // Once it ends (it is short) or while it plays, the play/pause button toggles it.
    if status(&hub).state == "playing" {
        harness.get_by_label("⏸ Pause replay").click();
        harness.run_steps(1);
        wait_for(&mut harness, "paused", &|| status(&hub).state == "paused");
    }
    harness.get_by_label("▶ Play replay").click();
    harness.run_steps(1);
    wait_for(&mut harness, "playing again", &|| {
        status(&hub).state == "playing"
    });
    harness.get_by_label("Close").click();
    harness.run_steps(2);
    assert!(
        harness.query_by_label("Loop").is_none(),
        "the timeline is gone"
    );
}

/// eframe's storage, in memory.
#[derive(Default)]
struct Memory(std::collections::HashMap<String, String>);

impl eframe::Storage for Memory {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn settings_are_saved_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let session = demo_session(3.0);
    let options = AppOptions {
        persist: true,
        ..options(dir.path())
    };
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| App::new(cc, session, options));
    harness.run_steps(1);
    tree_checkbox(&harness, "noise").click();
    harness.get_by_label("1 min").click();
    harness.run_steps(2);
    let mut storage = Memory::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    let saved: vizcast_app::Settings = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert!(saved.is_hidden("demo/signal/noise"));
    assert_eq!(saved.window, TimeWindow::Minute1);
    assert_eq!(&saved, harness.state().settings());
}

/// The NATS status of an edge whose link to the broker is `link` (its server filled in).
fn edge(link: vizcast_protocol::NatsLink) -> vizcast_protocol::NatsStatus {
    vizcast_protocol::NatsStatus {
        publish: None,
        subscribe: Some(vizcast_protocol::NatsLink {
            server: "nats://10.0.0.1:4222".to_owned(),
            ..link
        }),
    }
}

#[test]
fn the_status_bar_shows_an_edges_nats_link_and_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let session = demo_session(2.0);
    session
        .hub
        .set_nats_status(Some(edge(vizcast_protocol::NatsLink {
            connected: false,
            missed_frames: 12,
            note: Some("the broker is unreachable; retrying".to_owned()),
            ..Default::default()
        })));
    let mut harness = harness(session, dir.path());
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("NATS edge of (disconnected) · 12 missed")
            .is_some()
    );
    // Connected again, nothing missed: the label says so.
    harness
        .state()
        .session()
        .hub
        .set_nats_status(Some(edge(vizcast_protocol::NatsLink {
            connected: true,
            ..Default::default()
        })));
    harness.run_steps(2);
    assert!(harness.query_by_label("NATS edge of").is_some());
}

/// A camera frame as a JPEG: a sky, the ground and a sun at (72 %, 30 %).
fn camera_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let (dx, dy) = (x as f32 - 0.72 * w as f32, y as f32 - 0.3 * h as f32);
            let sun = (dx * dx + dy * dy).sqrt() < 0.1 * h as f32;
            let pixel = if sun {
                [255, 214, 80]
            } else if fy < 0.6 {
                [(60.0 + 100.0 * fy) as u8, (120.0 + 80.0 * fy) as u8, 230]
            } else {
                [(40.0 + 60.0 * fx) as u8, (150.0 - 60.0 * fy) as u8, 50]
            };
            rgb.extend_from_slice(&pixel);
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A heatmap's value at (`x`, `y`): a smooth bump in [0, 1].
fn heat_value(x: usize, y: usize) -> f32 {
    let (fx, fy) = (x as f32 / 40.0 - 0.5, y as f32 / 30.0 - 0.5);
    (-(fx * fx + fy * fy) * 6.0).exp() * (0.75 + 0.25 * (x as f32 * 0.5).sin())
}

const HEAT_W: usize = 40;
const HEAT_H: usize = 30;

fn image_frames() -> Vec<String> {
    let heat: Vec<f32> = (0..HEAT_H)
        .flat_map(|y| (0..HEAT_W).map(move |x| heat_value(x, y)))
        .collect();
    vec![
        format!(
            r#"{{"stream":"cam/front","t":{},"image":{{"jpeg":"{}"}}}}"#,
            EPOCH + 1.0,
            vizcast_protocol::u8_base64(&camera_jpeg(320, 240))
        ),
        format!(
            r#"{{"stream":"heat","t":{},"image":{{"shape":[{HEAT_H},{HEAT_W}],"f32":"{}","colormap":"viridis","range":[0,1]}}}}"#,
            EPOCH + 1.0,
            vizcast_protocol::f32_base64(&heat)
        ),
    ]
}

/// A session over a store the test fills through the real hub.
fn session_with(frames: &[String]) -> (Session, Arc<RwLock<Store>>) {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let store = Arc::new(RwLock::new(Store::new(StoreConfig::default())));
    for frame in frames {
        let accepted = hub.ingest(Utf8Bytes::from(frame.clone())).unwrap();
        store.write().apply(&accepted);
    }
    let session = Session::with_store(hub, store.clone(), links());
    (session, store)
}

/// Steps until the window shows `n` images (they are decoded on a thread of their own).
fn wait_for_images(harness: &mut Harness<'_, App>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.state().images_shown().len() != n {
        assert!(
            Instant::now() < deadline,
            "{n} images shown: {:?}",
            harness.state().images_shown()
        );
        std::thread::sleep(Duration::from_millis(10));
        harness.run_steps(1);
    }
    harness.run_steps(1);
}

/// Hovers the centre of pixel (`x`, `y`) of the image of `stream`.
fn hover_pixel(
    harness: &mut Harness<'_, App>,
    stream: &str,
    (w, h): (usize, usize),
    x: usize,
    y: usize,
) {
    let rect = harness.state().image_rect(stream).unwrap();
    let at = rect.min
        + egui::vec2(
            (x as f32 + 0.5) / w as f32 * rect.width(),
            (y as f32 + 0.5) / h as f32 * rect.height(),
        );
    harness.hover_at(at);
    harness.run_steps(3);
}

#[test]
fn a_camera_and_a_heatmap_show_in_the_image_panel() {
    let dir = tempfile::tempdir().unwrap();
    let (session, store) = session_with(&image_frames());
    let hub = session.hub.clone();
    let mut harness = harness(session, dir.path());
    harness.run_steps(1);
    wait_for_images(&mut harness, 2);
    assert_eq!(harness.state().image_textures(), 2);
    assert!(
        harness.query_by_label("cam/front").is_some(),
        "the camera's name"
    );
    assert!(
        harness.query_by_label("320×240 JPEG · age 0.0 s").is_some(),
        "its size and age"
    );
    assert!(harness.query_by_label("40×30 f32 · age 0.0 s").is_some());
    // The colour bar's numbers.
    assert!(harness.query_by_label("1.0000").is_some());
    assert!(harness.query_by_label("0.0000").is_some());
    harness.snapshot_options("images", &SnapshotOptions::new().threshold(2.0));

    // Hovering a pixel shows its coordinates and value: the float of a heatmap...
    hover_pixel(&mut harness, "heat", (HEAT_W, HEAT_H), 21, 14);
    assert_eq!(
        harness.state().image_hover(),
        Some(format!("heat (21, 14): {}", heat_value(21, 14)).as_str())
    );
    // ...the colour of a camera's (the sun; JPEG is lossy).
    hover_pixel(&mut harness, "cam/front", (320, 240), 230, 72);
    let hover = harness.state().image_hover().unwrap().to_owned();
    let rgb: Vec<u8> = hover
        .strip_prefix("cam/front (230, 72): RGB ")
        .unwrap_or_else(|| panic!("{hover}"))
        .split(' ')
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(rgb[0] > 230 && rgb[1] > 190 && rgb[2] < 120, "{hover}");

    // A new frame of the camera replaces its texture's pixels, not the texture.
    let before = harness.state().images_shown();
    let accepted = hub
        .ingest(Utf8Bytes::from(image_frames()[0].clone()))
        .unwrap();
    store.write().apply(&accepted);
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.state().images_shown() == before {
        assert!(Instant::now() < deadline, "the new frame is shown");
        std::thread::sleep(Duration::from_millis(10));
        harness.run_steps(1);
    }
    assert_eq!(harness.state().image_textures(), 2);

    // Hidden in the tree: not drawn, its texture dropped.
    tree_checkbox(&harness, "heat").click();
    harness.run_steps(2);
    assert!(harness.state().image_rect("heat").is_none());
    assert_eq!(harness.state().image_textures(), 1);
    tree_checkbox(&harness, "heat").click();
    wait_for_images(&mut harness, 2);

    // The panel off (View → Images): nothing decoded, no texture held; on again: back.
    for on in [false, true] {
        open_menu_item(&mut harness, "View", "Images");
        harness.key_press(egui::Key::Escape);
        harness.run_steps(2);
        assert_eq!(harness.state().settings().show_images, on);
        if !on {
            assert_eq!(harness.state().image_textures(), 0);
            assert!(harness.query_by_label("cam/front").is_none());
        }
    }
    wait_for_images(&mut harness, 2);

    // Cleared: the stream's image, and its texture, are gone; without images, the panel too.
    for clear in [
        r#"{"stream":"cam","clear":true}"#,
        r#"{"stream":"heat","clear":true}"#,
    ] {
        let accepted = hub.ingest(Utf8Bytes::from(clear)).unwrap();
        store.write().apply(&accepted);
        harness.run_steps(2);
    }
    assert_eq!(harness.state().image_textures(), 0);
    assert!(harness.query_by_label("cam/front").is_none());
}

/// CRC-32 of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_image_that_does_not_decode_says_why_in_its_place() {
    // A PNG whose structure the hub checks (chunks, CRCs, header) but whose pixels are not
    // deflate data: the hub cannot know, the decoder can.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 4u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&4u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    for (kind, body) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &[1, 2, 3][..]),
        (b"IEND", &[][..]),
    ] {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(body);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    let frame = format!(
        r#"{{"stream":"broken","image":{{"png":"{}"}}}}"#,
        vizcast_protocol::u8_base64(&png)
    );
    let dir = tempfile::tempdir().unwrap();
    let (session, _store) = session_with(&[frame]);
    let mut harness = harness(session, dir.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness
        .query_by_label_contains("cannot decode the PNG")
        .is_none()
    {
        assert!(Instant::now() < deadline, "the error is shown");
        std::thread::sleep(Duration::from_millis(10));
        harness.run_steps(1);
    }
    assert_eq!(harness.state().image_textures(), 0);
    assert!(harness.query_by_label("4×4 PNG · age 0.0 s").is_some());
}
