//! The widget and demo pages, embedded in the binary at build time (build.rs),
//! compressed once (gzip and brotli) and served with validators and caching
//! that suit each URL.

use std::collections::HashMap;
use std::io::Write;
use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha384};
use warp::http::{header, Response, StatusCode};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// One embedded file, ready in every encoding we serve. They live in a static
/// map, so every response is `Bytes` borrowing them: no copy per request.
pub struct Asset {
    pub name: &'static str,
    pub body: &'static [u8],
    gzip: Vec<u8>,
    brotli: Vec<u8>,
    pub content_type: &'static str,
    /// Hex of the SHA-384 of the body: the ETag and the immutable URL's name.
    pub digest_hex: String,
    /// `sha384-…`, for `<script integrity>`.
    pub integrity: String,
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| WEB_FILES.iter().map(|(name, body)| (*name, Asset::new(name, body))).collect());

impl Asset {
    fn new(name: &'static str, body: &'static [u8]) -> Asset {
        let digest = Sha384::digest(body);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(body).expect("writing to memory");
        let gzip = gz.finish().expect("writing to memory");
        let mut brotli = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut brotli, 4096, 11, 22);
            w.write_all(body).expect("writing to memory");
        }
        Asset {
            name,
            body,
            gzip,
            brotli,
            content_type: content_type(name),
            digest_hex: digest.iter().map(|b| format!("{b:02x}")).collect(),
            integrity: format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest)),
        }
    }

    /// The content-addressed URL of this file: `/ticker.<digest>.js`, cacheable forever.
    pub fn immutable_path(&self) -> String {
        let (stem, ext) = self.name.rsplit_once('.').unwrap_or((self.name, ""));
        format!("/{stem}.{}.{ext}", &self.digest_hex[..16])
    }
}

pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.get(name)
}

/// The asset whose content-addressed name is `name` (`ticker.0123456789abcdef.js`).
pub fn find_immutable(name: &str) -> Option<&'static Asset> {
    let mut parts = name.rsplitn(3, '.');
    let (ext, digest, stem) = (parts.next()?, parts.next()?, parts.next()?);
    let asset = ASSETS.get(format!("{stem}.{ext}").as_str())?;
    (digest.len() == 16 && asset.digest_hex.starts_with(digest)).then_some(asset)
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

/// Serves an asset in the best encoding the client accepts, answering 304 to a
/// matching If-None-Match.
pub fn respond(asset: &'static Asset, accept_encoding: Option<&str>, if_none_match: Option<&str>, cache_control: &'static str) -> Response<bytes::Bytes> {
    let accepts = |coding: &str| {
        accept_encoding.is_some_and(|v| v.split(',').any(|c| {
            let mut parts = c.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case(coding) && !refused
        }))
    };
    let compressible = !asset.content_type.starts_with("image/png");
    let (body, encoding): (bytes::Bytes, Option<&str>) = if compressible && accepts("br") {
        (bytes::Bytes::from_static(asset.brotli.as_slice()), Some("br"))
    } else if compressible && accepts("gzip") {
        (bytes::Bytes::from_static(asset.gzip.as_slice()), Some("gzip"))
    } else {
        (bytes::Bytes::from_static(asset.body), None)
    };
    // Each encoding is its own representation, with its own validator.
    let etag = format!("\"{}{}\"", &asset.digest_hex[..32], encoding.map(|e| format!("-{e}")).unwrap_or_default());
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::VARY, "Accept-Encoding")
        .header("x-content-type-options", "nosniff")
        // News sites load the widget from another origin, with `crossorigin` when
        // they pin it with Subresource Integrity: that needs CORS.
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag)) {
        return builder.status(StatusCode::NOT_MODIFIED).body(bytes::Bytes::new()).expect("valid response");
    }
    if let Some(e) = encoding {
        builder = builder.header(header::CONTENT_ENCODING, e);
    }
    builder.header(header::CONTENT_TYPE, asset.content_type).body(body).expect("valid response")
}

/// `GET /api/v1/widget`: where to load the widget from when pinning it with SRI.
pub fn widget_info() -> Response<bytes::Bytes> {
    let asset = find("ticker.js");
    let body = match asset {
        Some(a) => serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "url": a.immutable_path(),
            "integrity": a.integrity,
            "gzip_bytes": a.gzip.len(),
            "brotli_bytes": a.brotli.len(),
        }),
        None => serde_json::json!({ "error": "this build has no widget" }),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(bytes::Bytes::from(body.to_string()))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_round_trips_through_its_encodings() {
        for (name, body) in WEB_FILES {
            let asset = find(name).unwrap();
            let mut gunzipped = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&asset.gzip[..]), &mut gunzipped).unwrap();
            assert_eq!(&gunzipped, body, "{name} gzip");
            let mut unbrotli = Vec::new();
            brotli::BrotliDecompress(&mut &asset.brotli[..], &mut unbrotli).unwrap();
            assert_eq!(&unbrotli, body, "{name} brotli");
            assert_eq!(find_immutable(asset.immutable_path().trim_start_matches('/')).map(|a| a.name), Some(*name));
        }
        assert!(find_immutable("ticker.0000000000000000.js").is_none());
    }

    /// web/ticker.js loads web/ticker-fallback.js by its content-addressed name and pins it with
    /// its SHA-384 (web/src/build.mjs bakes both in): they must be this binary's.
    #[test]
    fn the_widget_pins_the_fallback_this_binary_serves() {
        let (main, fallback) = (find("ticker.js").unwrap(), find("ticker-fallback.js").unwrap());
        let main = std::str::from_utf8(main.body).unwrap();
        assert!(main.contains(&format!("\"{}\"", fallback.immutable_path().trim_start_matches('/'))), "the fallback's name");
        assert!(main.contains(&format!("\"{}\"", fallback.integrity)), "the fallback's integrity");
    }
}
