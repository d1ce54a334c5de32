//! Length caps on every string an upstream puts in a [`Game`].
//!
//! Each string is copied into the hub's state, every frame and snapshot that
//! carries the game, the replay ring and the state file; an upstream that sends
//! a million-character team name (by mistake or not) would multiply that into
//! hundreds of megabytes. [`cap_game`] runs on every game any adapter produces
//! (from [`super::Adapter::parse`]), so no adapter can forget it. The caps are
//! generous for real data and documented in docs/PROTOCOL.md; a longer value is
//! cut at the last UTF-8 character boundary within the cap.

use crate::model::{Game, Team};

/// Caps in bytes of UTF-8, by field as named in PROTOCOL.md.
pub const CAPS: [(&str, usize); 15] = [
    ("id", MAX_ID),
    ("start", 64),
    ("status.clock", 32),
    ("status.detail", 128),
    ("team.id", 64),
    ("team.name", 128),
    ("team.short", 64),
    ("team.abbr", 16),
    ("team.logo", 1024),
    ("team.record", 32),
    ("series", 128),
    ("note", 128),
    ("situation.down_distance", 64),
    ("league", 64),
    ("sport", 64),
];

/// A game id is `<feed>:<upstream id>`; feed ids are at most 64 bytes.
pub const MAX_ID: usize = 160;

fn cap_of(field: &str) -> usize {
    CAPS.iter().find(|(f, _)| *f == field).map(|(_, c)| *c).expect("every capped field has a cap")
}

/// Cuts every string field of `game` to its cap. Returns the names of the
/// fields that were cut (for the adapter to log once and count).
pub fn cap_game(game: &mut Game) -> Vec<&'static str> {
    let mut cut = Vec::new();
    let mut apply = |field: &'static str, value: &mut String| {
        if truncate(value, cap_of(field)) {
            cut.push(field);
        }
    };
    apply("id", &mut game.id);
    apply("league", &mut game.league);
    apply("sport", &mut game.sport);
    if let Some(start) = &mut game.start {
        apply("start", start);
    }
    if let Some(clock) = &mut game.status.clock {
        apply("status.clock", clock);
    }
    if let Some(detail) = &mut game.status.detail {
        apply("status.detail", detail);
    }
    for (field, value) in [("series", &mut game.series), ("note", &mut game.note)] {
        if let Some(text) = value {
            apply(field, text);
        }
    }
    if let Some(down_distance) = game.situation.as_mut().and_then(|s| s.down_distance.as_mut()) {
        apply("situation.down_distance", down_distance);
    }
    for team in [&mut game.home, &mut game.away] {
        cap_team(team, &mut apply);
    }
    cut.dedup();
    cut
}

fn cap_team(team: &mut Team, apply: &mut impl FnMut(&'static str, &mut String)) {
    apply("team.id", &mut team.id);
    apply("team.name", &mut team.name);
    apply("team.abbr", &mut team.abbr);
    if let Some(short) = &mut team.short {
        apply("team.short", short);
    }
    if let Some(logo) = &mut team.logo {
        apply("team.logo", logo);
    }
    if let Some(record) = &mut team.record {
        apply("team.record", record);
    }
}

/// Cuts `text` to at most `max` bytes, on a character boundary. True if it was cut.
pub fn truncate(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary() {
        let mut s = "aé".repeat(100); // 'é' is 2 bytes
        assert!(truncate(&mut s, 128));
        assert!(s.len() <= 128 && s.len() >= 127, "{}", s.len());
        assert!(s.is_char_boundary(s.len()));
        let mut short = "Celtics".to_string();
        assert!(!truncate(&mut short, 128));
        assert_eq!(short, "Celtics");
        let mut emoji = "🏀".repeat(10);
        assert!(truncate(&mut emoji, 6));
        assert_eq!(emoji, "🏀");
    }

    #[test]
    fn the_fields_beside_the_score_are_capped_too() {
        let long = "x".repeat(10_000);
        let mut game = Game {
            series: Some(long.clone()),
            note: Some(long.clone()),
            situation: Some(crate::model::Situation { down_distance: Some(long.clone()), ..Default::default() }),
            ..Game::default()
        };
        game.home.record = Some(long.clone());
        let cut = cap_game(&mut game);
        assert_eq!(cut, ["series", "note", "situation.down_distance", "team.record"]);
        assert_eq!(game.series.as_deref().map(str::len), Some(128));
        assert_eq!(game.note.as_deref().map(str::len), Some(128));
        assert_eq!(game.situation.and_then(|s| s.down_distance).map(|d| d.len()), Some(64));
        assert_eq!(game.home.record.as_deref().map(str::len), Some(32));
    }
}
