//! Config errors name the file, the line and the key, all of them at once; the
//! CLI's check-config prints them and exits non-zero, and serve refuses to start.

use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const GOOD_FEED: &str = r#"id = "espn-nba"
adapter = "espn"
url = "https://site.api.espn.com/apis/site/v2/sports/basketball/nba/scoreboard"
schedule = "15s"
league = "nba"
sport = "basketball"
timeout = "10s"
active = ["Mon-Sun 16:00-06:00"]
timezone = "America/New_York"

[headers]
X-Api-Key = "s3cret-value"
"#;

fn setup(feeds: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "scoreticker.toml", "listen = \"127.0.0.1:0\"\nfeeds_dir = \"feeds.d\"\n");
    std::fs::create_dir_all(dir.path().join("feeds.d")).unwrap();
    for (name, text) in feeds {
        write(&dir.path().join("feeds.d"), name, text);
    }
    dir
}

fn errors(dir: &Path) -> Vec<String> {
    match scoreticker::config::load(&dir.join("scoreticker.toml")) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_good_config_loads_with_its_values() {
    let dir = setup(&[("nba.toml", GOOD_FEED)]);
    let config = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap();
    assert_eq!(config.feeds.len(), 1);
    let feed = &config.feeds[0];
    assert_eq!(feed.id, "espn-nba");
    assert_eq!(feed.schedule, scoreticker::config::Schedule::Every(std::time::Duration::from_secs(15)));
    assert_eq!(feed.timezone, chrono_tz::America::New_York);
    assert_eq!(config.feeds_dir, dir.path().join("feeds.d"), "relative to the config file");
    // The API key never shows in debug output (and so never in logs).
    let debug = format!("{feed:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("X-Api-Key"));
}

#[test]
fn every_problem_is_reported_with_file_line_and_key() {
    let bad_feed = r#"id = "Bad Id"
adapter = "espn"
url = "ftp://example.com/x"
schedule = "* * *"
league = "nba"
sport = "basketball"
timeout = "10"
active = ["Funday 10:00-11:00"]
timezone = "Mars/Olympus"
remove_after_missed_polls = 0
"#;
    let dir = setup(&[("a.toml", bad_feed)]);
    let errs = errors(dir.path());
    let file = dir.path().join("feeds.d/a.toml").display().to_string();
    let expect = [
        (1, "id", "lowercase"),
        (3, "url", "scheme `ftp`"),
        (4, "schedule", "6, seconds first"),
        (7, "timeout", "needs a unit"),
        (8, "active", "not a day"),
        (9, "timezone", "unknown time zone"),
        (10, "remove_after_missed_polls", "at least 1"),
    ];
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    for ((line, key, words), err) in expect.iter().zip(&errs) {
        let prefix = format!("{file}:{line}: {key}: ");
        assert!(err.starts_with(&prefix), "expected `{prefix}…`, got `{err}`");
        assert!(err.contains(words), "`{err}` should mention `{words}`");
    }
}

#[test]
fn unknown_keys_wrong_types_and_syntax_errors_are_located() {
    let unknown = GOOD_FEED.replace("league = \"nba\"", "league = \"nba\"\nleage = \"typo\"");
    let wrong_type = GOOD_FEED.replace("timeout = \"10s\"", "timeout = 10");
    let syntax = GOOD_FEED.replace("sport = \"basketball\"", "sport = \"basketball");
    let missing = GOOD_FEED.replace("url = \"https://site.api.espn.com/apis/site/v2/sports/basketball/nba/scoreboard\"\n", "");
    let dir = setup(&[("1.toml", &unknown), ("2.toml", &wrong_type), ("3.toml", &syntax), ("4.toml", &missing)]);
    let errs = errors(dir.path());
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let f = |n: &str| dir.path().join("feeds.d").join(n).display().to_string();
    assert!(errs[0].starts_with(&format!("{}:6: leage: unknown field `leage`", f("1.toml"))), "{}", errs[0]);
    assert!(errs[1].starts_with(&format!("{}:7: timeout: ", f("2.toml"))), "{}", errs[1]);
    assert!(errs[1].contains("string"), "{}", errs[1]);
    assert!(errs[2].starts_with(&format!("{}:6", f("3.toml"))), "{}", errs[2]);
    assert!(errs[3].starts_with(&format!("{}: url: missing field `url`", f("4.toml"))), "{}", errs[3]);
}

#[test]
fn duplicate_ids_and_adapter_mismatches() {
    let second = GOOD_FEED.to_string();
    let json_without_mapping = GOOD_FEED.replace("id = \"espn-nba\"", "id = \"other\"").replace("adapter = \"espn\"", "adapter = \"json\"");
    let unknown_adapter = GOOD_FEED.replace("id = \"espn-nba\"", "id = \"third\"").replace("adapter = \"espn\"", "adapter = \"yahoo\"");
    let dir = setup(&[("a.toml", GOOD_FEED), ("b.toml", &second), ("c.toml", &json_without_mapping), ("d.toml", &unknown_adapter)]);
    let errs = errors(dir.path());
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("c.toml") && e.contains("mapping: the `json` adapter needs a [mapping] table")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("d.toml:2: adapter: unknown adapter `yahoo`")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("b.toml:1: id: feed id `espn-nba` is already used by") && e.contains("a.toml")), "{errs:#?}");
}

#[test]
fn main_file_problems() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "scoreticker.toml", "listen = \"localhost\"\nfeeds_dir = \"nowhere\"\n\n[limits]\nheartbeat = \"soon\"\n");
    let errs = errors(dir.path());
    let file = dir.path().join("scoreticker.toml").display().to_string();
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with(&format!("{file}:1: listen: ")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with(&format!("{file}:5: limits.heartbeat: "))), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with(&format!("{file}:2: feeds_dir: cannot read"))), "{errs:#?}");
}

#[test]
fn check_config_and_serve_from_the_command_line() {
    let bin = env!("CARGO_BIN_EXE_scoreticker");
    let good = setup(&[("nba.toml", GOOD_FEED)]);
    let out = Command::new(bin).args(["check-config", "--config"]).arg(good.path().join("scoreticker.toml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 feeds"));

    let bad = setup(&[("nba.toml", &GOOD_FEED.replace("schedule = \"15s\"", "schedule = \"often\""))]);
    let cfg = bad.path().join("scoreticker.toml");
    let out = Command::new(bin).args(["check-config", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nba.toml:4: schedule: "), "{stderr}");
    assert!(stderr.contains("1 problem(s) found"), "{stderr}");

    let out = Command::new(bin).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "serve must refuse a bad config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nba.toml:4: schedule: ") && stderr.contains("refusing to start"), "{stderr}");
}

#[test]
fn adaptive_polling_keys_are_read_and_checked() {
    let good = GOOD_FEED.replace("schedule = \"15s\"", "schedule = \"5s\"\nschedule_idle = \"10m\"\nprestart = \"45m\"");
    let dir = setup(&[("nba.toml", &good)]);
    let config = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap();
    let feed = &config.feeds[0];
    assert_eq!(feed.schedule_idle, Some(scoreticker::config::Schedule::Every(std::time::Duration::from_secs(600))));
    assert_eq!(feed.prestart, std::time::Duration::from_secs(45 * 60));
    let defaulted = setup(&[("nba.toml", &GOOD_FEED.replace("schedule = \"15s\"", "schedule = \"5s\"\nschedule_idle = \"10m\""))]);
    let config = scoreticker::config::load(&defaulted.path().join("scoreticker.toml")).unwrap();
    assert_eq!(config.feeds[0].prestart, std::time::Duration::from_secs(30 * 60), "prestart defaults to 30 minutes");
    assert_eq!(scoreticker::config::load(&setup(&[("nba.toml", GOOD_FEED)]).path().join("scoreticker.toml")).unwrap().feeds[0].schedule_idle, None);

    let bad = [
        ("schedule_idle = \"sometimes\"", "schedule_idle", "not a duration"),
        ("schedule_idle = \"1s\"", "schedule_idle", "more often than `schedule`"),
        ("schedule_idle = \"10m\"\nprestart = \"soon\"", "prestart", "not a duration"),
        ("prestart = \"10m\"", "prestart", "only means something with `schedule_idle`"),
    ];
    for (keys, key, words) in bad {
        let text = GOOD_FEED.replace("schedule = \"15s\"", &format!("schedule = \"5s\"\n{keys}"));
        let dir = setup(&[("nba.toml", &text)]);
        let errs = errors(dir.path());
        let line = text.lines().position(|l| l.starts_with(&format!("{key} ="))).unwrap() + 1;
        let prefix = format!("{}:{line}: {key}: ", dir.path().join("feeds.d/nba.toml").display());
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].starts_with(&prefix) && errs[0].contains(words), "expected `{prefix}…{words}…`, got `{}`", errs[0]);
    }
}

#[test]
fn the_snapshot_cache_settings_are_read_and_checked() {
    let dir = setup(&[("nba.toml", GOOD_FEED)]);
    let config = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap();
    assert_eq!(config.http, scoreticker::config::HttpSettings::default());
    assert_eq!(config.http.snapshot_max_age, std::time::Duration::from_secs(1));
    assert_eq!(config.http.snapshot_stale, std::time::Duration::from_secs(10));

    write(dir.path(), "scoreticker.toml", "feeds_dir = \"feeds.d\"\n[http]\nsnapshot_max_age = \"5s\"\nsnapshot_stale = \"0s\"\n");
    let config = scoreticker::config::load(&dir.path().join("scoreticker.toml")).unwrap();
    assert_eq!(config.http.snapshot_max_age, std::time::Duration::from_secs(5));
    assert_eq!(config.http.snapshot_stale, std::time::Duration::ZERO);

    write(dir.path(), "scoreticker.toml", "feeds_dir = \"feeds.d\"\n\n[http]\nsnapshot_max_age = \"500ms\"\nsnapshot_stale = \"later\"\nsnapshot_ttl = \"1s\"\n");
    let file = dir.path().join("scoreticker.toml").display().to_string();
    let errs = errors(dir.path());
    assert_eq!(errs.len(), 1, "an unknown key stops at the serde pass: {errs:#?}");
    assert!(errs[0].starts_with(&format!("{file}:6: http.snapshot_ttl: unknown field")), "{errs:#?}");
    write(dir.path(), "scoreticker.toml", "feeds_dir = \"feeds.d\"\n\n[http]\nsnapshot_max_age = \"500ms\"\nsnapshot_stale = \"later\"\n");
    let errs = errors(dir.path());
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs[0].starts_with(&format!("{file}:4: http.snapshot_max_age: ")) && errs[0].contains("whole seconds, at least 1s"), "{errs:#?}");
    assert!(errs[1].starts_with(&format!("{file}:5: http.snapshot_stale: ")), "{errs:#?}");
}
