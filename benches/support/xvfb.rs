//! A private X server (Xvfb) for what opens a real window without a display: the end-to-end
//! tests and the benchmarks that measure the window (included with `#[path]`).

use std::process::Stdio;
use std::time::{Duration, Instant};

/// A private X server; stopped when dropped.
pub struct Xvfb {
    child: std::process::Child,
    /// Its `DISPLAY`, e.g. `:93`.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb (1280 × 800) on the first free display number from 90 (install the `xvfb`
    /// package).
    pub fn start() -> Self {
        for n in 90..400 {
            let socket = std::path::PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            if socket.exists() || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let mut child = std::process::Command::new("Xvfb")
                .args([
                    &format!(":{n}"),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb runs (install the xvfb package)");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if socket.exists() {
                    return Self {
                        child,
                        display: format!(":{n}"),
                    };
                }
                // Another server took the number first: try the next one.
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "Xvfb :{n} starts");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("no free X display number");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
