//! The built-in demo: a producer that shows what vizcast is for.
//!
//! - `demo/signal/sine`, `demo/signal/noise`: 1 kHz, sent as columnar batches of 20 samples;
//! - `demo/control/setpoint` and `demo/control/response`: a second-order step response at 1 kHz
//!   (a `values` columnar batch);
//! - `demo/imu/{ax,ay,az,gx,gy,gz}`: a `values` message at 100 Hz;
//! - `demo/robot/battery/{volts,amps}`, `demo/robot/temperature`: other numeric fields, 10 Hz;
//! - `demo/cloud`: a rotating, breathing torus knot of 50,000 coloured points at 30 Hz
//!   (`{"f32": …}` encoded positions, `{"u8": …}` colours);
//! - `demo/trajectory`: a 3D Lissajous path grown with `line` + `append` at 30 Hz, restarted every
//!   minute;
//! - `demo/events`: a text event every 2.5 s;
//! - `demo/camera`: a camera, 320×240 JPEG at 30 Hz (a moving synthetic scene, a loop encoded
//!   once at start, see [`images`]);
//! - `demo/heatmap`: a 64×64 field evolving in time, raw `f32` through the turbo colormap, 10 Hz.
//!
//! [`Demo`] is a pure function of time and seed (for reproducible tests); [`run`] feeds a hub in
//! real time through the same validation as any producer.

pub mod images;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use vizcast_hub::{Hub, Utf8Bytes, unix_now};
use vizcast_protocol::{f32_base64, u8_base64};

/// Points in the demo cloud.
pub const CLOUD_POINTS: usize = 50_000;

/// Rates of the demo streams, in Hz.
const SIGNAL_HZ: f64 = 1000.0;
const SIGNAL_BATCH: usize = 20;
const IMU_HZ: f64 = 100.0;
const ROBOT_HZ: f64 = 10.0;
const CLOUD_HZ: f64 = 30.0;
const TRAJECTORY_HZ: f64 = 30.0;
const TRAJECTORY_RESTART_S: f64 = 60.0;
const EVENT_EVERY_S: f64 = 2.5;

/// The demo generator. Times are seconds since the demo started; frames carry `epoch + time`.
#[derive(Debug)]
pub struct Demo {
    epoch: f64,
    /// Index of the next 1 kHz sample.
    next_sample: u64,
    next_imu: u64,
    next_robot: u64,
    next_cloud: u64,
    next_trajectory: u64,
    next_event: u64,
    next_camera: u64,
    next_heat: u64,
    cloud_base: Vec<[f32; 3]>,
    cloud_colors: String,
    /// The camera's encoded loop, once [`Demo::set_camera`] gave it.
    camera: Option<Arc<[String]>>,
    seed: u64,
}

impl Demo {
    /// A demo whose time 0 is Unix time `epoch`, with noise from `seed`.
    pub fn new(epoch: f64, seed: u64) -> Self {
        let (cloud_base, colors) = torus_knot(CLOUD_POINTS);
        Self {
            epoch,
            next_sample: 0,
            next_imu: 0,
            next_robot: 0,
            next_cloud: 0,
            next_trajectory: 0,
            next_event: 0,
            next_camera: 0,
            next_heat: 0,
            cloud_base,
            cloud_colors: u8_base64(&colors),
            camera: None,
            seed,
        }
    }

    /// Starts the camera with its encoded loop ([`images::camera_loop`]).
    pub fn set_camera(&mut self, camera: Arc<[String]>) {
        self.camera = Some(camera);
    }

    /// The frames due up to demo time `now` (seconds), in time order of their kind.
    pub fn frames_until(&mut self, now: f64) -> Vec<String> {
        let mut frames = Vec::new();
        while (self.next_sample + SIGNAL_BATCH as u64) as f64 / SIGNAL_HZ <= now {
            frames.push(self.signal_batch());
        }
        while self.next_imu as f64 / IMU_HZ <= now {
            frames.push(self.imu(self.next_imu as f64 / IMU_HZ));
            self.next_imu += 1;
        }
        while self.next_robot as f64 / ROBOT_HZ <= now {
            frames.push(self.robot(self.next_robot as f64 / ROBOT_HZ));
            self.next_robot += 1;
        }
        // Clouds replace each other: only the latest due one is worth sending.
        if self.next_cloud as f64 / CLOUD_HZ <= now {
            let last = (now * CLOUD_HZ).floor() as u64;
            frames.push(self.cloud(last as f64 / CLOUD_HZ));
            self.next_cloud = last + 1;
        }
        while self.next_trajectory as f64 / TRAJECTORY_HZ <= now {
            frames.push(self.trajectory(self.next_trajectory));
            self.next_trajectory += 1;
        }
        while self.next_event as f64 * EVENT_EVERY_S <= now {
            frames.push(self.event(self.next_event));
            self.next_event += 1;
        }
        // Images replace each other too: the latest due of each.
        if let Some(camera) = &self.camera
            && self.next_camera as f64 / images::CAMERA_HZ <= now
        {
            let last = (now * images::CAMERA_HZ).floor() as u64;
            frames.extend(images::camera_message(
                camera,
                self.epoch,
                last as f64 / images::CAMERA_HZ,
            ));
            self.next_camera = last + 1;
        }
        if self.next_heat as f64 / images::HEAT_HZ <= now {
            let last = (now * images::HEAT_HZ).floor() as u64;
            frames.push(images::heatmap_message(
                self.epoch,
                last as f64 / images::HEAT_HZ,
            ));
            self.next_heat = last + 1;
        }
        frames
    }

    fn noise(&self, i: u64) -> f64 {
        // SplitMix64 of (seed, i): deterministic, cheap, well spread.
        let mut z = self
            .seed
            .wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// One batch frame: sine, noise and the step response, 20 samples each at 1 kHz.
    fn signal_batch(&mut self) -> String {
        let first = self.next_sample;
        self.next_sample += SIGNAL_BATCH as u64;
        let times: Vec<f64> = (first..self.next_sample)
            .map(|i| i as f64 / SIGNAL_HZ)
            .collect();
        let t_list = join(times.iter().map(|t| format!("{:.3}", self.epoch + t)));
        let sine = join(
            times
                .iter()
                .map(|t| format!("{:.5}", (2.0 * std::f64::consts::PI * 0.5 * t).sin())),
        );
        let noise = join((first..self.next_sample).map(|i| format!("{:.5}", 0.3 * self.noise(i))));
        let setpoint = join(times.iter().map(|t| format!("{:.1}", setpoint(*t))));
        let response = join(times.iter().map(|t| format!("{:.5}", step_response(*t))));
        format!(
            r#"[{{"stream":"demo/signal/sine","t":[{t_list}],"value":[{sine}]}},{{"stream":"demo/signal/noise","t":[{t_list}],"value":[{noise}]}},{{"stream":"demo/control","t":[{t_list}],"values":{{"setpoint":[{setpoint}],"response":[{response}]}}}}]"#
        )
    }

    fn imu(&self, t: f64) -> String {
        let i = (t * IMU_HZ) as u64;
        let n = |k: u64| 0.05 * self.noise((1 << 40) | (i * 8 + k));
        format!(
            r#"{{"stream":"demo/imu","t":{:.3},"values":{{"ax":{:.4},"ay":{:.4},"az":{:.4},"gx":{:.4},"gy":{:.4},"gz":{:.4}}}}}"#,
            self.epoch + t,
            0.2 * (1.3 * t).sin() + n(0),
            0.2 * (0.7 * t).cos() + n(1),
            -9.81 + n(2),
            0.5 * (0.5 * t).sin() + n(3),
            0.1 + n(4),
            0.3 * (0.9 * t).cos() + n(5)
        )
    }

    fn robot(&self, t: f64) -> String {
        let load = 2.0 + (0.2 * t).sin();
        format!(
            r#"{{"stream":"demo/robot","t":{:.3},"battery":{{"volts":{:.3},"amps":{:.3}}},"temperature":{:.2}}}"#,
            self.epoch + t,
            24.0 - 0.002 * t - 0.1 * load,
            load,
            35.0 + 5.0 * (1.0 - (-t / 60.0).exp())
        )
    }

    fn cloud(&self, t: f64) -> String {
        let (sin, cos) = ((0.4 * t) as f32).sin_cos();
        let breathe = 1.0 + 0.08 * (1.5 * t as f32).sin();
        let flat: Vec<f32> = self
            .cloud_base
            .iter()
            .flat_map(|[x, y, z]| {
                [
                    (x * cos - y * sin) * breathe,
                    (x * sin + y * cos) * breathe,
                    *z,
                ]
            })
            .collect();
        format!(
            r#"{{"stream":"demo/cloud","t":{:.3},"points":{{"f32":"{}"}},"colors":{{"u8":"{}"}},"radius":0.012}}"#,
            self.epoch + t,
            f32_base64(&flat),
            self.cloud_colors
        )
    }

    fn trajectory(&self, index: u64) -> String {
        let t = index as f64 / TRAJECTORY_HZ;
        let p = lissajous(t);
        let restart = index.is_multiple_of((TRAJECTORY_RESTART_S * TRAJECTORY_HZ) as u64);
        format!(
            r##"{{"stream":"demo/trajectory","t":{:.3},"line":[[{:.4},{:.4},{:.4}]],"append":{},"color":"#f97316"}}"##,
            self.epoch + t,
            p[0],
            p[1],
            p[2],
            !restart
        )
    }

    fn event(&self, index: u64) -> String {
        const EVENTS: [(&str, &str); 6] = [
            ("info", "setpoint changed"),
            ("info", "calibration done"),
            ("warn", "battery below 23.9 V"),
            ("info", "trajectory checkpoint reached"),
            ("debug", "cloud frame rebuilt"),
            ("error", "joint 3 over-current (simulated)"),
        ];
        let (level, text) = EVENTS[index as usize % EVENTS.len()];
        format!(
            r#"{{"stream":"demo/events","t":{:.3},"text":"{text} (#{index})","level":"{level}"}}"#,
            self.epoch + index as f64 * EVENT_EVERY_S
        )
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{item}").ok();
    }
    out
}

/// A setpoint that steps every 5 seconds.
fn setpoint(t: f64) -> f64 {
    [1.0, 3.0, -1.0, 2.0][((t / 5.0) as usize) % 4]
}

/// Response of an underdamped second-order system (ζ = 0.3, ωn = 6 rad/s) to [`setpoint`].
fn step_response(t: f64) -> f64 {
    let (zeta, wn) = (0.3f64, 6.0f64);
    let wd = wn * (1.0 - zeta * zeta).sqrt();
    let unit = |tau: f64| {
        if tau < 0.0 {
            0.0
        } else {
            1.0 - (-zeta * wn * tau).exp()
                * ((wd * tau).cos() + zeta / (1.0 - zeta * zeta).sqrt() * (wd * tau).sin())
        }
    };
    let step = (t / 5.0).floor();
    let mut y = 0.0;
    let mut previous = 0.0;
    for k in 0..=(step as i64) {
        let level = setpoint(k as f64 * 5.0);
        y += (level - previous) * unit(t - k as f64 * 5.0);
        previous = level;
    }
    y
}

fn lissajous(t: f64) -> [f64; 3] {
    [
        1.5 * (0.31 * t).sin(),
        1.5 * (0.23 * t + 0.5).sin(),
        0.8 + 0.6 * (0.17 * t).sin(),
    ]
}

/// Points on a (3, 7) torus knot tube, with colours by height (a viridis-like ramp).
fn torus_knot(n: usize) -> (Vec<[f32; 3]>, Vec<u8>) {
    let mut points = Vec::with_capacity(n);
    let mut colors = Vec::with_capacity(n * 3);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    for i in 0..n {
        let s = i as f32 / n as f32 * std::f32::consts::TAU;
        let (p, q) = (3.0f32, 7.0f32);
        let r = 1.0 + 0.35 * (q * s).cos();
        let center = [
            r * (p * s).cos(),
            r * (p * s).sin(),
            0.35 * (q * s).sin() + 1.0,
        ];
        let a = random() * std::f32::consts::TAU;
        let tube = 0.12 * random().sqrt();
        let point = [
            center[0] + tube * a.cos(),
            center[1] + tube * a.sin(),
            center[2] + tube * (a * 1.7).sin(),
        ];
        let h = ((point[2] - 0.5) / 1.0).clamp(0.0, 1.0);
        colors.extend_from_slice(&ramp(h));
        points.push(point);
    }
    (points, colors)
}

/// A perceptual blue → green → yellow ramp.
fn ramp(x: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 4] = [
        [68.0, 1.0, 84.0],
        [49.0, 104.0, 142.0],
        [53.0, 183.0, 121.0],
        [253.0, 231.0, 37.0],
    ];
    let x = x.clamp(0.0, 1.0) * 3.0;
    let i = (x.floor() as usize).min(2);
    let f = x - i as f32;
    let lerp = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f).round() as u8;
    [lerp(0), lerp(1), lerp(2)]
}

/// Feeds `hub` with the demo in real time until the hub shuts down.
pub async fn run(hub: Arc<Hub>) {
    let shutdown = hub.shutdown_token();
    let start = tokio::time::Instant::now();
    let mut demo = Demo::new(unix_now(), 0x5eed);
    // The camera's loop is encoded off the async workers; the camera starts when it is ready.
    let mut camera = tokio::task::spawn_blocking(images::camera_loop);
    let mut camera_ready = false;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if !camera_ready && camera.is_finished() {
            camera_ready = true;
            match (&mut camera).await {
                Ok(frames) => demo.set_camera(frames.into()),
                Err(err) => tracing::warn!("the demo camera could not start: {err}"),
            }
        }
        let now = start.elapsed().as_secs_f64();
        for frame in demo.frames_until(now) {
            if let Err(err) = hub.ingest(Utf8Bytes::from(frame)) {
                // The demo's frames are valid by construction; a refusal means a limit was set
                // below what the demo needs (e.g. --max-points under 50,000).
                tracing::warn!("the hub refused a demo frame: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vizcast_protocol::{Limits, Shape, parse_frame};

    use super::*;

    #[test]
    fn every_demo_frame_is_valid_and_the_rates_are_right() {
        let mut demo = Demo::new(1_700_000_000.0, 1);
        let frames = demo.frames_until(2.0);
        let mut scalar_samples = 0;
        let mut clouds = 0;
        let mut texts = 0;
        let mut lines = 0;
        for frame in &frames {
            for message in parse_frame(frame, &Limits::default())
                .unwrap_or_else(|e| panic!("{e}: {frame:.200}"))
            {
                scalar_samples += message
                    .scalars
                    .iter()
                    .map(|s| s.samples.len())
                    .sum::<usize>();
                match message.shape {
                    Some(Shape::Points(p)) => {
                        assert_eq!(p.positions.len(), CLOUD_POINTS);
                        clouds += 1;
                    }
                    Some(Shape::Text(_)) => texts += 1,
                    Some(Shape::Line(_)) => lines += 1,
                    _ => {}
                }
            }
        }
        // 2 s: 4 series × 2000 samples + 6 IMU × 201 + 3 robot fields × 21.
        assert_eq!(scalar_samples, 4 * 2000 + 6 * 201 + 3 * 21);
        assert_eq!(clouds, 1, "only the latest due cloud is sent");
        assert_eq!(lines, 61);
        assert_eq!(texts, 1);
    }

    #[test]
    fn the_demo_is_deterministic() {
        let a = Demo::new(0.0, 7).frames_until(0.5);
        let b = Demo::new(0.0, 7).frames_until(0.5);
        assert_eq!(a, b);
    }
}
