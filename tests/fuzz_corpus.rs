//! Replays every fuzz input kept in the repository — the seed corpora
//! (`fuzz/corpus/<target>/`) and every crash ever found (`fuzz/regressions/<target>/`)
//! — through the same target functions cargo-fuzz runs (`scoreticker::fuzzing`),
//! as ordinary tests: a regression in a fixed crash fails here, no cargo-fuzz needed.

use std::path::Path;

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    for (target, body) in scoreticker::fuzzing::TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "fuzz target {target} panicked on {}", path.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_seed_input_passes_its_target() {
    let replayed = replay("corpus");
    assert!(replayed >= 5, "the seed corpora are missing ({replayed} inputs)");
}

#[test]
fn every_crash_found_stays_fixed() {
    replay("regressions");
}

/// The seeds are meant to be read by their targets, not rejected at the door:
/// each real-fixture seed must parse into games.
#[test]
fn the_adapter_seeds_parse() {
    use scoreticker::adapters::{Adapter, AdapterKind, FeedLabels};
    let labels = FeedLabels { feed: "f".into(), league: "l".into(), sport: "s".into() };
    let espn = Adapter::new(AdapterKind::Espn, labels);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/espn");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let games = espn.parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(games.len(), 1, "{}", path.display());
    }
}
