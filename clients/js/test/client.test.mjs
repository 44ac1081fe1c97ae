// herald-client against fake transports: what it sends, when it reconnects, how it steps down and back
// up, and what it does with tokens. The integration tests hold the same against the real server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, connect, subscribe, tokenExpiry } from '../src/herald.js';
import { Queue, envelope, fakeNetwork, pollAnswer } from './fakes.mjs';

const FAST = { backoffMs: 1, maxBackoffMs: 5, openTimeoutMs: 2000, upgradeAfterMs: 0 };

// A client on fake transports, with its states and each subscription's messages recorded.
function setup(options = {}) {
  const net = fakeNetwork();
  const states = new Queue('client states');
  const client = connect('http://herald.test/', {
    WebSocket: net.WebSocket,
    EventSource: net.EventSource,
    fetch: net.fetch,
    ...FAST,
    ...options,
  });
  client.on('state', (s) => states.push(s.state));
  return { net, client, states };
}

function listen(client, channel, options = {}) {
  const messages = new Queue(`${channel} messages`);
  const subStates = new Queue(`${channel} states`);
  const got = [];
  const sub = client.subscribe(channel, {
    ...options,
    onMessage: (env) => {
      got.push(env.id);
      messages.push(env);
    },
    onState: (s) => subStates.push(s),
  });
  return { sub, messages, subStates, got };
}

async function untilState(queue, state) {
  for (;;) {
    const s = await queue.next();
    if ((typeof s === 'string' ? s : s.state) === state) return s;
  }
}

// Answer a socket's next subscribe frame with `subscribed`; returns the frame.
async function acceptSubscribe(ws, { cursor = 'c.0', gap = false } = {}) {
  const frame = await ws.sent.next();
  assert.equal(frame.op, 'subscribe');
  ws.receive({ op: 'subscribed', channel: frame.channel, cursor, gap, ref: frame.ref });
  return frame;
}

describe('one WebSocket for every subscription', () => {
  it('subscribes 20 channels over one /ws socket, each message to its own subscription', async () => {
    const { net, client, states } = setup();
    const subs = Array.from({ length: 20 }, (_, i) => listen(client, `room:${i}`));
    const ws = await net.sockets.next();
    assert.equal(ws.url.pathname, '/ws');
    assert.equal(await states.next(), 'connecting');
    ws.open();
    assert.equal(await states.next(), 'open');
    const frames = [];
    for (let i = 0; i < 20; i++) frames.push(await acceptSubscribe(ws));
    assert.deepEqual(frames.map((f) => f.channel).sort(), subs.map((_, i) => `room:${i}`).sort());
    assert.equal(new Set(frames.map((f) => f.ref)).size, 20, 'each subscribe has its own ref');
    for (const s of subs) await untilState(s.subStates, 'open');

    ws.receive({ op: 'message', ...envelope('room:7', 1) });
    ws.receive({ op: 'message', ...envelope('room:3', 2) });
    const a = await subs[7].messages.next();
    const b = await subs[3].messages.next();
    assert.deepEqual(a, envelope('room:7', 1), 'the envelope without op');
    assert.deepEqual(b, envelope('room:3', 2));
    assert.equal(subs[0].messages.size, 0);
    assert.equal(net.all.sockets.length, 1);
    client.close();
    assert.equal(await untilState(states, 'closed'), 'closed');
  });

  it('resubscribes every channel from its own cursor after the socket drops', async () => {
    const { net, client, states } = setup();
    const a = listen(client, 'a', { since: 'c.1' });
    const b = listen(client, 'b', { last: 5 });
    const c = listen(client, 'c');
    const ws = await net.sockets.next();
    ws.open();
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await acceptSubscribe(ws, { cursor: 'c.9' }));
    const byChannel = Object.fromEntries(first.map((f) => [f.channel, f]));
    assert.equal(byChannel.a.since, 'c.1');
    assert.equal(byChannel.b.last, 5);
    assert.equal(byChannel.c.since, undefined);
    ws.receive({ op: 'message', ...envelope('a', 10) });
    ws.receive({ op: 'message', ...envelope('b', 11) });
    await a.messages.next();
    await b.messages.next();

    ws.drop(1006);
    assert.equal(await untilState(states, 'reconnecting'), 'reconnecting');
    const ws2 = await net.sockets.next();
    ws2.open();
    const again = {};
    for (let i = 0; i < 3; i++) {
      const f = await acceptSubscribe(ws2);
      again[f.channel] = f;
    }
    assert.equal(again.a.since, 'c.10', 'a resumes after its last message');
    assert.equal(again.b.since, 'c.11', 'b resumes after its last message');
    assert.equal(again.c.since, 'c.9', 'c resumes from the cursor its subscribed frame pinned');
    assert.equal(net.all.sockets.length, 2);
    client.close();
  });

  it('unsubscribes a channel on the socket and closes the socket with the last one', async () => {
    const { net, client, states } = setup();
    const a = listen(client, 'a');
    const b = listen(client, 'b');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws);
    await acceptSubscribe(ws);
    a.sub.unsubscribe();
    assert.deepEqual(await ws.sent.next(), { op: 'unsubscribe', channel: 'a' });
    ws.receive({ op: 'message', ...envelope('a', 3) }); // already on its way: dropped
    assert.equal(a.messages.size, 0);
    assert.equal(ws.closedByClient, undefined);
    b.sub.unsubscribe();
    assert.equal(await untilState(states, 'idle'), 'idle');
    assert.equal(ws.closedByClient, true);
    assert.equal(client.subscriptions.size, 0);
  });

  it('publishes over the shared socket and resolves on the published frame', async () => {
    const { net, client } = setup();
    const { sub } = listen(client, 'chat:x');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws);
    const sent = sub.publish({ text: 'hi' }, { event: 'say' });
    const frame = await ws.sent.next();
    assert.deepEqual({ ...frame, ref: undefined }, { op: 'publish', channel: 'chat:x', data: { text: 'hi' }, event: 'say', ref: undefined });
    ws.receive({ op: 'published', channel: 'chat:x', id: 'c.4', ref: frame.ref });
    assert.deepEqual(await sent, { id: 'c.4', via: 'websocket' });
    const refused = sub.publish('x');
    const f2 = await ws.sent.next();
    ws.receive({ op: 'error', code: 'forbidden', message: 'no', ref: f2.ref });
    await assert.rejects(refused, (err) => err.code === 'forbidden');
    client.close();
  });

  it('ends a subscription the server refuses, and only that one', async () => {
    const { net, client } = setup();
    const a = listen(client, 'a');
    const b = listen(client, 'bad channel');
    const ws = await net.sockets.next();
    ws.open();
    const frames = [await ws.sent.next(), await ws.sent.next()];
    const bad = frames.find((f) => f.channel === 'bad channel');
    const good = frames.find((f) => f.channel === 'a');
    ws.receive({ op: 'error', code: 'bad_channel', message: 'no spaces', ref: bad.ref });
    const closed = await untilState(b.subStates, 'closed');
    assert.equal(closed.code, 'bad_channel');
    assert.equal(b.sub.closed, true);
    ws.receive({ op: 'subscribed', channel: 'a', cursor: 'c.1', gap: false, ref: good.ref });
    await untilState(a.subStates, 'open');
    assert.equal(a.sub.closed, false);
    client.close();
  });
});

describe('stepping down and back up, per channel', () => {
  it('steps down to SSE when the upgrade is refused, and back to /ws later, without a repeat or a loss', async () => {
    const { net, client } = setup({ upgradeAfterMs: 30 });
    const s = listen(client, 'news', { since: 'c.1' });
    const ws = await net.sockets.next();
    ws.drop(1006); // refused before it opened
    // The subscription asks the server why with one poll: it answers, so WebSocket is what fails.
    const probe = await net.requests.next();
    assert.equal(probe.url.pathname, '/sub/news');
    assert.equal(probe.url.searchParams.get('since'), 'c.1');
    probe.respond(...pollAnswer('news', [envelope('news', 2)]));
    const down = await untilState(s.subStates, 'downgraded');
    assert.equal(down.from, 'websocket');
    const es = await net.streams.next();
    assert.equal(es.url.pathname, '/sub/news');
    assert.equal(es.url.searchParams.get('since'), 'c.2');
    assert.equal(es.url.searchParams.get('format'), 'envelope');
    es.open();
    es.receive(envelope('news', 3));
    await s.messages.next();
    await s.messages.next();
    // Later: /ws again, from the cursor SSE left.
    const ws2 = await net.sockets.next(5000);
    assert.equal(es.closed, true, 'one connection at a time');
    es.receive(envelope('news', 99)); // a dead stream delivers nothing
    ws2.open();
    const frame = await acceptSubscribe(ws2);
    assert.equal(frame.since, 'c.3');
    await untilState(s.subStates, 'upgraded');
    ws2.receive({ op: 'message', ...envelope('news', 4) });
    await s.messages.next();
    assert.deepEqual(s.got, ['c.2', 'c.3', 'c.4']);
    client.close();
  });

  it('starts at long poll where neither WebSocket nor EventSource exists', async () => {
    const net = fakeNetwork();
    const states = [];
    const sub = subscribe('http://herald.test/sub/x', {
      fetch: net.fetch,
      WebSocket: null,
      EventSource: null,
      ...FAST,
      since: 'c.1',
      onState: (s) => states.push(s.transport),
    });
    assert.equal(sub.transport, 'longpoll');
    const first = await net.requests.next();
    assert.equal(first.url.searchParams.get('wait'), null, "a long poll's first request does not wait");
    first.respond(...pollAnswer('x', []));
    const held = await net.requests.next();
    assert.equal(held.url.searchParams.get('wait'), '25');
    sub.close();
  });

  it('honours Retry-After when the server says later', async () => {
    const net = fakeNetwork();
    const states = new Queue('states');
    const sub = subscribe('http://herald.test/sub/x', {
      fetch: net.fetch,
      WebSocket: null,
      EventSource: null,
      transport: 'poll',
      backoffMs: 1,
      maxBackoffMs: 5,
      since: 'c.1',
      onState: (s) => states.push(s),
    });
    (await net.requests.next()).respond(429, { error: 'rate_limited', message: 'slow down' }, { 'Retry-After': '2' });
    const s = await untilState(states, 'reconnecting');
    assert.ok(s.delayMs >= 2000, `waits what the server asked (${s.delayMs} ms)`);
    sub.close();
  });
});

describe('backoff', () => {
  it('is full jitter: anywhere from zero to the capped exponential', () => {
    const opt = { backoffMs: 100, maxBackoffMs: 1000 };
    assert.equal(backoffDelay(0, opt, 0, () => 0), 0);
    assert.equal(backoffDelay(0, opt, 0, () => 0.999), 99);
    assert.equal(backoffDelay(3, opt, 0, () => 0.5), 400);
    assert.equal(backoffDelay(20, opt, 0, () => 0.999), 999, 'capped');
    assert.equal(backoffDelay(0, opt, 5000, () => 0.5), 5000, "the server's hint is a floor");
  });
});

// A JWT-shaped token (unsigned: the client only reads `exp`).
const jwt = (claims) => `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, '')}.sig`;

describe('tokens', () => {
  it('reads the expiry of a JWT', () => {
    assert.equal(tokenExpiry(jwt({ exp: 100 })), 100000);
    assert.equal(tokenExpiry('opaque'), undefined);
  });

  it('sends each channel its token, and renews it when the server refuses it as expired', async () => {
    const asked = [];
    let n = 0;
    const { net, client } = setup({
      getToken: ({ channel, reason }) => {
        asked.push([channel, reason]);
        return `t${++n}`;
      },
    });
    const s = listen(client, 'private:a');
    const ws = await net.sockets.next();
    ws.open();
    const first = await ws.sent.next();
    assert.equal(first.token, 't1');
    ws.receive({ op: 'error', code: 'token_expired', message: 'expired', ref: first.ref });
    const second = await acceptSubscribe(ws);
    assert.equal(second.token, 't2');
    await untilState(s.subStates, 'open');
    assert.deepEqual(asked, [
      ['private:a', 'initial'],
      ['private:a', 'refused'],
    ]);
    client.close();
  });

  it('renews a token that is about to expire before it resubscribes with it', async () => {
    let n = 0;
    const soon = () => Math.floor(Date.now() / 1000) + 5; // within the 30 s margin
    const { net, client } = setup({ getToken: () => jwt({ exp: soon(), n: ++n }) });
    listen(client, 'private:b');
    const ws = await net.sockets.next();
    ws.open();
    const first = await acceptSubscribe(ws);
    ws.drop(1006);
    const ws2 = await net.sockets.next();
    ws2.open();
    const second = await acceptSubscribe(ws2);
    assert.notEqual(first.token, second.token);
    assert.equal(n, 2);
    client.close();
  });

  it('connection tokens: ?token= on /ws; when herald ends it (close frame, 4001) a new token and every channel resumes at once', async () => {
    const asked = [];
    let n = 0;
    const { net, client } = setup({
      tokenScope: 'connection',
      backoffMs: 60000, // a failure would wait: the expiry must not
      maxBackoffMs: 60000,
      getToken: ({ channel, reason }) => {
        asked.push([channel, reason]);
        return `conn${++n}`;
      },
    });
    const states = new Queue('client states');
    client.on('state', (s) => states.push(s));
    const a = listen(client, 'a');
    const b = listen(client, 'b');
    const ws = await net.sockets.next();
    assert.equal(ws.url.searchParams.get('token'), 'conn1');
    ws.open();
    const sub = await acceptSubscribe(ws, { cursor: 'c.1' });
    assert.equal(sub.token, undefined, 'the connection carries the token, not each subscribe');
    await acceptSubscribe(ws, { cursor: 'c.1' });
    ws.receive({ op: 'message', ...envelope('a', 5) });
    await a.messages.next();
    // What herald sends when the connection token reaches its exp (docs/api.md).
    ws.receive({ op: 'close', code: 'token_expired', message: 'The connection token expired.', reconnect: true });
    ws.drop(4001, 'token_expired');
    const r = await untilState(states, 'reconnecting');
    assert.equal(r.delayMs, 0, 'at once: an expiry is not a failure');
    const ws2 = await net.sockets.next();
    assert.equal(ws2.url.searchParams.get('token'), 'conn2');
    ws2.open();
    const again = {};
    for (let i = 0; i < 2; i++) {
      const f = await acceptSubscribe(ws2);
      again[f.channel] = f;
    }
    assert.equal(again.a.since, 'c.5');
    assert.equal(again.b.since, 'c.1');
    assert.deepEqual(asked, [
      [undefined, 'initial'],
      [undefined, 'expired'],
    ]);
    assert.equal(a.sub.closed || b.sub.closed, false);
    client.close();
  });

  it('connection tokens: refreshed on the socket ({"op":"refresh"}) before they expire', async () => {
    let n = 0;
    const exp = () => Math.floor(Date.now() / 1000) + 3; // within the margin: refreshed at half its life
    const { net, client } = setup({ tokenScope: 'connection', getToken: () => jwt({ sub: 'kim', exp: exp(), n: ++n }) });
    listen(client, 'a');
    const ws = await net.sockets.next();
    ws.open();
    const openedAt = Date.now();
    await acceptSubscribe(ws);
    const refresh = await ws.sent.next(5000);
    assert.equal(refresh.op, 'refresh');
    assert.equal(refresh.channel, undefined);
    // exp is 2-3 s away: refreshed at half its life, not at once (and then again, in a loop).
    assert.ok(Date.now() - openedAt >= 900, `refreshed after ${Date.now() - openedAt} ms`);
    assert.equal(JSON.parse(atob(refresh.token.split('.')[1])).n, 2);
    client.close();
  });

  it('a disconnect (close frame, 4003) ends every subscription with its code, and nothing comes back', async () => {
    const { net, client, states } = setup({ tokenScope: 'connection', getToken: () => 'c1' });
    const a = listen(client, 'a');
    const b = listen(client, 'b');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws);
    await acceptSubscribe(ws);
    ws.receive({ op: 'close', code: 'disconnected', message: 'Disconnected by the application.', reconnect: false });
    ws.drop(4003, 'disconnected');
    for (const s of [a, b]) {
      const closed = await untilState(s.subStates, 'closed');
      assert.equal(closed.code, 'disconnected');
      assert.equal(closed.message, 'Disconnected by the application.');
    }
    assert.equal(await untilState(states, 'idle'), 'idle');
    assert.equal(client.subscriptions.size, 0, 'nothing left to reconnect');
    assert.equal(net.all.sockets.length, 1);
    client.close();
  });

  it("connection tokens with tokenVia 'frame': an auth frame first, the subscribes once herald says authenticated", async () => {
    const { net, client } = setup({ tokenScope: 'connection', tokenVia: 'frame', getToken: () => 'c1' });
    listen(client, 'a');
    const ws = await net.sockets.next();
    assert.equal(ws.url.searchParams.get('token'), null);
    ws.open();
    const auth = await ws.sent.next();
    assert.deepEqual({ ...auth, ref: undefined }, { op: 'auth', token: 'c1', ref: undefined });
    await new Promise((resolve) => setImmediate(resolve)); // whatever the client had to send now, it has
    assert.equal(ws.sent.size, 0, 'no subscribe before the socket is identified');
    ws.receive({ op: 'authenticated', user: 'kim', expires_at: 0, ref: auth.ref });
    assert.equal((await ws.sent.next()).op, 'subscribe');
    client.close();
  });

  it("an auth frame's token refused is renewed once; refused again, the subscriptions end with herald's code", async () => {
    const asked = [];
    const { net, client } = setup({
      tokenScope: 'connection',
      tokenVia: 'frame',
      getToken: ({ reason }) => (asked.push(reason), `c${asked.length}`),
    });
    const s = listen(client, 'a');
    for (let i = 0; i < 2; i++) {
      const ws = await net.sockets.next();
      ws.open();
      const auth = await ws.sent.next();
      assert.equal(auth.token, `c${i + 1}`);
      ws.receive({ op: 'error', code: 'bad_token', message: 'The token is not valid.', ref: auth.ref });
      ws.drop(1008, 'bad_token');
    }
    const closed = await untilState(s.subStates, 'closed');
    assert.equal(closed.code, 'bad_token');
    assert.deepEqual(asked, ['initial', 'refused']);
    client.close();
  });

  it('a subscribe token that herald ends ({"op":"unsubscribed","code":"token_expired"}) is renewed, and that channel alone resubscribes', async () => {
    const asked = [];
    const { net, client } = setup({
      getToken: ({ channel, reason }) => {
        asked.push([channel, reason]);
        return `${channel}#${asked.length}`;
      },
    });
    const a = listen(client, 'private:a');
    const b = listen(client, 'private:b');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws, { cursor: 'c.1' });
    await acceptSubscribe(ws, { cursor: 'c.1' });
    ws.receive({ op: 'message', ...envelope('private:a', 2) });
    await a.messages.next();
    ws.receive({ op: 'unsubscribed', channel: 'private:a', code: 'token_expired', message: 'expired', reconnect: true });
    const again = await acceptSubscribe(ws);
    assert.equal(again.channel, 'private:a');
    assert.equal(again.since, 'c.2');
    assert.equal(again.token, 'private:a#3');
    assert.deepEqual(asked.at(-1), ['private:a', 'expired']);
    await untilState(a.subStates, 'open');
    assert.equal(net.all.sockets.length, 1, 'on the same socket');
    assert.equal(b.sub.closed, false);
    client.close();
  });

  it('a channel unsubscribed through the server API ({"op":"unsubscribed","reconnect":false}) ends, and only it', async () => {
    const { net, client } = setup();
    const a = listen(client, 'a');
    const b = listen(client, 'b');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws);
    await acceptSubscribe(ws);
    ws.receive({ op: 'unsubscribed', channel: 'a', code: 'unsubscribed', message: 'Unsubscribed by the application.', reconnect: false });
    const closed = await untilState(a.subStates, 'closed');
    assert.equal(closed.code, 'unsubscribed');
    assert.equal(b.sub.closed, false);
    assert.equal(ws.sent.size, 0, 'nothing to unsubscribe: herald dropped it');
    ws.receive({ op: 'unsubscribed', channel: 'b' }); // the answer to an unsubscribe of ours: no code, no ending
    assert.equal(b.sub.closed, false);
    client.close();
  });

  it('a subscribe token is refreshed on the socket ({"op":"refresh","channel"}) before it expires', async () => {
    let n = 0;
    const exp = () => Math.floor(Date.now() / 1000) + 3;
    const { net, client } = setup({ getToken: ({ channel }) => jwt({ channels: [channel], exp: exp(), n: ++n }) });
    listen(client, 'private:c');
    const ws = await net.sockets.next();
    ws.open();
    await acceptSubscribe(ws);
    const refresh = await ws.sent.next(5000);
    assert.equal(refresh.op, 'refresh');
    assert.equal(refresh.channel, 'private:c');
    assert.equal(JSON.parse(atob(refresh.token.split('.')[1])).n, 2);
    client.close();
  });

  it('asks getToken again after it threw (at once, not from a promise)', async () => {
    const net = fakeNetwork();
    let n = 0;
    const sub = subscribe('http://herald.test/sub/private:x', {
      fetch: net.fetch,
      WebSocket: null,
      EventSource: null,
      ...FAST,
      transport: 'poll',
      getToken: () => {
        if (++n === 1) throw new Error('token service unavailable');
        return 't2';
      },
    });
    const poll = await net.requests.next();
    assert.equal(poll.url.searchParams.get('token'), 't2');
    assert.equal(n, 2);
    sub.close();
  });

  it('connection tokens go as ?token= on a channel stepped down to /sub', async () => {
    const { net, client } = setup({ tokenScope: 'connection', getToken: () => 'conn1' });
    listen(client, 'a', { since: 'c.1' });
    (await net.sockets.next()).drop(1006); // the upgrade refused
    const probe = await net.requests.next();
    assert.equal(probe.url.pathname, '/sub/a');
    assert.equal(probe.url.searchParams.get('token'), 'conn1');
    probe.respond(...pollAnswer('a', []));
    const es = await net.streams.next();
    assert.equal(es.url.searchParams.get('token'), 'conn1');
    client.close();
  });
});

// subscribe(url): one /sub URL with a connection of its own, on each transport's way of ending it.
describe('herald ending a /sub subscription', () => {
  const single = (net, transport, options = {}) => {
    const asked = [];
    const states = new Queue(`${transport} states`);
    const sub = subscribe('http://herald.test/sub/team:x', {
      WebSocket: net.WebSocket,
      EventSource: net.EventSource,
      fetch: net.fetch,
      ...FAST,
      backoffMs: 60000,
      maxBackoffMs: 60000,
      transport,
      since: 'c.1',
      getToken: ({ reason }) => (asked.push(reason), `t${asked.length}`),
      onState: (s) => states.push(s),
      ...options,
    });
    return { sub, asked, states };
  };

  it('websocket: 4001 asks for a new token and reconnects at once; 4003 closes it with its code', async () => {
    const net = fakeNetwork();
    const { sub, asked, states } = single(net, 'websocket');
    const ws = await net.sockets.next();
    assert.equal(ws.url.searchParams.get('token'), 't1');
    ws.open();
    ws.receive(envelope('team:x', 2));
    ws.drop(4001, 'token_expired');
    const ws2 = await net.sockets.next();
    assert.equal(ws2.url.searchParams.get('token'), 't2');
    assert.equal(ws2.url.searchParams.get('since'), 'c.2');
    assert.deepEqual(asked, ['initial', 'expired']);
    ws2.open();
    ws2.drop(4003, 'disconnected');
    const closed = await untilState(states, 'closed');
    assert.equal(closed.code, 'disconnected');
    assert.equal(sub.closed, true);
  });

  it('sse: a {"close":…} line with token_expired reconnects with a new token; reconnect false closes it', async () => {
    const net = fakeNetwork();
    const { sub, asked, states } = single(net, 'sse');
    const es = await net.streams.next();
    es.open();
    es.receive(envelope('team:x', 3));
    es.receive({ close: { channel: 'team:x', code: 'token_expired', message: 'expired', reconnect: true } });
    const es2 = await net.streams.next();
    assert.equal(es.closed, true);
    assert.equal(es2.url.searchParams.get('token'), 't2');
    assert.equal(es2.url.searchParams.get('since'), 'c.3');
    assert.deepEqual(asked, ['initial', 'expired']);
    es2.open();
    es2.receive({ close: { channel: 'team:x', code: 'unsubscribed', message: 'bye', reconnect: false } });
    const closed = await untilState(states, 'closed');
    assert.equal(closed.code, 'unsubscribed');
    assert.equal(sub.closed, true);
  });

  it("long poll: a held poll's 401 token_expired renews the token; 403 disconnected closes it", async () => {
    const net = fakeNetwork();
    const { sub, asked, states } = single(net, 'longpoll');
    (await net.requests.next()).respond(...pollAnswer('team:x', [], 'c.1'));
    const held = await net.requests.next();
    assert.equal(held.url.searchParams.get('token'), 't1');
    held.respond(401, { error: 'token_expired', message: 'expired', reconnect: true }, { 'Herald-Cursor': 'c.1' });
    const next = await net.requests.next();
    assert.equal(next.url.searchParams.get('token'), 't2');
    assert.deepEqual(asked, ['initial', 'refused']);
    next.respond(...pollAnswer('team:x', [], 'c.1'));
    (await net.requests.next()).respond(403, { error: 'disconnected', message: 'bye', reconnect: false });
    const closed = await untilState(states, 'closed');
    assert.equal(closed.code, 'disconnected');
    assert.equal(sub.closed, true);
  });
});
