//! The browser viewer, embedded: the files of `web/` as bundled by `build.rs` (esbuild), with gzip
//! copies, ready for the hub to serve at `/`.

use vizcast_hub::StaticFile;

macro_rules! bundled {
    ($path:literal, $name:literal, $content_type:literal) => {
        StaticFile {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("OUT_DIR"), "/web/", $name)),
            gzip: Some(include_bytes!(concat!(
                env!("OUT_DIR"),
                "/web/",
                $name,
                ".gz"
            ))),
        }
    };
}

/// The viewer's files.
pub const FILES: &[StaticFile] = &[
    bundled!("/", "index.html", "text/html; charset=utf-8"),
    bundled!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    bundled!("/app.css", "app.css", "text/css; charset=utf-8"),
    bundled!("/favicon.svg", "favicon.svg", "image/svg+xml"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_complete_and_within_budget() {
        let index = std::str::from_utf8(FILES[0].body).unwrap();
        assert!(index.contains("/app.js") && index.contains("/app.css"));
        let gzipped: usize = FILES
            .iter()
            .map(|f| f.gzip.map_or(f.body.len(), <[u8]>::len))
            .sum();
        assert!(
            gzipped <= 300 * 1024,
            "the viewer is {gzipped} bytes gzipped; the budget is 300 kB"
        );
    }
}
