//! The state file: the hub's games, epoch, seq and replay ring on disk, so a
//! restarted service serves the last scores at once and clients resume with
//! `since` across the restart. [`SavedHub`] is the saved form of a hub's
//! [`History`]; restoring it is resetting a fresh hub to it.
//!
//! Written atomically (temporary file, fsync, rename, fsync of the directory):
//! a crash mid-write leaves the previous file intact. Each write has a
//! temporary file of its own, so two writes at once (the periodic save and the
//! final one) cannot write into each other's: the file is always one of them,
//! whole. A file that cannot be read
//! back is set aside, never fatal: the service starts fresh rather than not at all.
//!
//! **Clean or not.** The file is written shortly after changes (at most once a
//! second), so after a crash it may lag behind what clients were already sent:
//! they may hold seq 9 while the file says 8. Continuing the same epoch from 8
//! would give a *different* event the number 9, and a client resuming with
//! `since {epoch, 9}` would never learn of it. So the file says whether it was
//! written by a graceful shutdown, after the last event (`clean`), and only a
//! clean file continues its epoch. Any other start keeps the games but begins a
//! new epoch with an empty replay ring: every resuming client gets a snapshot.
//! A clean file is claimed at start (rewritten as not clean before anything is
//! served), so a crash later in that run is never mistaken for a clean stop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::hub::{EventFrame, History, Hub, Routing};
use crate::model::Game;

const FILE_NAME: &str = "state.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    saved_at: String,
    /// Written by a graceful shutdown after the last event: the file is complete
    /// and current (see the module docs). Absent in older files: not clean.
    #[serde(default)]
    clean: bool,
    hub: SavedHub,
}

/// Everything needed to bring a hub back after a restart: clients resume with
/// `since` across it with no gap and no duplicate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedHub {
    pub epoch: String,
    pub seq: u64,
    pub games: Vec<Game>,
    pub ring: Vec<SavedEvent>,
}

/// One event of the replay ring: its frame, and the routing that decides
/// which resuming clients get it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedEvent {
    pub seq: u64,
    pub ts: i64,
    pub id: String,
    pub feed: String,
    pub league: String,
    pub home_abbr: String,
    pub away_abbr: String,
    /// The frame's JSON text, exactly as sent.
    pub frame: String,
}

impl SavedHub {
    /// The hub's history, in the file's form.
    pub fn of(hub: &Hub) -> SavedHub {
        let History { epoch, seq, games, ring } = hub.history();
        let ring = ring
            .iter()
            .map(|e| SavedEvent {
                seq: e.seq,
                ts: e.ts,
                id: e.routing.id.clone(),
                feed: e.routing.feed.clone(),
                league: e.routing.league.clone(),
                home_abbr: e.routing.home_abbr.clone(),
                away_abbr: e.routing.away_abbr.clone(),
                frame: String::from_utf8_lossy(&e.bytes).into_owned(),
            })
            .collect();
        SavedHub { epoch, seq, games, ring }
    }

    /// Continues this history in `hub` (a fresh one, at start): the same
    /// epoch, seq, games and replay ring.
    pub fn restore_into(self, hub: &Hub) {
        let ring = self
            .ring
            .into_iter()
            .map(|e| {
                let routing = Routing { id: e.id, feed: e.feed, league: e.league, home_abbr: e.home_abbr, away_abbr: e.away_abbr };
                std::sync::Arc::new(EventFrame { seq: e.seq, ts: e.ts, routing, bytes: e.frame.into() })
            })
            .collect();
        hub.reset_to(History { epoch: self.epoch, seq: self.seq, games: self.games, ring });
    }
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the state file in `dir` and claims it for this run. `None` when there is
/// none; a corrupt or unreadable file is renamed to `state.json.corrupt-<time>`
/// and also gives `None`. Only a clean file (a graceful shutdown) continues its
/// epoch and replay ring; any other gives its games under a new epoch. A clean
/// file is rewritten as not clean before this returns (and if that fails, it is
/// treated as not clean), so a crash in this run cannot reuse its seqs.
pub fn load(dir: &Path) -> Option<SavedHub> {
    remove_leftover_temporaries(dir);
    let (mut hub, clean) = read(dir)?;
    if clean {
        match save(dir, hub.clone()) {
            Ok(()) => return Some(hub),
            Err(e) => tracing::error!(error = %e, "cannot claim the state file; starting a new epoch"),
        }
    } else {
        tracing::warn!(old_epoch = %hub.epoch, seq = hub.seq,
            "the state file is not from a graceful shutdown (a crash?): keeping its games under a new epoch; resuming clients get a snapshot");
    }
    hub.epoch = Hub::new_epoch();
    hub.ring.clear();
    Some(hub)
}

/// The file's hub and whether it is clean.
fn read(dir: &Path) -> Option<(SavedHub, bool)> {
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
                saved_at = %file.saved_at, clean = file.clean, "restored state");
            Some((file.hub, file.clean))
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

/// Writes `hub` to `dir/state.json` atomically, as not clean: what a running
/// service writes (a crash may follow with later events unsaved).
pub fn save(dir: &Path, hub: SavedHub) -> std::io::Result<()> {
    write(dir, hub, false)
}

/// Writes `hub` as clean: only for a graceful shutdown, once no event can
/// follow, so the next start may continue the same epoch.
pub fn save_clean(dir: &Path, hub: SavedHub) -> std::io::Result<()> {
    write(dir, hub, true)
}

fn write(dir: &Path, hub: SavedHub, clean: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = StateFile { version: FORMAT_VERSION, saved_at: chrono::Utc::now().to_rfc3339(), clean, hub };
    let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let path = path_in(dir);
    let tmp = temporary_in(dir);
    let written = (|| {
        let mut f = std::fs::File::create_new(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How temporary files' names start: `.state.json.tmp-<pid>-<n>`.
const TEMPORARY_PREFIX: &str = ".state.json.tmp-";

/// A temporary file name no other write uses: this process's id and a count.
fn temporary_in(dir: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    dir.join(format!("{TEMPORARY_PREFIX}{}-{}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)))
}

/// Temporary files a crash left behind (each write has its own name, so none
/// would ever be written over).
fn remove_leftover_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMPORARY_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
        save_clean(dir.path(), saved()).unwrap();
        assert_eq!(load(dir.path()), Some(saved()));
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn only_a_clean_file_continues_its_epoch_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_ring = saved();
        with_ring.ring.push(SavedEvent {
            seq: 7,
            ts: 0,
            id: "f:1".into(),
            feed: "f".into(),
            league: "l".into(),
            home_abbr: "A".into(),
            away_abbr: "B".into(),
            frame: "{}".into(),
        });
        // Written while running (a crash may have followed): new epoch, no ring, same games and seq.
        save(dir.path(), with_ring.clone()).unwrap();
        let after_crash = load(dir.path()).unwrap();
        assert_ne!(after_crash.epoch, "e");
        assert!(after_crash.ring.is_empty());
        assert_eq!(after_crash.seq, 7);
        // Written by a graceful shutdown: continued, and claimed, so a crash in
        // the run that read it is not mistaken for a clean stop.
        save_clean(dir.path(), with_ring.clone()).unwrap();
        assert_eq!(load(dir.path()), Some(with_ring.clone()));
        assert_ne!(load(dir.path()).unwrap().epoch, "e", "a clean file is clean once");
    }

    /// The periodic save and the final one may run at once: the file must be
    /// one of the writes, whole, at every moment, and each write must succeed.
    /// (With one temporary name for all, writes truncated and interleaved each
    /// other's bytes, and a rename found its file already renamed.)
    #[test]
    fn concurrent_saves_never_tear_the_file() {
        const WRITERS: usize = 4;
        const WRITES: usize = 40;
        let dir = tempfile::tempdir().unwrap();
        // Large enough that a write takes a while: a few hundred KiB each, every writer its own.
        let hub = |writer: usize| {
            let mut hub = saved();
            hub.seq = writer as u64;
            hub.ring = (0..2000)
                .map(|i| SavedEvent {
                    seq: i,
                    ts: 0,
                    id: format!("w{writer}:{i}"),
                    feed: "f".into(),
                    league: "l".into(),
                    home_abbr: "A".into(),
                    away_abbr: "B".into(),
                    frame: format!("{{\"writer\":{writer}}}").repeat(8),
                })
                .collect();
            hub
        };
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (dir, hub) = (dir.path(), hub(w));
                    scope.spawn(move || (0..WRITES).map(|i| if i % 2 == 0 { save(dir, hub.clone()) } else { save_clean(dir, hub.clone()) }).collect::<Result<Vec<()>, _>>())
                })
                .collect();
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    if let Ok(bytes) = std::fs::read(path_in(dir.path())) {
                        let file: StateFile = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("a torn state file ({} bytes): {e}", bytes.len()));
                        assert_eq!(file.hub, hub(file.hub.seq as usize), "one writer's whole state");
                        reads += 1;
                    }
                }
                reads
            });
            let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            done.store(true, Ordering::Relaxed);
            let reads = reader.join();
            for result in results {
                result.unwrap().expect("every save succeeds");
            }
            assert!(reads.unwrap() > 0, "the reader saw files");
        });
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")], "no temporary file left behind");
    }

    #[test]
    fn a_crashs_temporary_files_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), saved()).unwrap();
        std::fs::write(dir.path().join(format!("{TEMPORARY_PREFIX}1-0")), b"{\"version\":1,\"hu").unwrap();
        assert!(load(dir.path()).is_some());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_restored_hub_continues_the_same_history() {
        use crate::diff::{Change, Event};
        use crate::hub::{Catchup, Since, Subscription};
        use std::time::Duration;
        let game = |id: &str, league: &str, score: i64| {
            let team = |abbr: &str| crate::model::Team { id: abbr.into(), name: abbr.into(), abbr: abbr.into(), score: Some(score), ..Default::default() };
            Game { id: format!("f:{id}"), feed: "f".into(), league: league.into(), home: team("AAA"), away: team("BBB"), ..Game::default() }
        };
        let update = |g: Game| Event::Update { changes: vec![Change::Score], game: g };
        let fresh = || Hub::new("other".into(), 16, 100, Duration::from_secs(600));
        let h = Hub::new("ep".into(), 16, 100, Duration::from_secs(600));
        h.publish(vec![update(game("1", "nba", 1)), update(game("2", "nfl", 1))]);
        h.publish(vec![Event::Remove { game: game("2", "nfl", 1) }]);
        let json_text = serde_json::to_string(&SavedHub::of(&h)).unwrap();
        let restored = fresh();
        serde_json::from_str::<SavedHub>(&json_text).unwrap().restore_into(&restored);
        assert_eq!((restored.epoch(), restored.seq(), restored.games().len()), ("ep".to_string(), 3, 1));
        let mut sub = Subscription::default();
        let since = Since { epoch: "ep".into(), seq: 1 };
        let nfl = ["league:nfl".parse().unwrap()];
        let Catchup::Replay(Some(replay)) = restored.subscribe(&mut sub, &nfl, Some(&since)) else { panic!("a replay") };
        let replay: serde_json::Value = serde_json::from_slice(&replay).unwrap();
        let seqs: Vec<u64> = replay["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [2, 3], "the nfl add and its removal, from the saved ring");
        assert_eq!(restored.publish(vec![update(game("1", "nba", 5))]), 4);
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
