#pragma once
// The Lua scripts of the Redis login store (redis_login_store.hpp). Each call is one script, and a script
// runs atomically in Redis: a transition checks the state it starts from, moves, and publishes the
// screen's event in the same step (with the broker's own `append`, redis_scripts.hpp), so of two nodes
// racing, exactly one wins, and events keep transition order. Every time is Redis's clock (TIME).
//
// Keys (P is the configured key prefix; all of the login's keys share the hash tag {login}):
//   P{login}:r:<id>      hash, one login request: id, fl (qr|device), st (state), pd / ud (hex SHA-256 of the
//                        poll secret / user code), rb / ri / rt (requester browser, address, time ms), cid
//                        (client_id), exp (expiry, ms), rot / rat (QR rotation and when), sub (approver),
//                        mn (match number), nums ("a,b,c" offered), nn (a number is needed: 1/0), why (denial
//                        reason), iv (RFC 8628 interval, s), ltp (last token poll, ms)
//   P{login}:p:<hex>     the id of the request whose poll secret has that digest
//   P{login}:u:<hex>     the id of the request whose user code has that digest
//                        (all three expire `finished_kept_for` after the request does)
//   P{login}:due         sorted set: id -> when tick must look at it next (expiry or QR rotation)
//   P{login}:kept        sorted set: id -> when it is forgotten (bounds the requests kept: max_requests)
//   P{login}:key         hash: k = the QR secrets' HMAC key (32 random bytes), i = its id; made once
//   P{login}:t:<hex>     hash, a session or access token by its digest: k (session|access), s (subject),
//                        c (CSRF token); expires with the token
//   P{login}:ts:<name>   set of the digests of a subject's tokens (to end them all)
//   P{login}:accounts    hash: account name -> Argon2id hash
//   P{login}:rl:<limit>:<key>  hash, a token bucket: t (tokens), u (updated, ms); expires when full
// and the request's event channel _login:<id>, whose keys are the broker's (redis_scripts.hpp) with the
// hash tag {login} too (P{login}_login:<id>:m, :s, and the Pub/Sub channel P{login}_login:<id>).
//
// The scripts compute these key names from the prefix: each touches keys it only learns inside (the
// request an index points to, its event channel). All share one slot, so on a Redis Cluster every script
// runs on the primary of {login}'s slot (named as the script's one key, P{login}, which it does not use).
//
// Every script is called with ARGV[1] = P, ARGV[2] = a fresh history id (for an event channel that has no
// history yet), ARGV[3] / ARGV[4] = the event channels' history limits (messages, age ms); its own
// arguments follow from ARGV[5]. Every script answers {entered, tag, ...}: `entered` the states the call
// moved requests into, comma-separated (for this node's metrics), `tag` "ok" or a refusal's code, and
// "rekey" when the caller's QR key is not the store's (it reloads the key and calls again).
namespace herald::login::redis_login_scripts {

// After the broker's prelude (now_ms, append).
inline constexpr const char* prelude = R"lua(
local P = ARGV[1]
local L = P .. '{login}:'
local FRESH, EMAX, EAGE = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local NOW = now_ms()
local KEPT_FOR = 60000  -- finished_kept_for (login_store.hpp)
local GRACE = 15000      -- previous_qr_grace
local FINAL = {denied = true, consumed = true, expired = true, cancelled = true}
local entered = {}
local emitted = 0

local function reply(...)
  return {table.concat(entered, ','), emitted, ...}
end

-- Publishes an event on the request's channel, exactly as the broker publishes a message.
local function emit(id, event, data)
  local c = P .. '{login}_login:' .. id
  local fresh = string.format('%.0f', (FRESH + emitted) % 1099511627776)
  if fresh == '0' then fresh = '1' end
  emitted = emitted + 1
  append(c .. ':m', c .. ':s', c, fresh, EMAX, EAGE, event, data, '1')
end

local function enter(q, to)
  if q.st ~= to then entered[#entered + 1] = to end
  q.st = to
  redis.call('HSET', q.key, 'st', to)
  if FINAL[to] then redis.call('ZREM', L .. 'due', q.id) end
end

-- Moves request q to state `to` and tells its screen: event `event` (or the state's name), data
-- {"state":to<hint>}.
local function move(q, to, hint, event)
  enter(q, to)
  emit(q.id, event or to, '{"state":"' .. to .. '"' .. (hint or '') .. '}')
end

local function deny(q, reason)
  redis.call('HSET', q.key, 'why', reason)
  q.why = reason
  move(q, 'denied', ',"reason":"' .. reason .. '"')
end

-- Request `id` as a table of its fields (nil when unknown); one whose time is up is expired first.
local function request(id)
  if not id then return nil end
  local key = L .. 'r:' .. id
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then return nil end
  local q = {key = key}
  for i = 1, #fields, 2 do q[fields[i]] = fields[i + 1] end
  if not FINAL[q.st] and NOW >= tonumber(q.exp) then move(q, 'expired') end
  return q
end

-- The request a poll secret's digest opens, if it is of `flow`.
local function by_poll(digest, flow)
  local q = request(redis.call('GET', L .. 'p:' .. digest))
  if q and q.fl == flow then return q end
  return nil
end

local function left(q)
  return math.max(0, math.floor((tonumber(q.exp) - NOW) / 1000))
end

local function key_is(id)
  return redis.call('HGET', L .. 'key', 'i') == id
end

-- A QR secret of rotation `rot` is good while it is the current one, and for GRACE after it was replaced.
local function fresh_rotation(q, rot)
  local current = tonumber(q.rot)
  return rot == current or (rot + 1 == current and NOW - tonumber(q.rat) < GRACE)
end

local function issue(digest, kind, subject, csrf, ttl)
  local t = L .. 't:' .. digest
  redis.call('HSET', t, 'k', kind, 's', subject, 'c', csrf)
  redis.call('PEXPIRE', t, ttl)
  local owned = L .. 'ts:' .. subject
  redis.call('SADD', owned, digest)
  if redis.call('PTTL', owned) < ttl then redis.call('PEXPIRE', owned, ttl) end
  -- Expired tokens leave their digests here: a few are looked at and forgotten each time, so a subject
  -- signing in often does not grow the set without bound.
  if redis.call('SCARD', owned) > 64 then
    for _, old in ipairs(redis.call('SRANDMEMBER', owned, 16)) do
      if redis.call('EXISTS', L .. 't:' .. old) == 0 then redis.call('SREM', owned, old) end
    end
  end
end

local function revoke_subject(subject)
  local owned = L .. 'ts:' .. subject
  for _, digest in ipairs(redis.call('SMEMBERS', owned)) do redis.call('DEL', L .. 't:' .. digest) end
  redis.call('DEL', owned)
end

-- Token buckets of `cap` tokens per `window` ms: one token from each key, or none when any is empty.
-- Returns 0, or the whole seconds until the emptiest has a token.
local function take(keys, cap, window)
  if cap == 0 then return math.ceil(window / 1000) end
  local tokens, longest = {}, 0
  for i, k in ipairs(keys) do
    local b = redis.call('HMGET', k, 't', 'u')
    local t = cap
    if b[1] then t = math.min(cap, tonumber(b[1]) + (NOW - tonumber(b[2])) * cap / window) end
    tokens[i] = t
    if t < 1 then longest = math.max(longest, (1 - t) * window / cap) end
  end
  for i, k in ipairs(keys) do
    local t = tokens[i]
    if longest == 0 then t = t - 1 end
    redis.call('HSET', k, 't', string.format('%.17g', t), 'u', NOW)
    redis.call('PEXPIRE', k, window)  -- a bucket left alone for a window is full: nothing to remember
  end
  if longest > 0 then return math.ceil(longest / 1000) end
  return 0
end

-- The numbers a phone offers: the match number and the first two other numbers of the caller's random
-- `draws`, in the caller's random `order` (0-5, one of the six permutations).
local function numbers_around(match, draws, order)
  local picked = {tonumber(match)}
  local function add(n)
    for _, p in ipairs(picked) do
      if p == n then return end
    end
    picked[#picked + 1] = n
  end
  for d in string.gmatch(draws, '%d+') do
    if #picked < 3 then add(tonumber(d)) end
  end
  local n = 10
  while #picked < 3 do
    add(n)
    n = n + 1
  end
  local p = ({{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1}})[tonumber(order) + 1]
  return picked[p[1]] .. ',' .. picked[p[2]] .. ',' .. picked[p[3]]
end

-- Binds request q to `subject` and answers its prompt; the prompt limit first, so a refusal binds nothing.
local function bind(q, subject, needs_number, approver, bucket, cap, draws, order)
  local wait = take({bucket}, cap, 60000)
  if wait > 0 then return reply('rate_limited', wait) end
  if q.st == 'pending' then
    q.nn = needs_number
    q.nums = numbers_around(q.mn, draws, order)
    redis.call('HSET', q.key, 'sub', subject, 'nums', q.nums, 'nn', needs_number)
    move(q, 'scanned', approver)
  elseif needs_number == '0' then
    q.nn = '0'  -- the same user typed the code: that proves they see the screen
    redis.call('HSET', q.key, 'nn', '0')
  end
  local numbers = ''
  if q.nn == '1' then numbers = q.nums end
  return reply('ok', q.id, q.rb, q.ri, q.rt, numbers, left(q))
end
)lua";

// ARGV: id, flow, poll digest, user code digest, browser, address, time ms, client id, ttl ms, rotate ms,
// match number, interval s, max requests, key id. {'ok'} | {'busy'} | {'again'} (the user code is taken).
inline constexpr const char* start = R"lua(
if not key_is(ARGV[18]) then return reply('rekey') end
local id, flow, pd, ud = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local kept = L .. 'kept'
redis.call('ZREMRANGEBYSCORE', kept, '-inf', NOW)
if redis.call('ZCARD', kept) >= tonumber(ARGV[17]) then return reply('busy') end
if redis.call('EXISTS', L .. 'u:' .. ud) == 1 then return reply('again') end
local ttl = tonumber(ARGV[13])
local exp = NOW + ttl
local key = L .. 'r:' .. id
redis.call('HSET', key, 'id', id, 'fl', flow, 'st', 'pending', 'pd', pd, 'ud', ud, 'rb', ARGV[9], 'ri', ARGV[10],
  'rt', ARGV[11], 'cid', ARGV[12], 'exp', exp, 'rot', 0, 'rat', NOW, 'mn', ARGV[15], 'iv', ARGV[16], 'nn', '0')
redis.call('PEXPIRE', key, ttl + KEPT_FOR)
redis.call('SET', L .. 'p:' .. pd, id, 'PX', ttl + KEPT_FOR)
redis.call('SET', L .. 'u:' .. ud, id, 'PX', ttl + KEPT_FOR)
redis.call('ZADD', kept, exp + KEPT_FOR, id)
local due = exp
if flow == 'qr' then due = math.min(exp, NOW + tonumber(ARGV[14])) end
redis.call('ZADD', L .. 'due', due, id)
return reply('ok')
)lua";

// ARGV: poll digest, flow. {'ok', id, state, expires_in, reason} | {'unauthorized'}
inline constexpr const char* status = R"lua(
local q = by_poll(ARGV[5], ARGV[6])
if not q then return reply('unauthorized') end
return reply('ok', q.id, q.st, left(q), q.why or '')
)lua";

// ARGV: poll digest, key id. {'ok', id, rotation} | {'gone'}
inline constexpr const char* qr_secret = R"lua(
if not key_is(ARGV[6]) then return reply('rekey') end
local q = by_poll(ARGV[5], 'qr')
if not q or q.st ~= 'pending' then return reply('gone') end
return reply('ok', q.id, q.rot)
)lua";

// ARGV: id, rotation, MAC good (1/0, checked by the caller with the key named next), key id, subject,
// approver hint, prompt bucket, prompts a minute, draws, order. A prompt (see bind) | {'invalid_code'} |
// {'rate_limited', seconds}
inline constexpr const char* scan = R"lua(
if not key_is(ARGV[8]) then return reply('rekey') end
local q = request(ARGV[5])
local subject = ARGV[9]
if not q or q.fl ~= 'qr' or ARGV[7] ~= '1' or not fresh_rotation(q, tonumber(ARGV[6])) or
   not (q.st == 'pending' or (q.st == 'scanned' and q.sub == subject)) then
  return reply('invalid_code')
end
return bind(q, subject, '1', ARGV[10], ARGV[11], tonumber(ARGV[12]), ARGV[13], ARGV[14])
)lua";

// ARGV: user code digest, subject, approver hint, prompt bucket, prompts a minute, draws, order.
inline constexpr const char* enter_code = R"lua(
local q = request(redis.call('GET', L .. 'u:' .. ARGV[5]))
local subject = ARGV[6]
if not q or not (q.st == 'pending' or (q.st == 'scanned' and q.sub == subject)) then
  return reply('invalid_code')
end
return bind(q, subject, '0', ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11])
)lua";

// ARGV: id, subject, approve (1/0), number ('' for none). {'ok', state} | {'invalid_code'} |
// {'number_required'} | {'wrong_number'} (and the request is denied)
inline constexpr const char* decide = R"lua(
local q = request(ARGV[5])
if not q or q.st ~= 'scanned' or q.sub ~= ARGV[6] then return reply('invalid_code') end
if ARGV[7] ~= '1' then
  deny(q, 'user')
  return reply('ok', 'denied')
end
if q.nn == '1' then
  if ARGV[8] == '' then return reply('number_required') end
  if tonumber(ARGV[8]) ~= tonumber(q.mn) then
    deny(q, 'wrong_number')
    return reply('wrong_number')
  end
end
move(q, 'approved')
return reply('ok', 'approved')
)lua";

// ARGV: by (id|qr|code), the id or the user code digest, rotation, MAC good, key id, subject, approve.
// {'ok', state} | {'invalid_code'}
inline constexpr const char* decide_for = R"lua(
local by, subject = ARGV[5], ARGV[10]
local q
if by == 'qr' then
  if not key_is(ARGV[9]) then return reply('rekey') end
  q = request(ARGV[6])
  if q and (q.fl ~= 'qr' or ARGV[8] ~= '1' or not fresh_rotation(q, tonumber(ARGV[7]))) then q = nil end
elseif by == 'code' then
  q = request(redis.call('GET', L .. 'u:' .. ARGV[6]))
else
  q = request(ARGV[6])
end
if not q or not (q.st == 'pending' or (q.st == 'scanned' and q.sub == subject)) then
  return reply('invalid_code')
end
redis.call('HSET', q.key, 'sub', subject)
if ARGV[11] == '1' then move(q, 'approved') else deny(q, 'user') end
return reply('ok', q.st)
)lua";

// ARGV: poll digest, new session token digest, its CSRF token, its ttl ms. The screen asked itself, so no
// event. {'ok', subject} | {'unauthorized'} | {'not_approved', state} | {'access_denied', reason} | {'gone'}
inline constexpr const char* exchange = R"lua(
local q = by_poll(ARGV[5], 'qr')
if not q then return reply('unauthorized') end
if q.st == 'approved' then
  enter(q, 'consumed')
  issue(ARGV[6], 'session', q.sub, ARGV[7], tonumber(ARGV[8]))
  return reply('ok', q.sub)
elseif q.st == 'pending' or q.st == 'scanned' then
  return reply('not_approved', q.st)
elseif q.st == 'denied' then
  return reply('access_denied', q.why or '')
end
return reply('gone')
)lua";

// ARGV: poll digest. {'ok', 'cancelled'} | {'unauthorized'} | {'gone'}
inline constexpr const char* cancel = R"lua(
local q = by_poll(ARGV[5], 'qr')
if not q then return reply('unauthorized') end
if FINAL[q.st] then return reply('gone') end
move(q, 'cancelled')
return reply('ok', 'cancelled')
)lua";

// ARGV: device code digest, client id, new access token digest, its ttl ms. RFC 8628 §3.5:
// {'ok', subject} | {'authorization_pending'} | {'slow_down'} | {'access_denied'} | {'expired_token'} |
// {'invalid_grant'}
inline constexpr const char* poll_token = R"lua(
local q = by_poll(ARGV[5], 'device')
if not q or q.cid ~= ARGV[6] then return reply('invalid_grant') end
local previous = q.ltp
redis.call('HSET', q.key, 'ltp', NOW)
if q.st == 'pending' or q.st == 'scanned' then
  local interval = tonumber(q.iv)
  if previous and NOW - tonumber(previous) < interval * 1000 then
    redis.call('HSET', q.key, 'iv', interval + 5)  -- slow_down: 5 s more from now on
    return reply('slow_down')
  end
  return reply('authorization_pending')
elseif q.st == 'approved' then
  enter(q, 'consumed')
  issue(ARGV[7], 'access', q.sub, '', tonumber(ARGV[8]))
  return reply('ok', q.sub)
elseif q.st == 'denied' then
  return reply('access_denied')
elseif q.st == 'consumed' then
  return reply('invalid_grant')
end
return reply('expired_token')
)lua";

// ARGV: rotate ms, at most how many. Expires and rotates what is due; any node may run it, and two
// running at once find each request's work done once.
inline constexpr const char* tick = R"lua(
local due = L .. 'due'
local rotate = tonumber(ARGV[5])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[6]))) do
  local q = request(id)
  if not q or FINAL[q.st] then
    redis.call('ZREM', due, id)
  else
    local next = tonumber(q.exp)
    if q.fl == 'qr' and q.st == 'pending' then
      if NOW - tonumber(q.rat) >= rotate then
        q.rot, q.rat = tostring(tonumber(q.rot) + 1), NOW
        redis.call('HSET', q.key, 'rot', q.rot, 'rat', NOW)
        move(q, 'pending', ',"rotated":true', 'qr')
      end
      next = math.min(next, tonumber(q.rat) + rotate)
    end
    redis.call('ZADD', due, next, id)
  end
end
return reply('ok')
)lua";

// ARGV: tokens a window, window ms, bucket keys... {'ok', seconds to wait (0: taken)}
inline constexpr const char* take = R"lua(
local keys = {}
for i = 7, #ARGV do keys[#keys + 1] = ARGV[i] end
return reply('ok', take(keys, tonumber(ARGV[5]), tonumber(ARGV[6])))
)lua";

// ARGV: name, password hash. {'ok', 1 | 0 (the name is taken)}
inline constexpr const char* add_user = R"lua(
return reply('ok', redis.call('HSETNX', L .. 'accounts', ARGV[5], ARGV[6]))
)lua";

// ARGV: name, password hash. {'ok', 1 | 0 (no such account)}; ends the name's tokens.
inline constexpr const char* set_password = R"lua(
if redis.call('HEXISTS', L .. 'accounts', ARGV[5]) == 0 then return reply('ok', 0) end
redis.call('HSET', L .. 'accounts', ARGV[5], ARGV[6])
revoke_subject(ARGV[5])
return reply('ok', 1)
)lua";

// ARGV: name. {'ok', 1 | 0 (no such account)}; ends the name's tokens.
inline constexpr const char* remove_user = R"lua(
if redis.call('HDEL', L .. 'accounts', ARGV[5]) == 0 then return reply('ok', 0) end
revoke_subject(ARGV[5])
return reply('ok', 1)
)lua";

// {'ok', name...}
inline constexpr const char* users = R"lua(
local out = reply('ok')
for _, name in ipairs(redis.call('HKEYS', L .. 'accounts')) do out[#out + 1] = name end
return out
)lua";

// ARGV: name. {'ok', hash or ''}
inline constexpr const char* password_hash = R"lua(
return reply('ok', redis.call('HGET', L .. 'accounts', ARGV[5]) or '')
)lua";

// ARGV: token digest, kind, subject, CSRF token, ttl ms. {'ok'}
inline constexpr const char* issue = R"lua(
issue(ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]))
return reply('ok')
)lua";

// ARGV: token digest, kind. {'ok', subject, csrf} | {'unauthorized'}
inline constexpr const char* find = R"lua(
local t = redis.call('HMGET', L .. 't:' .. ARGV[5], 'k', 's', 'c')
if t[1] ~= ARGV[6] then return reply('unauthorized') end
return reply('ok', t[2], t[3])
)lua";

// ARGV: token digest. {'ok'}
inline constexpr const char* revoke = R"lua(
local t = L .. 't:' .. ARGV[5]
local subject = redis.call('HGET', t, 's')
redis.call('DEL', t)
if subject then redis.call('SREM', L .. 'ts:' .. subject, ARGV[5]) end
return reply('ok')
)lua";

// ARGV: a new key and key id, used only when the store has none. {'ok', key, key id}: the store's.
inline constexpr const char* qr_key = R"lua(
local key = L .. 'key'
if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, 'k', ARGV[5], 'i', ARGV[6]) end
local k = redis.call('HMGET', key, 'k', 'i')
return reply('ok', k[1], k[2])
)lua";

}  // namespace herald::login::redis_login_scripts
