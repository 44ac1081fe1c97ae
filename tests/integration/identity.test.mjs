// Connection identity: a connection token (a JWT with `sub`) on every transport, identified namespaces
// whose presence lists the token's user, tokens that end on live connections (and a /ws refresh that
// keeps one open without losing a message), and the server API that acts on a user's connections
// (POST /api/disconnect, POST /api/unsubscribe), on one node and across two nodes on Redis.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  chanPath,
  eventually,
  openSSE,
  onRedisPass,
  openWS,
  poll,
  publish,
  request,
  startHerald,
  uniq,
  waitForSubscribers,
  within,
  wsMessages,
} from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';

const SECRET = 'the application and herald share this';
const KEY = 'server-api-key';
const CONFIG =
  `token_secret = ${JSON.stringify(SECRET)}\npublish_key = ${JSON.stringify(KEY)}\n` +
  '[namespace.team]\nidentified = true\npresence = true\n' +
  '[namespace.private]\nprivate = true\n';
const AUTH = { Authorization: `Bearer ${KEY}` };

const b64 = (text) => Buffer.from(text).toString('base64url');
export function jwt(claims, secret = SECRET) {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
// An `exp` about `seconds` from now, on a whole second (what a token can say).
const soon = (seconds) => Math.ceil(Date.now() / 1000) + seconds;

const pub = (url, ch, body, opts = {}) => publish(url, ch, body, { ...opts, headers: { ...AUTH, ...opts.headers } });
const api = (url, path, body) =>
  request(`${url}${path}`, {
    method: 'POST',
    headers: { ...AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

// The time (ms) a promise settles, for "within a second of exp".
const settledAt = (promise) => promise.then((value) => ({ value, at: Date.now() }));
function assertNearExp(at, exp, what) {
  const late = at - exp * 1000;
  assert.ok(late >= -20 && late < 1000, `${what} ended ${late} ms after exp (expected within a second of it)`);
}

describe('one node', () => {
  let herald;
  before(async () => {
    herald = await startHerald({ config: CONFIG });
  });
  after(() => herald.stop());

  test('an identified namespace refuses anonymous listeners on every transport, with the reason', async () => {
    const ch = `team:${uniq()}`;
    const anonymous = await poll(herald.url, ch);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error, 'identity_required');
    const sse = openSSE(`${herald.url}/sub/${chanPath(ch)}`);
    assert.equal((await sse.response).status, 401);
    // A subscribe token (no `sub`) identifies nobody.
    const notConnection = await poll(herald.url, ch, { query: `token=${jwt({ channels: [ch], exp: inAnHour() })}` });
    assert.equal(notConnection.body.error, 'identity_required');
    const ws = openWS(`${herald.wsUrl}/ws`);
    await ws.opened;
    const refused = await ws.request({ op: 'subscribe', channel: ch });
    assert.equal(refused.op, 'error');
    assert.equal(refused.code, 'identity_required');
    // A token that is presented must be valid, wherever it is presented.
    const forged = jwt({ sub: 'alice', exp: inAnHour() }, 'not the secret');
    assert.equal((await poll(herald.url, uniq(), { query: `token=${forged}` })).body.error, 'bad_token');
    const upgrade = openWS(`${herald.wsUrl}/ws?token=${forged}`);
    await assert.rejects(upgrade.opened, (err) => err.status === 401);
    ws.close();
  });

  test('a connection token is taken by Bearer, ?token= and a /ws auth frame; presence lists sub and info', async () => {
    const ch = `team:${uniq()}`;
    const token = (sub, info) => jwt({ sub, info, exp: inAnHour() });
    const bearer = (sub, info) => ({ Authorization: `Bearer ${token(sub, info)}` });
    // Asserted names are ignored: the token says who is here.
    const sse = openSSE(`${herald.url}/sub/${chanPath(ch)}?client=x&name=Mallory`, {
      headers: bearer('alice', { name: 'Alice', role: 'admin' }),
    });
    assert.equal((await sse.response).status, 200);
    const longPoll = poll(herald.url, ch, { wait: 30, query: `token=${token('bob', { name: 'Bob' })}` });
    const single = openWS(`${herald.wsUrl}/sub/${chanPath(ch)}?token=${token('carol')}`);
    await single.opened;
    const mux = openWS(`${herald.wsUrl}/ws`);
    await mux.opened;
    const authed = await mux.request({ op: 'auth', token: token('dave', { name: 'Dave' }) });
    assert.equal(authed.op, 'authenticated');
    assert.equal(authed.user, 'dave');
    const subscribed = await mux.request({ op: 'subscribe', channel: ch, client: 'y', name: 'Eve' });
    assert.equal(subscribed.op, 'subscribed');
    const upgraded = openWS(`${herald.wsUrl}/ws`, { headers: bearer('erin') });
    await upgraded.opened;
    assert.equal((await upgraded.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
    // (Not the long poll: a join that comes after it answers it, as any message would.)
    await waitForSubscribers(herald.url, ch, { sse: 1, websocket: 3 });

    // Members are stated to the broker as they come (with Redis, asynchronously): wait for all five.
    const members = await eventually(
      async () => {
        const listed = await request(`${herald.url}/channels/${chanPath(ch)}/presence`, { headers: bearer('zed') });
        assert.equal(listed.status, 200, listed.text);
        return listed.json.count === 5 && Object.fromEntries(listed.json.members.map((m) => [m.user, m.info]));
      },
      { what: 'five members' },
    );
    assert.deepEqual(members, {
      alice: { name: 'Alice', role: 'admin' },
      bob: { name: 'Bob' },
      carol: null,
      dave: { name: 'Dave' },
      erin: null,
    });
    // The join dave's socket heard (erin came after it) says the same.
    const join = await mux.frames.waitForItem((f) => f.op === 'message' && f.event === 'join' && f.data?.user === 'erin');
    assert.deepEqual(join.data, { user: 'erin', info: null });

    await pub(herald.url, ch, 'hello');
    assert.equal((await longPoll).status, 200);
    sse.close();
    single.close();
    mux.close();
    upgraded.close();
  });

  test("an expired connection token ends each transport within a second of exp, in the transport's form", async () => {
    const ch = uniq('expiring');
    const exp = soon(2);
    const token = jwt({ sub: 'frank', exp });
    const sse = openSSE(`${herald.url}/sub/${chanPath(ch)}?token=${token}`);
    assert.equal((await sse.response).status, 200);
    const sseEnded = settledAt(sse.ended);
    const longPoll = settledAt(poll(herald.url, ch, { wait: 30, headers: { Authorization: `Bearer ${token}` } }));
    const single = openWS(`${herald.wsUrl}/sub/${chanPath(ch)}?token=${token}`);
    await single.opened;
    const singleClosed = settledAt(single.closed);
    const mux = openWS(`${herald.wsUrl}/ws?token=${token}`);
    await mux.opened;
    assert.equal((await mux.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
    const muxClosed = settledAt(mux.closed);
    await waitForSubscribers(herald.url, ch, { sse: 1, longpoll: 1, websocket: 2 });

    const sseEnd = await within(sseEnded, 5000, 'the SSE stream to end');
    assertNearExp(sseEnd.at, exp, 'SSE');
    const close = sse.events.items.find((e) => e.event === 'close');
    assert.ok(close, 'an `event: close` before the end');
    assert.deepEqual(
      { code: JSON.parse(close.data).code, reconnect: JSON.parse(close.data).reconnect },
      { code: 'token_expired', reconnect: true },
    );

    const polled = await longPoll;
    assertNearExp(polled.at, exp, 'the long poll');
    assert.equal(polled.value.status, 401);
    assert.equal(polled.value.body.error, 'token_expired');
    assert.ok(polled.value.cursor, 'the answer carries the cursor to resume from');

    const singleEnd = await singleClosed;
    assertNearExp(singleEnd.at, exp, '/sub WebSocket');
    assert.deepEqual(singleEnd.value, { code: 4001, reason: 'token_expired' });

    const muxEnd = await muxClosed;
    assertNearExp(muxEnd.at, exp, '/ws');
    assert.equal(muxEnd.value.code, 4001);
    const said = mux.frames.items.find((f) => f.op === 'close');
    assert.equal(said?.code, 'token_expired');
  });

  test('a /ws subscription whose subscribe token expires ends alone; the socket stays', async () => {
    const ch = `private:${uniq()}`;
    const open = uniq('open');
    const exp = soon(2);
    const mux = openWS(`${herald.wsUrl}/ws`);
    await mux.opened;
    const tokened = jwt({ channels: [ch], exp });
    assert.equal((await mux.request({ op: 'subscribe', channel: ch, token: tokened })).op, 'subscribed');
    assert.equal((await mux.request({ op: 'subscribe', channel: open })).op, 'subscribed');
    const ended = await settledAt(mux.next((f) => f.op === 'unsubscribed' && f.channel === ch, { timeoutMs: 5000 }));
    assertNearExp(ended.at, exp, 'the private subscription');
    assert.equal(ended.value.code, 'token_expired');
    assert.equal(ended.value.reconnect, true);
    await pub(herald.url, open, 'still here');
    await mux.frames.waitForItem((f) => f.op === 'message' && f.channel === open && f.data === 'still here');
    mux.close();
  });

  test('a /ws refresh keeps the socket past the old exp and loses nothing', async () => {
    const ch = uniq('refresh');
    const exp = soon(2);
    const mux = openWS(`${herald.wsUrl}/ws`);
    await mux.opened;
    assert.equal((await mux.request({ op: 'auth', token: jwt({ sub: 'grace', exp }) })).op, 'authenticated');
    assert.equal((await mux.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
    // Another user's token is not a refresh.
    const stolen = await mux.request({ op: 'refresh', token: jwt({ sub: 'mallory', exp: inAnHour() }) });
    assert.equal(stolen.code, 'forbidden');

    // Publishing all along, until half a second past the old exp.
    const ids = [];
    const publisher = (async () => {
      for (let i = 0; Date.now() < exp * 1000 + 500; i += 1) {
        const r = await pub(herald.url, ch, `m${i}`);
        assert.equal(r.status, 201);
        ids.push(r.body.id);
      }
    })();
    await mux.next((f) => f.op === 'message');
    const refreshed = await mux.request({ op: 'refresh', token: jwt({ sub: 'grace', exp: exp + 60 }) });
    assert.equal(refreshed.op, 'refreshed');
    assert.equal(refreshed.expires_at, exp + 60);
    await publisher;
    const last = ids.at(-1);
    await mux.frames.waitUntil((items) => wsMessages(items, ch).some((m) => m.id === last), { what: 'the last message' });
    assert.equal(mux.ws.readyState, 1, 'still open');
    assert.deepEqual(
      wsMessages(mux.frames.items, ch).map((m) => m.id),
      ids,
      'every message, once, in order',
    );
    assert.ok(!mux.frames.items.some((f) => f.op === 'close'));
    mux.close();
  });
});

// Opens one connection of `user` on each streaming transport, listening to `ch`; resolves once all four
// are counted. Each has `ended`: a promise of how it ended.
async function connectEverywhere(node, user, ch) {
  const token = jwt({ sub: user, exp: inAnHour() });
  const sse = openSSE(`${node.url}/sub/${chanPath(ch)}?token=${token}`);
  assert.equal((await sse.response).status, 200);
  const longPoll = poll(node.url, ch, { wait: 30, query: `token=${token}` });
  const single = openWS(`${node.wsUrl}/sub/${chanPath(ch)}`, { headers: { Authorization: `Bearer ${token}` } });
  await single.opened;
  const mux = openWS(`${node.wsUrl}/ws`);
  await mux.opened;
  assert.equal((await mux.request({ op: 'auth', token })).op, 'authenticated');
  assert.equal((await mux.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
  return { sse, longPoll, single, mux };
}

// Every connection of `c` ended with `code`, each in its transport's form, telling the client not to come
// back.
async function assertAllEnded(c, code, closeCode) {
  const what = `${code} (${closeCode})`;
  await within(c.sse.ended, 5000, `SSE to end: ${what}`);
  const said = c.sse.events.items.find((e) => e.event === 'close');
  assert.deepEqual(said && JSON.parse(said.data).code, code);
  assert.equal(JSON.parse(said.data).reconnect, false);
  const answered = await within(c.longPoll, 5000, `the long poll to answer: ${what}`);
  assert.equal(answered.status, 403);
  assert.deepEqual([answered.body.error, answered.body.reconnect], [code, false]);
  assert.deepEqual(await within(c.single.closed, 5000, `/sub WebSocket to close: ${what}`), {
    code: closeCode,
    reason: code,
  });
  assert.equal((await within(c.mux.closed, 5000, `/ws to close: ${what}`)).code, closeCode);
  const frame = c.mux.frames.items.find((f) => f.op === 'close');
  assert.deepEqual([frame?.code, frame?.reconnect], [code, false]);
}

function serverApiTests(nodes) {
  test('POST /api/disconnect ends every connection of the user, and only theirs', async () => {
    const [a, b] = nodes();
    const ch = uniq('logout');
    const henry = await connectEverywhere(b, 'henry', ch);
    const other = openWS(`${b.wsUrl}/ws?token=${jwt({ sub: 'iris', exp: inAnHour() })}`);
    await other.opened;
    assert.equal((await other.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
    await waitForSubscribers(b.url, ch, { sse: 1, longpoll: 1, websocket: 3 });

    const done = await api(a.url, '/api/disconnect', { user: 'henry' });
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(done.json, { user: 'henry', disconnected: true });
    await assertAllEnded(henry, 'disconnected', 4003);
    await pub(a.url, ch, 'for iris');
    await other.frames.waitForItem((f) => f.op === 'message' && f.data === 'for iris');
    other.close();
  });

  test('POST /api/unsubscribe ends the user hearing one channel; the rest stays', async () => {
    const [a, b] = nodes();
    const ch = uniq('revoked');
    const kept = uniq('kept');
    const jack = await connectEverywhere(b, 'jack', ch);
    assert.equal((await jack.mux.request({ op: 'subscribe', channel: kept })).op, 'subscribed');
    await waitForSubscribers(b.url, ch, { sse: 1, longpoll: 1, websocket: 2 });

    const done = await api(a.url, '/api/unsubscribe', { user: 'jack', channel: ch });
    assert.equal(done.status, 200, done.text);
    const frame = await jack.mux.frames.waitForItem((f) => f.op === 'unsubscribed' && f.channel === ch);
    assert.deepEqual([frame.code, frame.reconnect], ['unsubscribed', false]);
    await within(jack.sse.ended, 5000, 'SSE to end');
    assert.equal(JSON.parse(jack.sse.events.items.find((e) => e.event === 'close').data).code, 'unsubscribed');
    assert.equal((await jack.longPoll).body.error, 'unsubscribed');
    assert.deepEqual(await jack.single.closed, { code: 4004, reason: 'unsubscribed' });
    // The /ws socket still hears its other channel, and no longer the revoked one.
    await pub(a.url, ch, 'not for jack');
    await pub(a.url, kept, 'for jack');
    await jack.mux.frames.waitForItem((f) => f.op === 'message' && f.data === 'for jack');
    assert.equal(wsMessages(jack.mux.frames.items, ch).length, 0);
    jack.mux.close();
  });

  test("GET /api/users/{user} counts the user's connections on every node, by transport", async () => {
    const [a, b] = nodes();
    const ch = uniq('counted');
    const lena = await connectEverywhere(b, 'lena', ch);
    const elsewhere = openWS(`${a.wsUrl}/ws?token=${jwt({ sub: 'lena', exp: inAnHour() })}`);
    await elsewhere.opened;
    assert.equal((await elsewhere.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
    await waitForSubscribers(b.url, ch, { sse: 1, longpoll: 1 });
    const listed = await request(`${a.url}/api/users/lena`, { headers: AUTH });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json, {
      user: 'lena',
      connections: { websocket: 3, sse: 1, longpoll: 1 },
      total: 5,
      nodes: a === b ? 1 : 2,
    });
    const nobody = await request(`${b.url}/api/users/${encodeURIComponent('no one')}`, { headers: AUTH });
    assert.deepEqual(nobody.json.connections, { websocket: 0, sse: 0, longpoll: 0 });
    assert.equal((await api(a.url, '/api/disconnect', { user: 'lena' })).status, 200);
    await assertAllEnded(lena, 'disconnected', 4003);
    await within(elsewhere.closed, 5000, 'the other node\'s socket to close');
  });

  test('GET /api/channels lists the channels with listeners on every node, a page at a time', async () => {
    const [a, b] = nodes();
    const prefix = `${uniq('listing')}:`;
    const sse = openSSE(`${b.url}/sub/${chanPath(`${prefix}a`)}`);
    assert.equal((await sse.response).status, 200);
    const onA = openWS(`${a.wsUrl}/ws`);
    await onA.opened;
    const onB = openWS(`${b.wsUrl}/ws`);
    await onB.opened;
    for (const [ws, ch] of [
      [onA, 'b'],
      [onA, 'c'],
      [onB, 'c'],
    ]) {
      assert.equal((await ws.request({ op: 'subscribe', channel: `${prefix}${ch}` })).op, 'subscribed');
    }
    const list = (query) => request(`${a.url}/api/channels?${query}`, { headers: AUTH });
    const first = await list(`prefix=${prefix}&limit=2`);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(
      first.json.channels.map((c) => [c.channel, c.total]),
      [
        [`${prefix}a`, 1],
        [`${prefix}b`, 1],
      ],
    );
    assert.deepEqual(first.json.channels[0].subscribers, { websocket: 0, sse: 1, longpoll: 0 });
    assert.equal(first.json.next, `${prefix}b`);
    const second = await list(`prefix=${prefix}&limit=2&after=${first.json.next}`);
    assert.deepEqual(second.json.channels, [
      { channel: `${prefix}c`, subscribers: { websocket: 2, sse: 0, longpoll: 0 }, total: 2 },
    ]);
    assert.equal(second.json.next, null);
    assert.equal((await list('limit=0')).json.error, 'bad_parameter');
    sse.close();
    onA.close();
    onB.close();
  });

  test('the server API needs a publish key and a well-formed body', async () => {
    const [a] = nodes();
    const anonymous = await request(`${a.url}/api/disconnect`, { method: 'POST', body: '{"user":"x"}' });
    assert.equal(anonymous.status, 401);
    const wrong = await request(`${a.url}/api/disconnect`, {
      method: 'POST',
      headers: { Authorization: 'Bearer nope' },
      body: '{"user":"x"}',
    });
    assert.equal(wrong.status, 403);
    assert.equal((await api(a.url, '/api/disconnect', {})).json.error, 'bad_request');
    assert.equal((await api(a.url, '/api/unsubscribe', { user: 'x', channel: 'no spaces' })).json.error, 'bad_channel');
    assert.equal((await request(`${a.url}/api/disconnect`, { headers: AUTH })).status, 405);
    assert.equal((await request(`${a.url}/api/users/x`)).status, 401);
    assert.equal((await request(`${a.url}/api/channels`)).status, 401);
    assert.equal((await request(`${a.url}/api/nothing`, { method: 'POST', headers: AUTH })).status, 404);
  });
}

describe('the server API on one node', () => {
  let herald;
  before(async () => {
    herald = await startHerald({ config: CONFIG });
  });
  after(() => herald.stop());
  serverApiTests(() => [herald, herald]);
});

// Two nodes sharing one store: in the Redis pass the pass's own (one Redis, or a Redis Cluster with
// HERALD_TEST_BROKER=redis-cluster, where the control channel and the per-user counts must cross the
// cluster), otherwise a Redis of their own.
async function twoNodes(config) {
  if (onRedisPass()) {
    const redisPrefix = `${uniq('nodes')}:`;
    return { nodes: [await startHerald({ config, redisPrefix }), await startHerald({ config, redisPrefix })] };
  }
  const redis = await startRedis();
  const first = await startHerald({ config: redisConfig(redis, config) });
  return { redis, nodes: [first, await startHerald({ config: redisConfig(redis, config) })] };
}

describe('the server API across two nodes on Redis', () => {
  let two;
  before(async () => {
    two = await twoNodes(CONFIG);
  });
  after(async () => {
    for (const node of two?.nodes ?? []) await node.stop();
    await two?.redis?.remove();
  });
  serverApiTests(() => two.nodes);
});

function perUserLimitTests(nodes) {
  test('frames sent right behind a /ws auth wait for its answer (the user\'s place is asked of the store)', async () => {
    const [a] = nodes();
    const mux = openWS(`${a.wsUrl}/ws`);
    await mux.opened;
    // Channels of an identified namespace, refused to an unidentified socket; sent in the same tick as the
    // auth frame, so they reach herald with it.
    const channels = Array.from({ length: 3 }, (_, i) => `team:${uniq(`behind-auth-${i}`)}`);
    const [said, ...subscribed] = await Promise.all([
      mux.request({ op: 'auth', token: jwt({ sub: 'olga', exp: inAnHour() }) }),
      ...channels.map((channel) => mux.request({ op: 'subscribe', channel })),
    ]);
    assert.equal(said.op, 'authenticated');
    for (const answer of subscribed) assert.equal(answer.op, 'subscribed', `behind the auth: ${JSON.stringify(answer)}`);
    mux.close();
  });

  test('max_connections_per_user holds across transports and nodes: 429, and 1013 on a /ws auth', async () => {
    const [a, b] = nodes();
    const ch = uniq('limited');
    const token = jwt({ sub: 'max', exp: inAnHour() });
    const first = openSSE(`${a.url}/sub/${chanPath(ch)}?token=${token}`);
    assert.equal((await first.response).status, 200);
    const second = openWS(`${b.wsUrl}/ws?token=${token}`);
    await second.opened;

    const third = openSSE(`${a.url}/sub/${chanPath(ch)}?token=${token}`);
    const refused = await third.response;
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error, 'user_connection_limit');
    const upgrade = openWS(`${b.wsUrl}/sub/${chanPath(ch)}?token=${token}`);
    await assert.rejects(upgrade.opened, (err) => err.status === 429);
    assert.equal((await poll(b.url, ch, { wait: 5, query: `token=${token}` })).status, 429);
    const mux = openWS(`${a.wsUrl}/ws`);
    await mux.opened;
    const said = await mux.request({ op: 'auth', token });
    assert.deepEqual([said.op, said.code], ['error', 'user_connection_limit']);
    assert.equal((await mux.closed).code, 1013);
    // An interval poll holds no connection; another user has places of their own.
    assert.equal((await poll(a.url, ch, { query: `token=${token}` })).status, 204);
    const other = openSSE(`${b.url}/sub/${chanPath(ch)}?token=${jwt({ sub: 'nina', exp: inAnHour() })}`);
    assert.equal((await other.response).status, 200);

    // A connection that ends gives its place back.
    await first.close();
    const again = await eventually(
      async () => {
        const tried = openWS(`${a.wsUrl}/ws?token=${token}`);
        try {
          await tried.opened;
          return tried;
        } catch {
          return false;
        }
      },
      { what: 'a place to come free' },
    );
    again.close();
    second.close();
    other.close();
  });
}

describe('the per-user connection limit on one node', () => {
  let herald;
  before(async () => {
    herald = await startHerald({ config: `${CONFIG}[limits]\nmax_connections_per_user = 2\n` });
  });
  after(() => herald.stop());
  perUserLimitTests(() => [herald, herald]);
});

describe('the per-user connection limit across two nodes on Redis', () => {
  let two;
  before(async () => {
    two = await twoNodes(`${CONFIG}[limits]\nmax_connections_per_user = 2\n`);
  });
  after(async () => {
    for (const node of two?.nodes ?? []) await node.stop();
    await two?.redis?.remove();
  });
  perUserLimitTests(() => two.nodes);
});
