//! What a ticker shows beside the score, through the real service: a loopback
//! upstream serving real recorded ESPN payloads (doctored where a test says so),
//! the real poller, adapter and diff, and a real WebSocket client.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn feed(id: &str, upstream: &Upstream, league: &str, sport: &str) -> (String, String) {
    let text = format!(
        "id = \"{id}\"\nadapter = \"espn\"\nurl = \"{}\"\nschedule = \"1s\"\nleague = \"{league}\"\nsport = \"{sport}\"\ntimeout = \"2s\"\nbackoff_initial = \"500ms\"\nbackoff_max = \"1s\"\n",
        upstream.url()
    );
    (format!("{id}.toml"), text)
}

/// The next update frame, skipping nothing else: a test that expects one update per poll.
async fn next_update(client: &mut Client) -> Value {
    let frame = client.next().await;
    assert_eq!(frame["type"], "update", "{frame}");
    frame
}

/// The value of a counter with one `feed` label in Prometheus text, 0 when absent.
fn counter(text: &str, name: &str, feed: &str) -> f64 {
    let prefix = format!("{name}{{feed=\"{feed}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map_or(0.0, |v| v.trim().parse().unwrap())
}

/// #12 defect 9: an unreadable or impossible score of a live game used to be
/// published as a `score` change to `null`, blanking every widget; `-5` was
/// taken. Now the last good score stays, the rest of each poll (the clock) goes
/// through, and each bad poll is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_live_score_keeps_the_last_good_one() {
    let base = espn_live();
    let upstream = Upstream::start(vec![Step::json(&base)]).await;
    let (name, text) = feed("scores", &upstream, "nba", "basketball");
    let service = start_service(&[(name.as_str(), text)], "").await;
    service.wait_for_games(1).await;
    let mut client = Client::connect(&service.ws("?topics=all")).await;
    client.hello().await;
    let snapshot = client.next().await;
    let game = &snapshot["games"][0];
    assert_eq!((game["status"]["state"].as_str(), game["status"]["clock"].as_str()), (Some("live"), Some("8:41")));
    let (home, away) = (game["home"]["score"].clone(), game["away"]["score"].clone());
    assert_eq!((home.as_i64(), away.as_i64()), (Some(87), Some(92)));

    let bad_scores = [json!("12abc"), json!(1e300), json!([1, 2]), Value::Null, json!(-5), json!("-5")];
    for (i, bad) in bad_scores.iter().enumerate() {
        let mut doc = base.clone();
        // The home competitor is listed first in this recording.
        assert_eq!(doc["events"][0]["competitions"][0]["competitors"][0]["homeAway"], "home");
        doc["events"][0]["competitions"][0]["competitors"][0]["score"] = bad.clone();
        let clock = format!("8:{:02}", 30 - i);
        set_clock(&mut doc, 0, &clock);
        upstream.push([Step::json(&doc)]);
        let update = next_update(&mut client).await;
        assert_eq!(update["changes"], json!(["clock"]), "score {bad}: {update}");
        assert_eq!(update["game"]["status"]["clock"], clock.as_str());
        assert_eq!((&update["game"]["home"]["score"], &update["game"]["away"]["score"]), (&home, &away), "score {bad}");
    }
    // A good score is taken again.
    let mut good = base.clone();
    set_score(&mut good, 0, 0, 90);
    set_clock(&mut good, 0, "8:00");
    upstream.push([Step::json(&good)]);
    let update = next_update(&mut client).await;
    assert_eq!(update["changes"], json!(["score", "clock"]));
    assert_eq!(update["game"]["home"]["score"], 90);

    let metrics = reqwest::get(service.admin("/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(counter(&metrics, "scoreticker_unreadable_scores_total", "scores"), bad_scores.len() as f64, "{metrics}");
    service.running.stop().await;
}

/// Australia – Egypt from extra time to the end of its shootout, as ESPN served
/// it: the update says what changed (no `status` for a detail that is the clock)
/// and carries the shootout, the winner and the note; the snapshot shows all four
/// shootouts of the last recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_cup_shootout_flows_to_clients() {
    let extra_time = fixture_json("espn/worldcup-014-20260703T200949Z.json");
    let penalties = fixture_json("espn/worldcup-015-20260703T213749Z.json");
    let upstream = Upstream::start(vec![Step::json(&extra_time)]).await;
    let (name, text) = feed("wc", &upstream, "worldcup", "soccer");
    let service = start_service(&[(name.as_str(), text)], "").await;
    service.wait_for_games(32).await;
    let mut client = Client::connect(&service.ws("?topics=game:wc:760499")).await;
    client.hello().await;
    let snapshot = client.next().await;
    let game = &snapshot["games"][0];
    assert_eq!((game["status"]["state"].as_str(), game["status"]["clock"].as_str()), (Some("live"), Some("96'")));
    assert_eq!(game["note"], "FIFA World Cup, Round of 32");
    assert!(game.get("shootout").is_none() && game.get("winner").is_none() && game.get("situation").is_none(), "{game}");

    upstream.push([Step::json(&penalties)]);
    let update = next_update(&mut client).await;
    assert_eq!(update["changes"], json!(["status", "period", "clock", "winner", "shootout", "note"]), "{update}");
    let game = &update["game"];
    assert_eq!((game["home"]["score"].as_i64(), game["away"]["score"].as_i64()), (Some(1), Some(1)));
    assert_eq!(game["shootout"], json!({"home": 2, "away": 4}));
    assert_eq!(game["winner"], "away");
    assert_eq!(game["note"], "Egypt advance 4-2 on penalties");
    assert_eq!(game["status"]["detail"], "FT-Pens");

    let last = fixture_json("espn/worldcup-039-20260707T234706Z.json");
    upstream.push([Step::json(&last)]);
    let deadline = tokio::time::Instant::now() + WAIT;
    let shootouts = loop {
        let doc: Value = reqwest::get(service.http("/api/v1/games")).await.unwrap().json().await.unwrap();
        let shootouts: Vec<(String, Value, Value)> = doc["games"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g.get("shootout").is_some())
            .map(|g| (g["id"].as_str().unwrap().to_string(), g["shootout"].clone(), g["winner"].clone()))
            .collect();
        if shootouts.len() == 4 || tokio::time::Instant::now() > deadline {
            break shootouts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut shootouts = shootouts;
    shootouts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        shootouts,
        vec![
            ("wc:760488".into(), json!({"home": 2, "away": 3}), json!("away")),
            ("wc:760489".into(), json!({"home": 3, "away": 4}), json!("away")),
            ("wc:760499".into(), json!({"home": 2, "away": 4}), json!("away")),
            ("wc:760508".into(), json!({"home": 4, "away": 3}), json!("home")),
        ]
    );
    service.running.stop().await;
}
