// Topic matching, shared by the connection (which games a snapshot replaces) and the element
// (which games it shows). Mirrors the server's rules in docs/PROTOCOL.md.

/** Does `topic` (`all`, `league:nba`, `feed:<id>`, `game:<id>`, `team:nba:BOS`) cover `game`? */
export function topicMatches(topic, game) {
  const [kind, first, second] = topic.split(':');
  switch (kind) {
    case 'all': return true;
    case 'league': return game.league === first;
    case 'feed': return game.feed === first;
    // A game id contains colons itself (`feed:upstream-id`), so take everything after `game:`.
    case 'game': return game.id === topic.slice(5);
    case 'team': return game.league === first && [game.home, game.away].some(team => team.abbr.toUpperCase() === second.toUpperCase());
  }
  return false;
}

export const anyTopicMatches = (topics, game) => [...topics].some(topic => topicMatches(topic, game));
