//! The widget and demo pages, embedded in the binary at build time (build.rs).

use warp::http::{header, Response, StatusCode};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// One embedded file, with what HTTP needs to cache it well.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    pub etag: String,
}

pub fn find(name: &str) -> Option<Asset> {
    let (_, body) = WEB_FILES.iter().find(|(n, _)| *n == name)?;
    Some(Asset { body, content_type: content_type(name), etag: etag(body) })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

/// Serves an asset, answering 304 to a matching If-None-Match.
pub fn respond(asset: Asset, if_none_match: Option<String>, cache_control: &'static str) -> Response<bytes::Bytes> {
    let builder = Response::builder()
        .header(header::ETAG, &asset.etag)
        .header(header::CACHE_CONTROL, cache_control)
        .header("x-content-type-options", "nosniff")
        // News sites load the widget from another origin, with `crossorigin` when
        // they pin it with Subresource Integrity: that needs CORS.
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag)) {
        return builder.status(StatusCode::NOT_MODIFIED).body(bytes::Bytes::new()).expect("valid response");
    }
    builder
        .header(header::CONTENT_TYPE, asset.content_type)
        .body(bytes::Bytes::from_static(asset.body))
        .expect("valid response")
}
