//! The state file: the hub's games, epoch, seq and replay ring on disk, so a
//! restarted service serves the last scores at once and clients resume with
//! `since` across the restart.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the directory):
//! a crash mid-write leaves the previous file intact. A file that cannot be read
//! back is set aside, never fatal: the service starts fresh rather than not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hub::SavedHub;

const FILE_NAME: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    saved_at: String,
    hub: SavedHub,
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the state file in `dir`. `Ok(None)` when there is none; a corrupt or
/// unreadable file is renamed to `state.json.corrupt-<time>` and also gives `None`.
pub fn load(dir: &Path) -> Option<SavedHub> {
    let path = path_in(dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the state file; starting fresh");
            return None;
        }
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(file) if file.version == FORMAT_VERSION => {
            tracing::info!(path = %path.display(), games = file.hub.games.len(), seq = file.hub.seq,
                saved_at = %file.saved_at, "restored state");
            Some(file.hub)
        }
        Ok(file) => {
            set_aside(&path, &format!("unknown format version {}", file.version));
            None
        }
        Err(e) => {
            set_aside(&path, &e.to_string());
            None
        }
    }
}

fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension(format!("json.corrupt-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    match std::fs::rename(path, &aside) {
        Ok(()) => tracing::error!(path = %path.display(), moved_to = %aside.display(), error = why,
            "the state file is corrupt; set it aside and starting fresh"),
        Err(e) => tracing::error!(path = %path.display(), error = why, rename_error = %e,
            "the state file is corrupt and could not be set aside; starting fresh"),
    }
}

/// Writes `hub` to `dir/state.json` atomically.
pub fn save(dir: &Path, hub: SavedHub) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = StateFile { version: FORMAT_VERSION, saved_at: chrono::Utc::now().to_rfc3339(), hub };
    let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let path = path_in(dir);
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedHub {
        SavedHub { epoch: "e".into(), seq: 7, games: vec![], ring: vec![] }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), None);
        save(dir.path(), saved()).unwrap();
        assert_eq!(load(dir.path()), Some(saved()));
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path_in(dir.path()), b"{\"version\":1,\"hub\":{\"epo").unwrap();
        assert_eq!(load(dir.path()), None);
        assert!(!path_in(dir.path()).exists());
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("state.json.corrupt-"), "{names:?}");
    }
}
