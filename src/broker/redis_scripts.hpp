#pragma once
// The Lua scripts the Redis broker runs. A script runs atomically in Redis, so a publish appends to the
// stream, advances the sequence and notifies every node in one step that no reader can split.
//
// Keys of channel C (P is the configured key prefix; the braces keep both keys in one cluster slot):
//   P{C}:m  hash  h = history id (decimal, 40 bits), s = last sequence number
//   P{C}:s  stream of the kept messages; entry id 0-<seq>, fields t (ms since epoch), e (event),
//           d (data), j ("1" when data is JSON)
// Both expire after the namespace's history age (at least a minute) without a publish or read, so an
// idle channel vanishes and its next use draws a new history id: old cursors then read as a gap, as the
// contract says. Within that time an aged-out message is trimmed but the history id stays.
//   P{C}:i:<K>  string "<history> <seq>": the cursor of the publish that used idempotency key K, expiring
//           (PX, Redis's clock) when the key's window ends (publish_once)
// Pub/Sub channel P{C} carries each published message as
//   "<history> <seq> <time_ms> <j> <event length>\n<event><data>"
// On one Redis it is a plain channel (PUBLISH); on a Redis Cluster a sharded one (SPUBLISH), heard only on
// the primary of the channel's slot (and its replicas), where its keys live too.
#include <string>

namespace herald::redis_scripts {

// Trims the stream to the age limit (entries are in time order, so only the oldest end is looked at).
inline constexpr const char* prelude = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keep_for(meta, stream, age)
  local ttl = math.max(age, 60000)
  redis.call('PEXPIRE', meta, ttl)
  redis.call('PEXPIRE', stream, ttl)
end
local function trim_age(stream, cutoff)
  while true do
    local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #first == 0 or tonumber(first[1][2][2]) >= cutoff then return end
    redis.call('XDEL', stream, first[1][1])
  end
end
-- After a failover the new primary may lack the last writes the old one acknowledged (replication is
-- asynchronous): a history continued there would give a lost message's sequence number to a new one, which
-- a listener that heard the lost one would skip. So where failovers are followed (FOLLOW_FAILOVER), a
-- history remembers the primary's replication id, which a promotion changes, and one written under
-- another starts anew: its listeners and resumers get a gap, never a silent reuse.
local function replication_id()
  if not FOLLOW_FAILOVER then return '' end
  return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') or ''
end
-- The channel's history id and last sequence number, creating the history with `fresh` if it has none.
local function history(meta, stream, fresh)
  local hid = redis.call('HGET', meta, 'h')
  local rid = replication_id()
  if not hid or (FOLLOW_FAILOVER and redis.call('HGET', meta, 'r') ~= rid) then
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'h', fresh, 's', 0, 'r', rid)
    return fresh, 0
  end
  return hid, tonumber(redis.call('HGET', meta, 's'))
end
-- Appends a message to the channel's history and notifies every node, in one step (the publish script;
-- the login's transition scripts publish their events with it too). Returns {history id, seq, time_ms}.
local function append(meta, stream, pubsub, fresh, max, age, event, data, j)
  local now = now_ms()
  local hid = history(meta, stream, fresh)
  local seq = redis.call('HINCRBY', meta, 's', 1)
  redis.call('XADD', stream, 'MAXLEN', max, '0-' .. seq, 't', now, 'e', event, 'd', data, 'j', j)
  trim_age(stream, now - age)
  keep_for(meta, stream, age)
  redis.call(PUBLISH_COMMAND, pubsub, hid .. ' ' .. seq .. ' ' .. now .. ' ' .. j .. ' ' .. #event .. '\n' .. event .. data)
  return {hid, seq, now}
end
)lua";

// The prelude with the notification command (SPUBLISH on a Redis Cluster, PUBLISH on one Redis) and
// whether histories guard against failovers (with a cluster or Sentinel; it costs an INFO per publish).
inline std::string prelude_for(bool sharded, bool follow_failover) {
  return std::string("local PUBLISH_COMMAND = '") + (sharded ? "SPUBLISH" : "PUBLISH") +
         "'\nlocal FOLLOW_FAILOVER = " + (follow_failover ? "true" : "false") + "\n" + prelude;
}

// KEYS: meta, stream. ARGV: pubsub channel, fresh history id, max messages, max age ms, event, data, j.
// Returns {history id, seq, time_ms}.
inline constexpr const char* publish = R"lua(
return append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7])
)lua";

// A publish with an idempotency key (broker.hpp, point 10), decided in the same step as the append: a key
// still remembered answers its first publish's cursor and appends nothing.
// KEYS: meta, stream, the key's P{C}:i:<K>. ARGV: as publish, then the window in ms.
// Returns {history id, seq, time_ms, replayed (0/1)}; a replay's time_ms is 0.
inline constexpr const char* publish_once = R"lua(
local first = redis.call('GET', KEYS[3])
if first then
  local space = string.find(first, ' ', 1, true)
  return {string.sub(first, 1, space - 1), string.sub(first, space + 1), 0, 1}
end
local r = append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7])
redis.call('SET', KEYS[3], r[1] .. ' ' .. r[2], 'PX', ARGV[8])
return {r[1], r[2], r[3], 0}
)lua";

// KEYS: meta, stream. ARGV: max messages, max age ms, mode ("now", "last", "since"), N for "last" or the
// cursor's history id for "since", the cursor's seq for "since", limit.
// Returns {history id, last seq, gap (0/1), more (0/1), seq just before the first returned,
//          then per message: seq, time_ms, event, data, j}.
// A channel without a history is not created by reading it: the answer is an empty cursor (history 0,
// seq = now in ms; core/cursor.hpp), which vouches for the history created after it while it is younger
// than the age limit (a history outlives its last use by at least that: keep_for).
inline constexpr const char* read = R"lua(
local now = now_ms()
local age = tonumber(ARGV[2])
local mode = ARGV[3]
local function vouches(since)
  return since <= now + 60000 and now - since < age
end
local hid = redis.call('HGET', KEYS[1], 'h')
if not hid then
  local gap = 0
  if mode == 'since' and not (ARGV[4] == '0' and vouches(tonumber(ARGV[5]))) then gap = 1 end
  return {'0', now, gap, 0, now}
end
local last = tonumber(redis.call('HGET', KEYS[1], 's'))
trim_age(KEYS[2], now - age)
redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[1])
keep_for(KEYS[1], KEYS[2], age)
local kept = redis.call('XLEN', KEYS[2])
local first = last + 1 - kept
local start, gap = last + 1, 0
if mode == 'last' then
  start = last + 1 - math.min(tonumber(ARGV[4]), kept)
elseif mode == 'since' then
  local since = tonumber(ARGV[5])
  if ARGV[4] == '0' and first == 1 and vouches(since) then
    start = 1
  elseif ARGV[4] ~= hid or since > last or since + 1 < first then
    start, gap = first, 1
  else
    start = since + 1
  end
end
local out = {hid, last, gap, 0, start - 1}
if start > last then return out end
local limit = tonumber(ARGV[6])
local entries = redis.call('XRANGE', KEYS[2], '0-' .. start, '+', 'COUNT', limit + 1)
if #entries > limit then
  out[4] = 1
  entries[#entries] = nil
end
for _, entry in ipairs(entries) do
  local f = entry[2]
  out[#out + 1] = string.sub(entry[1], 3)
  out[#out + 1] = f[2]
  out[#out + 1] = f[4]
  out[#out + 1] = f[6]
  out[#out + 1] = f[8]
end
return out
)lua";

// KEYS: meta, stream. ARGV: max age ms. Returns {} for an unknown channel, else {history id, last seq, kept}.
inline constexpr const char* info = R"lua(
local hid = redis.call('HGET', KEYS[1], 'h')
if not hid then return {} end
trim_age(KEYS[2], now_ms() - tonumber(ARGV[1]))
return {hid, tonumber(redis.call('HGET', KEYS[1], 's')), redis.call('XLEN', KEYS[2])}
)lua";

// --- presence (presence_store.hpp) ------------------------------------------------------------------
// Keys of channel C: P{C}:p  sorted set, client -> the latest lease end (ms, Redis clock) of any node
//                    P{C}:pn hash, client -> display name
//                    P{C}:pl:<client> hash, node id -> that node's lease end
// All expire a while after the last lease, so a channel everyone left leaves nothing behind.

// KEYS: p, pn, pl. ARGV: client, node, lease ms, name. Returns 1 when the member was not present.
inline constexpr const char* presence_hold = R"lua(
local now = now_ms()
local lease = tonumber(ARGV[3])
local ends = now + lease
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ends)
if not prev or tonumber(prev) < ends then redis.call('ZADD', KEYS[1], ends, ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], lease * 2 + 60000) end
if prev and tonumber(prev) > now then return 0 end
return 1
)lua";

// KEYS: p, pn, pl. ARGV: client, node. Returns 1 when no other node still holds the member (it left).
inline constexpr const char* presence_drop = R"lua(
local now = now_ms()
redis.call('HDEL', KEYS[3], ARGV[2])
local latest = 0
for _, ends in ipairs(redis.call('HVALS', KEYS[3])) do latest = math.max(latest, tonumber(ends)) end
if latest > now then
  redis.call('ZADD', KEYS[1], latest, ARGV[1])
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
)lua";

// KEYS: p, pn. ARGV: the prefix of the pl keys, at most how many. Removes the members whose every lease
// ran out (their node died) and returns {client, name, ...}.
inline constexpr const char* presence_reap = R"lua(
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, client in ipairs(gone) do
  out[#out + 1] = client
  out[#out + 1] = redis.call('HGET', KEYS[2], client) or ''
  redis.call('ZREM', KEYS[1], client)
  redis.call('HDEL', KEYS[2], client)
  redis.call('DEL', ARGV[1] .. client)
end
return out
)lua";

// KEYS: p, pn. ARGV: at most how many. Returns {count, client, name, ...}.
inline constexpr const char* presence_list = R"lua(
local now = now_ms()
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
for _, client in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))) do
  out[#out + 1] = client
  out[#out + 1] = redis.call('HGET', KEYS[2], client) or ''
end
return out
)lua";

// Connections per user (broker.hpp, point 12). KEYS: the user's sorted set (connection -> lease end, ms).
// ARGV: connection, limit (0: none), lease ms. Returns 1 when admitted, 0 when the user is at the limit.
inline constexpr const char* user_admit = R"lua(
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2 + 60000)
return 1
)lua";

// KEYS: the user's sorted set. ARGV: lease ms, then this node's connections of the user: their leases
// are renewed (XX: one released meanwhile stays released).
inline constexpr const char* user_refresh = R"lua(
local ends = now_ms() + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ends, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2 + 60000)
return 0
)lua";

}  // namespace herald::redis_scripts
