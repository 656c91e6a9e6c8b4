//! Bundles the browser viewer (`web/`) into `$OUT_DIR/web` with Node.js and esbuild.
//!
//! Needs Node.js (18 or newer) and the viewer's npm packages (`npm ci --prefix web`); the build
//! says exactly what to run when either is missing. It never downloads anything itself.
//! `VIZCAST_WEB_DIST=DIR` embeds an already built bundle instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest
        .join("../../web")
        .canonicalize()
        .expect("the web/ folder is next to crates/");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web");
    println!("cargo::rerun-if-env-changed=VIZCAST_WEB_DIST");
    for watched in [
        "src",
        "index.html",
        "favicon.svg",
        "build.mjs",
        "package-lock.json",
        "tsconfig.json",
    ] {
        println!("cargo::rerun-if-changed={}", web.join(watched).display());
    }

    if let Ok(dist) = std::env::var("VIZCAST_WEB_DIST") {
        copy_dir(Path::new(&dist), &out);
        return;
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => fail(
            "the browser viewer is built with Node.js, which was not found.\n\
             Install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm), then run: npm ci --prefix web",
        ),
    }
    if !web.join("node_modules/esbuild").exists() {
        fail("the browser viewer's npm packages are not installed. Run: npm ci --prefix web");
    }
    let status = Command::new("node")
        .arg(web.join("build.mjs"))
        .arg(&out)
        .current_dir(&web)
        .status()
        .unwrap_or_else(|e| fail(&format!("could not run node: {e}")));
    if !status.success() {
        fail("bundling the browser viewer failed (see the esbuild output above)");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the output folder");
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| fail(&format!("VIZCAST_WEB_DIST={}: {e}", from.display())))
    {
        let entry = entry.expect("read VIZCAST_WEB_DIST");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a bundle file");
    }
}

fn fail(message: &str) -> ! {
    // A build script's panic message is what cargo shows: make it the instruction.
    panic!("\n\nvizcast-web: {message}\n\n");
}
