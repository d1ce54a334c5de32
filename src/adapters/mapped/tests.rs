//! The mapped adapter: its own rules on small bodies, and every example feed file
//! in feeds/examples on a real recorded response of its upstream.

use super::*;
use crate::model::{InningHalf, Runners, Shootout, Side, Situation};
use crate::adapters::{Adapter, AdapterKind};
use serde_json::json;
use GameState::*;

fn root(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// An example feed file as the config module will read it: a TOML table whose
/// `[mapping]` deserializes into [`JsonMapping`].
fn example(name: &str) -> (toml::Table, JsonMapping) {
    let path = root(&format!("feeds/examples/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table = toml::from_str::<toml::Table>(&text).unwrap();
    let mapping = table["mapping"].clone().try_into::<JsonMapping>().unwrap();
    assert_eq!(mapping.validate(), vec![], "{name}");
    (table, mapping)
}

fn fixture(name: &str) -> Value {
    let path = root(&format!("tests/fixtures/other/{name}"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn labels_of(table: &toml::Table) -> FeedLabels {
    let key = |k: &str| table[k].as_str().unwrap().to_string();
    FeedLabels { feed: key("id"), league: key("league"), sport: key("sport") }
}

fn game<'a>(games: &'a [Game], upstream_id: &str) -> &'a Game {
    games
        .iter()
        .find(|g| g.id.rsplit(':').next() == Some(upstream_id))
        .unwrap_or_else(|| panic!("no game {upstream_id}"))
}

fn scores(g: &Game) -> (Option<i64>, Option<i64>) {
    (g.home.score, g.away.score)
}

fn count(games: &[Game], state: GameState) -> usize {
    games.iter().filter(|g| g.status.state == state).count()
}

fn parse_ok(mapping: &JsonMapping, labels: &FeedLabels, body: &Value) -> Vec<Game> {
    let mut unknown = Vec::new();
    let games = parse(mapping, labels, body, &mut unknown).unwrap();
    assert!(unknown.is_empty(), "unknown: {unknown:?}");
    games
}

#[test]
fn every_example_feed_file_has_the_fixed_top_level_form() {
    let allowed = ["id", "adapter", "url", "schedule", "league", "sport", "timeout", "headers", "mapping"];
    for name in ["nba-cdn.toml", "nhl-api-web.toml", "football-data.toml", "mlb-statsapi.toml", "espn-nba.toml"] {
        let text = std::fs::read_to_string(root(&format!("feeds/examples/{name}"))).unwrap();
        let table = toml::from_str::<toml::Table>(&text).unwrap();
        for key in table.keys() {
            assert!(allowed.contains(&key.as_str()), "{name}: unexpected key {key}");
        }
        for key in ["id", "adapter", "url", "schedule", "league", "sport", "timeout"] {
            assert!(table.get(key).and_then(|v| v.as_str()).is_some(), "{name}: no {key}");
        }
        let adapter = table["adapter"].as_str().unwrap();
        assert_eq!(table.contains_key("mapping"), adapter == "json", "{name}");
        // And the config module accepts it as a feed.
        let feed = crate::config::load_feed(std::path::Path::new(name), &text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(feed.id, table["id"].as_str().unwrap());
    }
    let (table, _) = example("nba-cdn.toml");
    assert_eq!(table["headers"]["Referer"].as_str(), Some("https://www.nba.com/"));
    let espn = toml::from_str::<toml::Table>(&std::fs::read_to_string(root("feeds/examples/espn-nba.toml")).unwrap()).unwrap();
    assert_eq!(espn["url"].as_str(), Some("https://site.api.espn.com/apis/site/v2/sports/basketball/nba/scoreboard"));
}

#[test]
fn nba_cdn_example_reads_live_and_final_games() {
    let (table, mapping) = example("nba-cdn.toml");
    assert_eq!(mapping.clock_format, ClockFormat::Iso8601);
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("nba-cdn-todaysscoreboard.json"));
    assert_eq!(games.len(), 3);
    assert_eq!((count(&games, Live), count(&games, Final)), (2, 1));

    let g = game(&games, "0042200163");
    assert_eq!(g.id, "nba-cdn:0042200163");
    assert_eq!((g.league.as_str(), g.sport.as_str()), ("nba", "basketball"));
    assert_eq!(g.start.as_deref(), Some("2023-04-21T02:00:00Z"));
    assert_eq!(g.status, Status { state: Live, period: Some(2), clock: Some("7:15".into()), detail: Some("Q2 07:15".into()) });
    // teamId is a number in this API: ids are text in the model.
    assert_eq!(
        g.home,
        Team { id: "1610612744".into(), name: "Warriors".into(), short: None, abbr: "GSW".into(), score: Some(39), logo: None, rank: None, record: Some("0-2".into()) }
    );
    assert_eq!((g.away.abbr.as_str(), g.away.score), ("SAC", Some(30)));

    let g = game(&games, "0042200173");
    assert_eq!((g.status.clock.as_deref(), g.status.period, scores(g)), (Some("6:05"), Some(1), (Some(10), Some(12))));

    // Final: the CDN's clock is "" and is not shown anyway.
    let g = game(&games, "0042200123");
    assert_eq!(g.status, Status { state: Final, period: Some(4), clock: None, detail: Some("Final".into()) });
    assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("BKN", "PHI", (Some(97), Some(102))));
}

#[test]
fn nhl_example_reads_a_complete_day() {
    let (table, mapping) = example("nhl-api-web.toml");
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("nhl-apiweb-score-2026-04-11.json"));
    assert_eq!(games.len(), 15);
    assert_eq!(count(&games, Final), 15);
    assert!(games.iter().all(|g| g.status.clock.is_none() && g.home.score.is_some()));

    let g = game(&games, "2025021261");
    assert_eq!(g.id, "nhl-api-web:2025021261");
    assert_eq!(g.start.as_deref(), Some("2026-04-11T16:30:00Z"));
    assert_eq!(g.status, Status { state: Final, period: Some(3), clock: None, detail: None });
    assert_eq!(
        g.home,
        Team {
            id: "6".into(),
            name: "Bruins".into(),
            short: None,
            abbr: "BOS".into(),
            score: Some(1),
            logo: Some("https://assets.nhle.com/logos/nhl/svg/BOS_light.svg?season=20252026".into()),
            ..Team::default()
        }
    );
    assert_eq!((g.away.abbr.as_str(), g.away.score), ("TBL", Some(2)));

    // Won in overtime; its clock still reads "03:41", but the game is over.
    let ot = game(&games, "2025021274");
    assert_eq!((ot.status.state, ot.status.period, ot.status.clock.as_deref()), (Final, Some(4), None));
    assert_eq!((ot.home.abbr.as_str(), ot.away.abbr.as_str(), scores(ot)), ("COL", "VGK", (Some(2), Some(3))));
    let so = game(&games, "2025021275");
    assert_eq!((so.status.period, scores(so)), (Some(5), (Some(3), Some(4))));
}

#[test]
fn nhl_example_reads_a_live_game() {
    let (table, mapping) = example("nhl-api-web.toml");
    // The recording is one element of `games`, not a whole response.
    let body = json!({ "games": [fixture("nhl-apiweb-one-live-game-object.json")] });
    let games = parse_ok(&mapping, &labels_of(&table), &body);
    let g = game(&games, "2025020004");
    assert_eq!(g.status, Status { state: Live, period: Some(2), clock: Some("20:00".into()), detail: None });
    assert_eq!(g.start.as_deref(), Some("2025-10-08T23:00:00Z"));
    assert_eq!((g.home.name.as_str(), g.home.short.as_deref(), g.home.abbr.as_str()), ("Toronto Maple Leafs", Some("Maple Leafs"), "TOR"));
    assert_eq!((g.away.name.as_str(), g.away.abbr.as_str()), ("Montréal Canadiens", "MTL"));
    assert_eq!(scores(g), (Some(1), Some(1)));
}

#[test]
fn football_data_example_reads_finished_matches() {
    let (table, mapping) = example("football-data.toml");
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("football-data-v4-matches-trimmed.json"));
    assert_eq!(games.len(), 3);
    assert_eq!(count(&games, Final), 3);
    let g = game(&games, "559682");
    assert_eq!(g.id, "football-data-pl:559682");
    assert_eq!(g.start.as_deref(), Some("2026-09-18T18:45:00Z"));
    assert_eq!(g.status, Status { state: Final, period: None, clock: None, detail: None });
    assert_eq!(
        g.home,
        Team {
            id: "548".into(),
            name: "AS Monaco FC".into(),
            short: Some("Monaco".into()),
            abbr: "ASM".into(),
            score: Some(2),
            logo: Some("https://crests.football-data.org/548.png".into()),
            ..Team::default()
        }
    );
    assert_eq!((g.away.abbr.as_str(), g.away.score), ("RCL", Some(1)));
    let g = game(&games, "560591");
    assert_eq!((g.home.abbr.as_str(), g.away.abbr.as_str(), scores(g)), ("BRE", "CHE", (Some(3), Some(0))));
}

#[test]
fn football_data_example_maps_every_documented_status() {
    let (table, mapping) = example("football-data.toml");
    let one = fixture("football-data-v4-matches-trimmed.json")["matches"][0].clone();
    let expected = [
        ("SCHEDULED", Scheduled),
        ("TIMED", Scheduled),
        ("IN_PLAY", Live),
        ("PAUSED", Break),
        ("FINISHED", Final),
        ("AWARDED", Final),
        ("SUSPENDED", Delayed),
        ("POSTPONED", Postponed),
        ("CANCELLED", Canceled),
    ];
    for (status, state) in expected {
        let mut game = one.clone();
        game["status"] = json!(status);
        let games = parse_ok(&mapping, &labels_of(&table), &json!({ "matches": [game] }));
        assert_eq!(games[0].status.state, state, "{status}");
        assert_eq!(games[0].home.score.is_some(), state.has_score(), "{status}");
    }
}

#[test]
fn mlb_example_reads_the_first_date() {
    let (table, mapping) = example("mlb-statsapi.toml");
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("mlb-statsapi-schedule-linescore.json"));
    assert_eq!(games.len(), 14);
    // 9 In Progress; 4 Pre-Game and 1 Warmup have not started.
    assert_eq!((count(&games, Live), count(&games, Scheduled)), (9, 5));

    let g = game(&games, "824529");
    assert_eq!(g.id, "mlb-statsapi:824529");
    assert_eq!(g.start.as_deref(), Some("2026-04-24T22:40:00Z"));
    assert_eq!(g.status, Status { state: Live, period: Some(3), clock: None, detail: Some("In Progress".into()) });
    assert_eq!(
        g.home,
        Team { id: "113".into(), name: "Cincinnati Reds".into(), short: Some("Reds".into()), abbr: "CIN".into(), score: Some(0), logo: None, rank: None, record: Some("16-9".into()) }
    );
    assert_eq!((g.away.abbr.as_str(), g.away.score), ("DET", Some(4)));

    // Warmup: MLB's abstract state says Live, but the game has not begun.
    let warmup = game(&games, "824204");
    assert_eq!(warmup.status, Status { state: Scheduled, period: None, clock: None, detail: Some("Warmup".into()) });
    assert_eq!((warmup.home.abbr.as_str(), warmup.away.abbr.as_str(), scores(warmup)), ("HOU", "NYY", (None, None)));
    // Pre-Game without a line score yet.
    let pre = game(&games, "823962");
    assert_eq!((pre.status.state, pre.status.period, scores(pre)), (Scheduled, None, (None, None)));
    assert_eq!((pre.home.abbr.as_str(), pre.away.abbr.as_str()), ("LAD", "CHC"));
}

/// A small mapping over a hand-written body, for the adapter's own rules.
fn tiny(extra: &str) -> JsonMapping {
    let text = format!(
        r#"
games = "/data/list"
id = "/key"
state = "/st"
period = "/p"
clock = "/c"
detail = "/d"
{extra}
[states]
1 = "scheduled"
2 = "live"
3 = "final"
true = "break"
HALF = "break"
[home]
id = "/h/id"
name = "/h/n"
abbr = "/h/a"
score = "/h/s"
[away]
id = "/a/id"
name = "/a/n"
abbr = "/a/a"
score = "/a/s"
"#
    );
    toml::from_str(&text).unwrap()
}

fn tiny_game(key: Value, state: Value) -> Value {
    json!({"key": key, "st": state, "p": 2, "c": "PT01M05.90S", "d": " Q2 ", "t": "",
           "h": {"id": 1, "n": "Home", "a": "HOM", "s": "12"}, "a": {"id": "9", "n": "Away", "a": "AWY", "s": 10.0}})
}

fn labels() -> FeedLabels {
    FeedLabels { feed: "t".into(), league: "l".into(), sport: "s".into() }
}

#[test]
fn numbers_and_booleans_are_compared_by_their_text() {
    let mapping = tiny(r#"clock_format = "iso8601""#);
    let body = json!({"data": {"list": [
        tiny_game(json!(101), json!(2)),
        tiny_game(json!("102"), json!("2")),
        tiny_game(json!(103), json!(true)),
        tiny_game(json!(104), json!("HALF")),
        tiny_game(json!(105), json!(1)),
    ]}});
    let games = parse_ok(&mapping, &labels(), &body);
    let states: Vec<GameState> = games.iter().map(|g| g.status.state).collect();
    assert_eq!(states, [Live, Live, Break, Break, Scheduled]);
    let g = &games[0];
    assert_eq!(g.id, "t:101");
    assert_eq!(g.status, Status { state: Live, period: Some(2), clock: Some("1:05".into()), detail: Some("Q2".into()) });
    assert_eq!((g.home.id.as_str(), scores(g)), ("1", (Some(12), Some(10))));
    // Scheduled: no score, period or clock, whatever the body says.
    assert_eq!((games[4].status.period, games[4].status.clock.as_deref(), scores(&games[4])), (None, None, (None, None)));
}

#[test]
fn unmapped_state_values_become_the_default_and_are_reported() {
    let body = json!({"data": {"list": [tiny_game(json!(1), json!(7)), tiny_game(json!(2), json!("SUSP"))]}});
    let mut unknown = Vec::new();
    let games = parse(&tiny(""), &labels(), &body, &mut unknown).unwrap();
    assert_eq!(unknown, vec!["7".to_string(), "SUSP".to_string()]);
    assert!(games.iter().all(|g| g.status.state == Scheduled && g.home.score.is_none()));

    let mut unknown = Vec::new();
    let games = parse(&tiny(r#"states_default = "delayed""#), &labels(), &body, &mut unknown).unwrap();
    assert_eq!(unknown.len(), 2);
    assert!(games.iter().all(|g| g.status.state == Delayed && g.home.score == Some(12)));
}

#[test]
fn start_times_in_every_format() {
    let body = |start: Value| {
        let mut g = tiny_game(json!(1), json!(3));
        g["when"] = start;
        json!({"data": {"list": [g]}})
    };
    let start_of = |extra: &str, start: Value| parse_ok(&tiny(extra), &labels(), &body(start))[0].start.clone();
    assert_eq!(start_of(r#"start = "/when""#, json!("2026-04-11T12:30:00-04:00")), Some("2026-04-11T16:30:00Z".into()));
    assert_eq!(start_of(r#"start = "/when""#, json!("2026-06-28T19:00Z")), Some("2026-06-28T19:00:00Z".into()));
    assert_eq!(start_of(r#"start = "/when""#, json!("2026-06-28T19:00:00.250Z")), Some("2026-06-28T19:00:00Z".into()));
    assert_eq!(start_of(r#"start = "/when""#, json!("tomorrow")), None);
    assert_eq!(start_of("start = \"/when\"\nstart_format = \"unix_ms\"", json!(1_775_925_000_000i64)), Some("2026-04-11T16:30:00Z".into()));
    assert_eq!(start_of("start = \"/when\"\nstart_format = \"unix_s\"", json!("1775925000")), Some("2026-04-11T16:30:00Z".into()));
    assert_eq!(start_of("", json!("2026-04-11T16:30:00Z")), None);
}

#[test]
fn iso8601_clocks() {
    assert_eq!(iso8601_clock("PT07M15.00S").as_deref(), Some("7:15"));
    assert_eq!(iso8601_clock("PT00M00.00S").as_deref(), Some("0:00"));
    assert_eq!(iso8601_clock("PT12M00.00S").as_deref(), Some("12:00"));
    assert_eq!(iso8601_clock("PT00M42.70S").as_deref(), Some("0:42"));
    assert_eq!(iso8601_clock("PT1H02M03S").as_deref(), Some("62:03"));
    assert_eq!(iso8601_clock("PT45S").as_deref(), Some("0:45"));
    assert_eq!(iso8601_clock(""), None);
    assert_eq!(iso8601_clock("7:15"), None);
    assert_eq!(iso8601_clock("PT7X"), None);
}

#[test]
fn the_games_pointer_must_find_an_array() {
    let mut unknown = Vec::new();
    match parse(&tiny(""), &labels(), &json!({"data": {}}), &mut unknown) {
        Err(AdapterError::Shape(m)) => assert!(m.contains("/data/list"), "{m}"),
        other => panic!("{other:?}"),
    }
    match parse(&tiny(""), &labels(), &json!({"data": {"list": {"a": 1}}}), &mut unknown) {
        Err(AdapterError::Shape(m)) => assert!(m.contains("/data/list") && m.contains("an object"), "{m}"),
        other => panic!("{other:?}"),
    }
    // An empty list is an empty scoreboard.
    assert_eq!(parse(&tiny(""), &labels(), &json!({"data": {"list": []}}), &mut unknown).unwrap(), vec![]);

    // "" points at the document itself.
    let mut mapping = tiny("");
    mapping.games = String::new();
    let games = parse_ok(&mapping, &labels(), &json!([tiny_game(json!(5), json!(3))]));
    assert_eq!(games[0].id, "t:5");
}

#[test]
fn games_missing_required_fields_are_skipped_unless_all_are() {
    let mut no_id = tiny_game(json!(null), json!(3));
    no_id.as_object_mut().unwrap().remove("key");
    let mut no_abbr = tiny_game(json!(2), json!(3));
    no_abbr["a"]["a"] = json!("");
    let mut no_state = tiny_game(json!(3), json!(3));
    no_state.as_object_mut().unwrap().remove("st");
    let good = tiny_game(json!(4), json!(3));

    let body = json!({"data": {"list": [no_id, no_abbr, good, no_state]}});
    let games = parse_ok(&tiny(""), &labels(), &body);
    assert_eq!(games.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["t:4"]);

    let body = json!({"data": {"list": [no_id, no_abbr, no_state]}});
    match parse(&tiny(""), &labels(), &body, &mut Vec::new()) {
        Err(AdapterError::Shape(m)) => assert!(m.contains("none of the 3 games") && m.contains("/key"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn validate_names_every_problem_by_key() {
    let mut mapping = tiny(r#"states_default = "paused""#);
    mapping.games = "data.list".into();
    mapping.home.abbr = "h/a".into();
    mapping.away.logo = Some("/a/~2".into());
    mapping.states.insert("7".into(), "odd".into());
    mapping.states.insert("In \"Play\"".into(), "playing".into());
    let problems = mapping.validate();
    let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["games", "home.abbr", "away.logo", "states.\"7\"", "states.\"In \\\"Play\\\"\"", "states_default"]);
    assert!(problems[0].1.contains("\"/data/list\""), "{}", problems[0].1);
    assert!(problems[3].1.contains("`odd`") && problems[3].1.contains("scheduled, live, break"), "{}", problems[3].1);

    let mut empty = tiny("");
    empty.states.clear();
    assert_eq!(empty.validate().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["states"]);
}

#[test]
fn the_mapping_table_is_strict_serde() {
    // A misspelt key is an error, not a silently missing field.
    let text = "games = \"/g\"\nid = \"/id\"\nstate = \"/s\"\n[states]\n1 = \"live\"\n[home]\nid = \"/h\"\nname = \"/n\"\nabbr = \"/a\"\nscroe = \"/s\"\n[away]\nid = \"/h\"\nname = \"/n\"\nabbr = \"/a\"\n";
    let error = toml::from_str::<JsonMapping>(text).unwrap_err().to_string();
    assert!(error.contains("scroe"), "{error}");
    let error = toml::from_str::<JsonMapping>(&text.replace("scroe", "score").replace("state = \"/s\"", "state = \"/s\"\nclock_format = \"hms\"")).unwrap_err().to_string();
    assert!(error.contains("hms"), "{error}");
    assert!(toml::from_str::<JsonMapping>(&text.replace("scroe", "score")).is_ok());
}

#[test]
fn through_the_adapter_bad_bodies_are_bad_polls() {
    let (table, mapping) = example("nba-cdn.toml");
    let adapter = Adapter::new(AdapterKind::Json(Box::new(mapping)), labels_of(&table));
    assert!(matches!(adapter.parse(b"<html><body>403 Forbidden</body></html>"), Err(AdapterError::NotJson(_))));
    let body = std::fs::read(root("tests/fixtures/other/nba-cdn-todaysscoreboard.json")).unwrap();
    assert!(matches!(adapter.parse(&body[..body.len() - 10]), Err(AdapterError::NotJson(_))));
    assert!(matches!(adapter.parse(br#"{"foo":1}"#), Err(AdapterError::Shape(_))));
    assert_eq!(adapter.parse(&body).unwrap().len(), 3);
}

#[test]
fn nba_cdn_example_reads_series_note_winner_and_half_time() {
    let (table, mapping) = example("nba-cdn.toml");
    let body = fixture("nba-cdn-todaysscoreboard.json");
    let games = parse_ok(&mapping, &labels_of(&table), &body);
    let g = game(&games, "0042200163");
    assert_eq!((g.series.as_deref(), g.note.as_deref(), g.winner), (Some("SAC leads 2-0"), Some("Game 3"), None));
    assert_eq!(g.away.record.as_deref(), Some("2-0"));
    let fin = game(&games, "0042200123");
    assert_eq!((fin.series.as_deref(), fin.winner), (Some("PHI leads 3-0"), Some(Side::Away)), "PHI won 102-97 away");
    assert!(games.iter().all(|g| g.situation.is_none() && g.shootout.is_none()));

    // The recording has no game at half time: one of its live games is put there.
    let mut at_half = body.clone();
    at_half["scoreboard"]["games"][0]["gameStatusText"] = json!("Half");
    let games = parse_ok(&mapping, &labels_of(&table), &at_half);
    assert_eq!(game(&games, "0042200163").status.state, Break);
    assert_eq!(game(&games, "0042200173").status.state, Live);
}

#[test]
fn nhl_example_reads_winners_intermissions_and_postponements() {
    let (table, mapping) = example("nhl-api-web.toml");
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("nhl-apiweb-score-2026-04-11.json"));
    // Every game of the day is final and decided, in regulation, overtime or a shootout.
    assert!(games.iter().all(|g| g.winner.is_some()));
    assert_eq!(game(&games, "2025021261").winner, Some(Side::Away), "BOS 1 - TBL 2");
    assert_eq!(game(&games, "2025021275").winner, Some(Side::Away), "the shootout, 3-4");

    let live = fixture("nhl-apiweb-one-live-game-object.json");
    let state_of = |game: Value| parse_ok(&mapping, &labels_of(&table), &json!({ "games": [game] }))[0].status.state;
    assert_eq!(state_of(live.clone()), Live);
    let mut intermission = live.clone();
    intermission["clock"]["inIntermission"] = json!(true);
    assert_eq!(state_of(intermission), Break);
    let mut postponed = live.clone();
    postponed["gameState"] = json!("FUT");
    postponed["gameScheduleState"] = json!("PPD");
    assert_eq!(state_of(postponed), Postponed);
    let mut canceled = live;
    canceled["gameState"] = json!("FUT");
    canceled["gameScheduleState"] = json!("CNCL");
    assert_eq!(state_of(canceled), Canceled);
}

#[test]
fn mlb_example_reads_half_innings_counts_runners_and_records() {
    let (table, mapping) = example("mlb-statsapi.toml");
    let games = parse_ok(&mapping, &labels_of(&table), &fixture("mlb-statsapi-schedule-linescore.json"));
    let situation = |id: &str| game(&games, id).situation.clone();
    assert_eq!(
        situation("824529"),
        Some(Situation {
            half: Some(InningHalf::Bottom),
            outs: Some(2),
            balls: Some(0),
            strikes: Some(2),
            runners: Some(Runners::default()),
            ..Situation::default()
        })
    );
    assert_eq!(situation("822827").and_then(|s| s.runners), Some(Runners { first: true, second: true, third: false }));
    assert_eq!(situation("824854").and_then(|s| s.runners), Some(Runners { first: true, second: false, third: false }));
    // Middle of the 3rd: only the half, MLB's three outs of the finished half are not shown.
    assert_eq!(situation("822992"), Some(Situation { half: Some(InningHalf::Middle), ..Situation::default() }));
    // Pre-Game and Warmup carry a line score, but the game is not on: no situation.
    assert_eq!(situation("824204"), None);
    assert_eq!(games.iter().filter(|g| g.situation.is_some()).count(), 9);
    assert!(games.iter().all(|g| g.winner.is_none()), "no game is final");
    assert_eq!(game(&games, "823962").away.record.as_deref().map(|r| r.split('-').count()), Some(2));

    // A final game names its winner with `isWinner`.
    let mut body = fixture("mlb-statsapi-schedule-linescore.json");
    let first = &mut body["dates"][0]["games"][0];
    first["status"]["codedGameState"] = json!("F");
    first["teams"]["away"]["isWinner"] = json!(true);
    first["teams"]["home"]["isWinner"] = json!(false);
    let games = parse_ok(&mapping, &labels_of(&table), &body);
    assert_eq!((game(&games, "824529").winner, game(&games, "824529").situation.as_ref()), (Some(Side::Away), None));
}

#[test]
fn football_data_example_reads_winners_draws_and_shootouts() {
    let (table, mapping) = example("football-data.toml");
    let body = fixture("football-data-v4-matches-trimmed.json");
    let games = parse_ok(&mapping, &labels_of(&table), &body);
    assert_eq!(game(&games, "559682").winner, Some(Side::Home), "HOME_TEAM");
    assert!(games.iter().all(|g| g.shootout.is_none()));

    // football-data's documented shape after penalties (none in the recording).
    let mut cup = body["matches"][0].clone();
    cup["score"] = json!({"winner": "AWAY_TEAM", "duration": "PENALTY_SHOOTOUT",
        "fullTime": {"home": 1, "away": 1}, "penalties": {"home": 3, "away": 4}});
    let mut draw = body["matches"][1].clone();
    draw["score"] = json!({"winner": "DRAW", "duration": "REGULAR", "fullTime": {"home": 0, "away": 0}});
    let games = parse_ok(&mapping, &labels_of(&table), &json!({ "matches": [cup, draw] }));
    assert_eq!((games[0].shootout, games[0].winner), (Some(Shootout { home: 3, away: 4 }), Some(Side::Away)));
    assert_eq!((games[1].shootout, games[1].winner), (None, None));
}

#[test]
fn every_new_key_reads_its_field() {
    let mapping = tiny(
        r#"
winner = "/w"
series = "/ser"
note = "/n"
[winner_values]
H = "home"
[situation]
possession = "/pos"
down_distance = "/dd"
red_zone = "/rz"
half = "/half"
outs = "/outs"
first = "/on/1"
second = "/on/2"
third = "/on/3"
"#,
    );
    let mut mapping = mapping;
    mapping.home.rank = Some("/h/rank".into());
    mapping.home.record = Some("/h/rec".into());
    mapping.away.record = Some("/a/rec".into());
    mapping.home.shootout = Some("/h/so".into());
    mapping.away.shootout = Some("/a/so".into());
    assert_eq!(mapping.validate(), vec![]);
    let mut live = tiny_game(json!(1), json!(2));
    live["ser"] = json!("Series tied 1-1");
    live["n"] = json!("Game 2");
    live["pos"] = json!(9);
    live["dd"] = json!("3rd & 7 at NE 35");
    live["rz"] = json!(false);
    live["half"] = json!("top");
    live["outs"] = json!(2);
    live["on"] = json!({"1": {"id": 5}, "2": null, "3": true});
    live["h"]["rank"] = json!(5);
    live["h"]["rec"] = json!({"wins": 45, "losses": 20, "otLosses": 3});
    live["a"]["rec"] = json!("10-3");
    let g = &parse_ok(&mapping, &labels(), &json!({"data": {"list": [live.clone()]}}))[0];
    assert_eq!(
        g.situation,
        Some(Situation {
            half: Some(InningHalf::Top),
            outs: Some(2),
            runners: Some(Runners { first: true, second: false, third: true }),
            possession: Some(Side::Away),
            down_distance: Some("3rd & 7 at NE 35".into()),
            red_zone: Some(false),
            ..Situation::default()
        })
    );
    assert_eq!((g.series.as_deref(), g.note.as_deref()), (Some("Series tied 1-1"), Some("Game 2")));
    assert_eq!((g.home.rank, g.home.record.as_deref(), g.away.record.as_deref()), (Some(5), Some("45-20-3"), Some("10-3")));
    assert_eq!(g.winner, None, "not final");

    let mut fin = live;
    fin["st"] = json!(3);
    fin["w"] = json!("H");
    fin["h"]["so"] = json!(5);
    fin["a"]["so"] = json!("4");
    fin["h"]["rank"] = json!(99);
    let g = &parse_ok(&mapping, &labels(), &json!({"data": {"list": [fin]}}))[0];
    assert_eq!((g.winner, g.shootout, g.situation.as_ref(), g.home.rank), (Some(Side::Home), Some(Shootout { home: 5, away: 4 }), None, None));
}

#[test]
fn state_rules_come_before_the_states_table_and_are_validated() {
    let mapping = tiny(
        r#"
[[state_rules]]
when = { "/st" = 2, "/d" = "Half" }
state = "break"
[[state_rules]]
when = { "/susp" = true }
state = "delayed"
"#,
    );
    let mut half = tiny_game(json!(1), json!(2));
    half["d"] = json!("Half");
    let mut suspended = tiny_game(json!(2), json!(2));
    suspended["susp"] = json!(true);
    // A rule may decide a game whose state field is missing.
    suspended.as_object_mut().unwrap().remove("st");
    let playing = tiny_game(json!(3), json!(2));
    let games = parse_ok(&mapping, &labels(), &json!({"data": {"list": [half, suspended, playing]}}));
    let states: Vec<GameState> = games.iter().map(|g| g.status.state).collect();
    assert_eq!(states, [Break, Delayed, Live]);

    let mut bad = tiny(
        r#"
[[state_rules]]
when = { "st" = 2 }
state = "paused"
[[state_rules]]
when = {}
state = "live"
[winner_values]
X = "visitor"
"#,
    );
    let keys: Vec<String> = bad.validate().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["state_rules.0.state", "state_rules.0.when.\"st\"", "state_rules.1.when", "winner_values.\"X\""]);
    // With rules, an empty `states` table is fine; with neither, it is a problem.
    bad.states.clear();
    assert!(!bad.validate().iter().any(|(k, _)| k == "states"));
    bad.state_rules.clear();
    assert!(bad.validate().iter().any(|(k, _)| k == "states"));
}
