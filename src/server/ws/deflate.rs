//! permessage-deflate (RFC 7692), provisional: replaced by the full module.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub fn negotiate<'a>(offers: impl Iterator<Item = &'a str>) -> Option<&'static str> {
    let mut offers = offers.flat_map(|v| v.split(','));
    offers.any(|o| o.split(';').next().is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate")))
        .then_some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
}

pub fn compress(payload: &[u8]) -> Bytes {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync).expect("deflate");
        if c.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    Bytes::from(out)
}

#[derive(Debug)]
pub enum InflateError {
    TooLarge,
    Corrupt,
}

pub fn inflate(payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(max.min(4096) + 1);
    loop {
        let consumed = d.total_in() as usize;
        let status = d.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync).map_err(|_| InflateError::Corrupt)?;
        if out.len() > max {
            return Err(InflateError::TooLarge);
        }
        if d.total_in() as usize == input.len() || status == Status::StreamEnd {
            return Ok(out);
        }
        if out.len() == out.capacity() {
            out.reserve(1024.min(max + 1 - out.len()).max(1));
        } else if status == Status::BufError {
            return Err(InflateError::Corrupt);
        }
    }
}
