#!/usr/bin/env python3
"""Trims ESPN scoreboard recordings down to what the espn adapter reads.

The demo replays ESPN's World Cup 2026 scoreboard as recorded over two weeks
(40 recordings, 11 MB as ESPN sent them). The adapter reads a few fields per
event (see the list at the top of src/adapters/espn/mod.rs); everything else
(venues, odds, broadcasts, team colours, links…) is dropped here, so the
recordings embedded in the binary stay small. A unit test in espn.rs parses
each trimmed file and checks the games equal those parsed from the untrimmed
copies under tests/fixtures/espn/, so trimming provably loses nothing the
adapter uses (the test lives in src/adapters/espn/tests.rs). Keep this script and that reader list in step.

Usage:
    python3 feeds/demo/trim-espn.py SOURCE_DIR [OUT_DIR]

SOURCE_DIR holds the recordings named NNN-<time>.json; each becomes OUT_DIR/NNN.json
(default OUT_DIR: feeds/demo/worldcup-2026 next to this script).
"""

import json
import os
import sys


def pick(obj, keys):
    """The listed keys of obj that are present, in the listed order."""
    return {k: obj[k] for k in keys if isinstance(obj, dict) and k in obj}


def first_of(obj, keys):
    """The first of keys with a non-empty value, as the adapter's fallbacks read them."""
    for k in keys:
        value = obj.get(k)
        if value not in (None, "") and not (isinstance(value, str) and not value.strip()):
            return {k: value}
    return {}


def trim_status(status):
    out = pick(status, ["period", "displayClock"])
    kind = status.get("type")
    if isinstance(kind, dict):
        out["type"] = {**pick(kind, ["name", "state", "completed"]),
                       **first_of(kind, ["shortDetail", "detail", "description"])}
    return out


def trim_team(team):
    out = {**pick(team, ["id"]),
           **first_of(team, ["displayName", "name", "location"]),
           **pick(team, ["shortDisplayName", "abbreviation"])}
    if first_of(team, ["logo"]):
        out["logo"] = team["logo"]
    else:
        logos = team.get("logos")
        if isinstance(logos, list) and logos and isinstance(logos[0], dict) and "href" in logos[0]:
            out["logos"] = [{"href": logos[0]["href"]}]
    return out


def trim_competitor(competitor):
    out = pick(competitor, ["id", "homeAway", "score", "winner", "shootoutScore"])
    rank = competitor.get("curatedRank")
    if isinstance(rank, dict) and "current" in rank:
        out["curatedRank"] = {"current": rank["current"]}
    records = competitor.get("records")
    if isinstance(records, list) and records:
        out["records"] = [pick(r, ["type", "summary"]) for r in records]
    if isinstance(competitor.get("team"), dict):
        out["team"] = trim_team(competitor["team"])
    return out


SITUATION_KEYS = ["balls", "strikes", "outs", "onFirst", "onSecond", "onThird",
                  "possession", "downDistanceText", "isRedZone"]


def trim_competition_extras(first):
    """Notes, series and situation: what the adapter shows beside the score."""
    out = {}
    notes = first.get("notes")
    if isinstance(notes, list) and notes and isinstance(notes[0], dict) and "headline" in notes[0]:
        out["notes"] = [{"headline": notes[0]["headline"]}]
    out.update(pick(first, ["altGameNote"]))
    if isinstance(first.get("series"), dict) and "summary" in first["series"]:
        out["series"] = {"summary": first["series"]["summary"]}
    situation = pick(first.get("situation"), SITUATION_KEYS)
    if situation:
        out["situation"] = situation
    return out


def trim_event(event):
    out = pick(event, ["id", "date"])
    if isinstance(event.get("status"), dict):
        out["status"] = trim_status(event["status"])
    competitions = event.get("competitions")
    if isinstance(competitions, list) and competitions:
        first = competitions[0]
        competition = {"competitors": [trim_competitor(c) for c in first.get("competitors", [])],
                       **trim_competition_extras(first)}
        # The adapter falls back to the competition's status and date only when
        # the event lacks its own; keep them only then.
        if "status" not in event and isinstance(first.get("status"), dict):
            competition["status"] = trim_status(first["status"])
        if "date" not in event and "date" in first:
            competition["date"] = first["date"]
        out["competitions"] = [competition]
    return out


def trim(scoreboard):
    out = {}
    leagues = scoreboard.get("leagues")
    if isinstance(leagues, list) and leagues:
        out["leagues"] = [pick(leagues[0], ["slug", "abbreviation", "name"])]
    out["events"] = [trim_event(e) for e in scoreboard.get("events", [])]
    return out


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    source = argv[1]
    target = argv[2] if len(argv) == 3 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "worldcup-2026")
    os.makedirs(target, exist_ok=True)
    names = sorted(n for n in os.listdir(source) if n.endswith(".json"))
    if not names:
        sys.exit(f"no .json recordings in {source}")
    before = after = 0
    for name in names:
        with open(os.path.join(source, name), "rb") as f:
            raw = f.read()
        text = json.dumps(trim(json.loads(raw)), ensure_ascii=False, separators=(",", ":"))
        out_name = name.split("-", 1)[0] + ".json"
        with open(os.path.join(target, out_name), "w", encoding="utf-8") as f:
            f.write(text)
        before += len(raw)
        after += len(text.encode("utf-8"))
        print(f"{name} -> {out_name}: {len(raw)} -> {len(text.encode('utf-8'))} bytes")
    print(f"{len(names)} recordings: {before} -> {after} bytes")


if __name__ == "__main__":
    main(sys.argv)
