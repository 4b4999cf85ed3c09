//! The web pages' files, embedded in the binary at build time: one table from URL path to bytes and content
//! type. Only what this table lists is ever served, so a request can name no other file (no traversal, no
//! filesystem access at run time). Each file's ETag is the SHA-256 of its bytes, computed once.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file and the path it is served at.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

impl Asset {
    /// Whether this is a page (a document, which gets the page security headers).
    #[must_use]
    pub fn is_page(&self) -> bool {
        self.content_type == HTML
    }
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $file)),
        }
    };
}

/// Every file the pages use.
static ASSETS: &[Asset] = &[
    asset!("/workers/ui", "templates/workers.html", HTML),
    asset!("/control", "templates/control.html", HTML),
    asset!("/static/base.css", "static/base.css", CSS),
    asset!("/static/workers.css", "static/workers.css", CSS),
    asset!("/static/control.css", "static/control.css", CSS),
    asset!("/static/icon.svg", "static/icon.svg", SVG),
    asset!("/static/api.js", "static/api.js", JS),
    asset!("/static/dom.js", "static/dom.js", JS),
    asset!("/static/workers.js", "static/workers.js", JS),
    asset!("/static/workers-grid.js", "static/workers-grid.js", JS),
    asset!("/static/workers-session.js", "static/workers-session.js", JS),
    asset!("/static/workers-vad.js", "static/workers-vad.js", JS),
    asset!("/static/workers-tools.js", "static/workers-tools.js", JS),
    asset!("/static/workers-graph.js", "static/workers-graph.js", JS),
    asset!("/static/control.js", "static/control.js", JS),
    asset!("/static/control-form.js", "static/control-form.js", JS),
    asset!("/static/control-config.js", "static/control-config.js", JS),
    asset!("/static/control-activity.js", "static/control-activity.js", JS),
    asset!("/static/control-charts.js", "static/control-charts.js", JS),
    asset!("/static/control-upstreams.js", "static/control-upstreams.js", JS),
];

/// Strong ETags, in the order of [`ASSETS`].
static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..16]))).collect());

/// The file served at `path`, with its ETag.
#[must_use]
pub fn find(path: &str) -> Option<(&'static Asset, &'static str)> {
    let index = ASSETS.iter().position(|a| a.path == path)?;
    Some((&ASSETS[index], ETAGS[index].as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_etags_differ_between_files() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(ASSETS[i + 1..].iter().all(|b| b.path != a.path), "{} listed twice", a.path);
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
        let (_, css) = find("/static/base.css").unwrap();
        let (_, js) = find("/static/api.js").unwrap();
        assert_ne!(css, js);
        assert!(find("/static/../Cargo.toml").is_none());
    }
}
