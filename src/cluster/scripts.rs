//! The cluster's keys and the Lua scripts that change them. Every key carries
//! the hash tag `{name}`, so each script's keys sit on one slot (a requirement
//! of Redis Cluster, and harmless elsewhere). Scripts run atomically: nothing
//! else happens on the server between their first and last command.
//!
//! | key | type | what |
//! |---|---|---|
//! | `{name}:leader` | string, PX lease | `<node_id>:<nonce>` of the leader |
//! | `{name}:meta` | hash | `epoch`, `seq` (last published), `config` (feed config hash), `leader` (node id), `refused:<reason>` (publishes the script refused) |
//! | `{name}:events` | stream | one entry per event, ID `<seq>-0`, fields below |
//! | `{name}:games` | hash | game id → game JSON: the state as of `meta.seq` |
//!
//! Stream entry fields: `e` epoch, `l` the last seq of the publication the
//! event belongs to (events of one poll are broadcast as one batch on every
//! node), `t` the leader's timestamp (ms), `n` the node id of the leader that
//! published it, `k` `u`pdate or `r`emove, `g` the game JSON, `f` the frame
//! JSON exactly as clients receive it.

use std::sync::LazyLock;

use redis::Script;

#[derive(Debug, Clone)]
pub struct Keys {
    pub leader: String,
    pub meta: String,
    pub events: String,
    pub games: String,
}

impl Keys {
    pub fn new(name: &str) -> Keys {
        Keys {
            leader: format!("{{{name}}}:leader"),
            meta: format!("{{{name}}}:meta"),
            events: format!("{{{name}}}:events"),
            games: format!("{{{name}}}:games"),
        }
    }
}

/// Take the lease, or extend it when we already hold it. KEYS: leader.
/// ARGV: token, lease ms. Returns 1 when held, else minus the milliseconds
/// the current holder's lease has left (so a follower can try again right
/// when it runs out).
pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then left = 0 end
return -left",
    )
});

/// Compare-and-PEXPIRE. KEYS: leader, meta. ARGV: token, lease ms, the epoch
/// the leader publishes in. 0: not held; 1: held; 2: held, but the epoch is
/// gone or another (a node voided it, or Redis lost it): the term must end.
pub static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[3] then return 2 end
return 1",
    )
});

/// Compare-and-DEL. KEYS: leader. ARGV: token.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Epoch, seq and every game, read together. KEYS: meta, games.
/// Returns {epoch or '', seq, {game JSON…}, config hash or ''}.
pub static LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'config')
return {m[1] or '', m[2] or '0', redis.call('HVALS', KEYS[2]), m[3] or ''}",
    )
});

/// Begins a new history: a new epoch at seq 0, an empty stream, and the games
/// the leader knows as the snapshot. Only the lease holder may.
/// KEYS: leader, meta, events, games. ARGV: token, epoch, then game id, game JSON pairs.
pub static NEW_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'epoch', ARGV[2], 'seq', 0)
return 1",
    )
});

/// A node saw events of `epoch` that Redis no longer has (it lost writes and
/// the history went on differently): that epoch is void. The leader's next
/// publish then fails and it begins a new epoch. KEYS: meta. ARGV: epoch.
pub static VOID_EPOCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'epoch')
end
return 0",
    )
});

/// Publishes the events of one poll, or nothing.
/// KEYS: leader, meta, events, games.
/// ARGV: token, node id, epoch, expected seq, stream max length, event count,
/// then per event: kind (`u`/`r`), game id, game JSON, frame JSON, ts.
/// Returns {1, last seq} or {0, reason}: NOT_LEADER, EPOCH (another or no
/// epoch: Redis lost data or another leader began one), SEQ (the seq is not
/// the one expected), STREAM (the stream is ahead of `seq`). Each refusal is
/// counted in meta (`refused:not_leader`, …): the fence at work, readable by
/// anyone with `HGETALL`, including writes that arrived after their sender
/// gave up on them.
pub static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local function refuse(reason)
  redis.call('HINCRBY', KEYS[2], 'refused:' .. string.lower(reason), 1)
  return {0, reason}
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return refuse('NOT_LEADER') end
local m = redis.call('HMGET', KEYS[2], 'epoch', 'seq')
if m[1] ~= ARGV[3] then return refuse('EPOCH') end
local seq = tonumber(ARGV[4])
if tonumber(m[2]) ~= seq then return refuse('SEQ') end
local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if top[1] and tonumber(string.match(top[1][1], '^(%d+)')) >= seq + 1 then return refuse('STREAM') end
local n = tonumber(ARGV[6])
local last = seq + n
local i = 7
for k = 1, n do
  seq = seq + 1
  local kind, id, game, frame, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], string.format('%d-0', seq),
    'e', ARGV[3], 'l', last, 't', ts, 'n', ARGV[2], 'k', kind, 'g', game, 'f', frame)
  if kind == 'u' then
    redis.call('HSET', KEYS[4], id, game)
  else
    redis.call('HDEL', KEYS[4], id)
  end
end
redis.call('HSET', KEYS[2], 'seq', last)
return {1, last}",
    )
});
