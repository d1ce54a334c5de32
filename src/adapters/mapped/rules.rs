//! State from more than one field: `[[mapping.state_rules]]`, checked in order
//! before the single `state` pointer and its `[mapping.states]` table.
//!
//! Some upstreams say "intermission" or "postponed" in a field of its own beside
//! the state (NHL's `clock.inIntermission`, `gameScheduleState = "PPD"`); a rule
//! reads those:
//!
//! ```toml
//! [[mapping.state_rules]]
//! when = { "/gameState" = "LIVE", "/clock/inIntermission" = true }
//! state = "break"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::super::read::text_of;
use crate::model::GameState;

/// One rule: when every pointer finds its value, the game is in `state`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRule {
    /// Pointer (relative to the game) → the value it must hold. Values compare by
    /// their text, as `[mapping.states]` keys do: `2`, `"2"` and `2.0`'s `"2"`… and
    /// `true` match the upstream's `2`, `"2"` and `true`.
    pub when: BTreeMap<String, Value>,
    /// A state word: scheduled, live, break, final, postponed, delayed, canceled.
    pub state: String,
}

impl StateRule {
    /// Whether every condition holds for this game.
    pub fn matches(&self, game: &Value) -> bool {
        self.when.iter().all(|(pointer, expected)| {
            let found = game.pointer(pointer).and_then(text_of);
            found.is_some() && found == text_of(expected)
        })
    }
}

/// The state of the first rule that matches, if one does.
pub fn state_by_rules(rules: &[StateRule], game: &Value) -> Option<GameState> {
    rules.iter().find(|rule| rule.matches(game)).and_then(|rule| GameState::parse(&rule.state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(text: &str) -> Vec<StateRule> {
        #[derive(Deserialize)]
        struct Table {
            state_rules: Vec<StateRule>,
        }
        toml::from_str::<Table>(text).unwrap().state_rules
    }

    #[test]
    fn the_first_rule_whose_every_condition_holds_wins() {
        let rules = rules(
            r#"
[[state_rules]]
when = { "/gameScheduleState" = "PPD" }
state = "postponed"
[[state_rules]]
when = { "/gameState" = "LIVE", "/clock/inIntermission" = true }
state = "break"
[[state_rules]]
when = { "/gameStatus" = 2, "/period" = "2" }
state = "live"
"#,
        );
        let game = |v: Value| v;
        assert_eq!(state_by_rules(&rules, &game(json!({"gameScheduleState": "PPD", "gameState": "LIVE"}))), Some(GameState::Postponed));
        assert_eq!(
            state_by_rules(&rules, &game(json!({"gameScheduleState": "OK", "gameState": "LIVE", "clock": {"inIntermission": true}}))),
            Some(GameState::Break)
        );
        assert_eq!(state_by_rules(&rules, &game(json!({"gameState": "LIVE", "clock": {"inIntermission": false}}))), None);
        assert_eq!(state_by_rules(&rules, &game(json!({"gameState": "LIVE"}))), None, "a missing field matches nothing");
        // Numbers and strings compare by their text.
        assert_eq!(state_by_rules(&rules, &game(json!({"gameStatus": "2", "period": 2}))), Some(GameState::Live));
    }

    #[test]
    fn a_rule_with_an_unknown_key_is_refused() {
        let error = toml::from_str::<BTreeMap<String, Vec<StateRule>>>("[[r]]\nwhen = {}\nstate = \"live\"\nwhne = 1\n").unwrap_err();
        assert!(error.to_string().contains("whne"), "{error}");
    }
}
