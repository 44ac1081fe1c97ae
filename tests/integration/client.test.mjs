// The client package (clients/js) against the real binary: in Node (with the `ws` and `eventsource`
// packages injected) and, as packed by `npm pack` and installed into a scratch project, in Chromium.
// Many channels share one /ws socket, each resuming from its own cursor after the socket drops; a
// refused upgrade steps each channel down to SSE and back up to /ws; tokens are asked for and renewed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { connect } from '../../clients/js/src/herald.js';
import { launchBrowser, openDevice } from './lib/browser.mjs';
import { channelInfo, publish, repoRoot, request, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';

const WAIT = 10000;
const SECRET = 'the client tests secret';
const jwt = (claims) => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
};
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

let h;
before(async () => {
  h = await startHerald({
    config:
      `token_secret = ${JSON.stringify(SECRET)}\n[limits]\nws_max_message_bytes = 1024\n` +
      '[namespace.chat]\nclient_publish = true\npresence = true\n[namespace.private]\nprivate = true\n',
  });
});
after(() => h?.stop());

// The `ws` class, counting the sockets the client opens; `refuse` sends them nowhere (an upgrade refused).
function countingWebSocket() {
  const opened = [];
  const control = { refuse: false, opened };
  control.WebSocket = class extends WebSocket {
    constructor(url, ...rest) {
      super(control.refuse ? 'ws://127.0.0.1:1/' : url, ...rest);
      this.on('error', () => {});
      opened.push(this);
    }
  };
  return control;
}

// A subscription whose messages are collected; `until(n)` resolves once n have come.
function collect(client, channel, options = {}) {
  const got = [];
  const states = [];
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) if (w.test()) w.resolve();
  };
  const sub = client.subscribe(channel, {
    ...options,
    onMessage: (env) => {
      got.push(env);
      check();
    },
    onState: (s) => {
      states.push(s);
      check();
    },
  });
  const until = (test, what) =>
    within(
      new Promise((resolve) => {
        const w = { test, resolve: () => (waiters.splice(waiters.indexOf(w), 1), resolve()) };
        waiters.push(w);
        check();
      }),
      WAIT,
      `${channel}: ${what}`,
    );
  return {
    sub,
    got,
    states,
    until,
    messages: (n) => until(() => got.length >= n, `${n} messages (have ${got.length})`),
    heard: (test, what) => until(() => got.some(test), what),
    state: (state, transport) =>
      until(() => states.some((s) => s.state === state && (!transport || s.transport === transport)), `${state} ${transport ?? ''}`),
  };
}

// The client's next state `name`, from now on.
function nextClientState(client, name) {
  return within(
    new Promise((resolve) => {
      const off = client.on('state', (s) => {
        if (s.state === name) {
          off();
          resolve(s);
        }
      });
    }),
    WAIT,
    `client state ${name}`,
  );
}

describe('herald-client in Node', () => {
  it('listens to 20 channels over one socket and resumes each from its own cursor after a drop', async () => {
    const ws = countingWebSocket();
    // No EventSource, and patience: while the way to /ws is shut below, the client keeps trying it.
    const client = connect(h.url, { WebSocket: ws.WebSocket, backoffMs: 20, maxBackoffMs: 100, failuresBeforeDowngrade: 1000 });
    const channels = Array.from({ length: 20 }, () => uniq('many'));
    const subs = channels.map((ch) => collect(client, ch));
    await Promise.all(subs.map((s) => s.state('open', 'websocket')));
    for (const ch of channels) assert.deepEqual((await channelInfo(h.url, ch)).subscribers.websocket, 1);
    assert.equal(ws.opened.length, 1, 'one socket for 20 channels');

    const sent = new Map(channels.map((ch) => [ch, []]));
    const send = async (round) => {
      for (const ch of channels) sent.get(ch).push((await publish(h.url, ch, { ch, round }, { json: true })).json.id);
    };
    await send(1);
    await Promise.all(subs.map((s) => s.messages(1)));

    // A frame over ws_max_message_bytes: the server closes the socket (1009), and the way back is shut
    // until round 2 is published. It comes after the client resubscribes, from each channel's own cursor.
    const reconnecting = nextClientState(client, 'reconnecting');
    ws.opened[0].send('x'.repeat(2048));
    await reconnecting;
    ws.refuse = true;
    await send(2);
    const reopened = nextClientState(client, 'open');
    ws.refuse = false;
    await reopened;
    await send(3);
    await Promise.all(subs.map((s) => s.messages(3)));
    for (const [i, ch] of channels.entries()) {
      assert.deepEqual(subs[i].got.map((e) => e.id), sent.get(ch), `${ch}: every message once, in order`);
      assert.deepEqual(subs[i].got.map((e) => e.data.round), [1, 2, 3]);
    }
    assert.equal(ws.opened.filter((s) => s.url.endsWith('/ws')).length, 2, 'one new socket for all 20');
    client.close();
    for (const ch of channels) await waitForSubscribers(h.url, ch, { websocket: 0 });
  });

  it('steps each channel down to SSE when the upgrade is refused, and back up to /ws, losing and repeating nothing', async () => {
    const ws = countingWebSocket();
    ws.refuse = true;
    const client = connect(h.url, { WebSocket: ws.WebSocket, EventSource, backoffMs: 50, upgradeAfterMs: 1500 });
    const [a, b] = [uniq('down'), uniq('down')];
    const ids = { [a]: [], [b]: [] };
    const pub = async (ch, n) => ids[ch].push((await publish(h.url, ch, { n }, { json: true })).json.id);
    await pub(a, 1); // before: heard only with `last`
    const sa = collect(client, a, { last: 1 });
    const sb = collect(client, b);
    await Promise.all([sa.state('open', 'sse'), sb.state('open', 'sse')]);
    assert.equal(sa.states.find((s) => s.state === 'downgraded').from, 'websocket');
    await waitForSubscribers(h.url, a, { sse: 1 });
    await pub(a, 2);
    await pub(b, 2);
    await Promise.all([sa.messages(2), sb.messages(1)]);
    ws.refuse = false; // the way is open again: the next upgrade attempt gets through
    await Promise.all([sa.state('upgraded', 'websocket'), sb.state('upgraded', 'websocket')]);
    await waitForSubscribers(h.url, a, { websocket: 1, sse: 0 });
    await pub(a, 3);
    await pub(b, 3);
    await Promise.all([sa.messages(3), sb.messages(2)]);
    assert.deepEqual(sa.got.map((e) => e.id), ids[a]);
    assert.deepEqual(sb.got.map((e) => e.id), ids[b]);
    client.close();
  });

  it('publishes over the shared socket, reads presence, and ends a refused channel only', async () => {
    const client = connect(h.url, { WebSocket, EventSource });
    const room = uniq('chat:room');
    const s = collect(client, room, { client: 'tab1', name: 'Ann' });
    const bad = collect(client, 'no spaces allowed');
    await s.state('open', 'websocket');
    const closed = await bad.state('closed').then(() => bad.states.find((x) => x.state === 'closed'));
    assert.equal(closed.code, 'bad_channel');
    const sent = await s.sub.publish({ text: 'hi' }, { event: 'say' });
    assert.equal(sent.via, 'websocket');
    // Ann's own join may come first (with Redis, it can land after her subscription's cursor).
    await s.heard((e) => e.event === 'say', 'the message said');
    const heard = s.got.find((e) => e.event === 'say');
    assert.deepEqual([heard.id, heard.data], [sent.id, { text: 'hi' }]);
    const refused = await s.sub.publish('x', { event: 'bad event name!' }).catch((e) => e);
    assert.equal(refused.code, 'bad_event');
    const who = await s.sub.presence();
    assert.deepEqual([who.count, who.members], [1, [{ client: 'tab1', name: 'Ann' }]]);
    client.close();
  });

  it('asks getToken for private channels, and renews a token the server refuses', async () => {
    const asked = [];
    const client = connect(h.url, {
      WebSocket,
      EventSource,
      getToken: ({ channel, reason }) => {
        asked.push(reason);
        // The first token is already expired: herald refuses it and closes the socket (1008); the
        // client asks again and resubscribes with the new one.
        return jwt({ channels: [channel], exp: reason === 'initial' ? 1 : inAMinute() });
      },
    });
    const ch = uniq('private:room');
    const s = collect(client, ch);
    await s.state('open', 'websocket');
    assert.deepEqual(asked, ['initial', 'refused']);
    const id = (await publish(h.url, ch, { secret: true }, { json: true })).json.id;
    await s.messages(1);
    assert.equal(s.got[0].id, id);
    client.close();
  });
});

// What herald sends when it ends a connection or a subscription itself (docs/api.md, "When herald ends a
// connection"), and what the client makes of it: connection tokens that expire or are refreshed, a
// subscribe token that ends on a shared socket, and the server API's disconnect and unsubscribe.
describe('herald-client and the endings herald says', () => {
  const KEY = 'the client tests key';
  const AUTH = { Authorization: `Bearer ${KEY}` };
  const soon = (seconds) => Math.ceil(Date.now() / 1000) + seconds;
  let server;
  before(async () => {
    server = await startHerald({
      config:
        `token_secret = ${JSON.stringify(SECRET)}\npublish_key = ${JSON.stringify(KEY)}\n` +
        '[namespace.team]\nidentified = true\n[namespace.private]\nprivate = true\n',
    });
  });
  after(() => server?.stop());
  const pub = async (ch, body) => {
    const r = await publish(server.url, ch, body, { json: true, headers: AUTH });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  const api = (path, body) =>
    request(`${server.url}${path}`, {
      method: 'POST',
      headers: { ...AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('a connection token herald ends (4001) is renewed, and every channel resumes on a new socket, losing and repeating nothing', async () => {
    const ws = countingWebSocket();
    const asked = [];
    const client = connect(server.url, {
      WebSocket: ws.WebSocket,
      tokenScope: 'connection',
      backoffMs: 60000, // a failure would wait a long time: an expiry must not
      maxBackoffMs: 60000,
      getToken: ({ reason }) => {
        asked.push(reason);
        // The token service is down when the client tries to refresh: herald ends the socket at exp.
        if (reason === 'expiring') throw new Error('token service unavailable');
        return jwt({ sub: 'lee', exp: reason === 'initial' ? soon(2) : inAMinute() });
      },
    });
    const [a, b] = [uniq('team:a'), uniq('team:b')];
    const sa = collect(client, a);
    const sb = collect(client, b);
    await Promise.all([sa.state('open', 'websocket'), sb.state('open', 'websocket')]);
    const ids = { [a]: [await pub(a, 1)], [b]: [await pub(b, 1)] };
    await Promise.all([sa.messages(1), sb.messages(1)]);
    // Published while the socket is down: heard after the resubscribe, from each channel's cursor.
    const reconnecting = nextClientState(client, 'reconnecting');
    const reopened = nextClientState(client, 'open');
    const r = await reconnecting;
    assert.equal(r.delayMs, 0, 'at once');
    assert.match(r.reason, /4001/);
    ids[a].push(await pub(a, 2));
    ids[b].push(await pub(b, 2));
    await reopened;
    ids[a].push(await pub(a, 3));
    ids[b].push(await pub(b, 3));
    await Promise.all([sa.messages(3), sb.messages(3)]);
    assert.deepEqual(sa.got.map((e) => e.id), ids[a]);
    assert.deepEqual(sb.got.map((e) => e.id), ids[b]);
    assert.equal(ws.opened.length, 2);
    assert.deepEqual(asked.filter((x) => x !== 'expiring'), ['initial', 'expired']);
    assert.ok(![...sa.states, ...sb.states].some((s) => s.state === 'closed'));
    client.close();
  });

  it('a connection token refreshed on the socket keeps its one socket through several of its lifetimes', async () => {
    const ws = countingWebSocket();
    const asked = [];
    const at = [];
    const client = connect(server.url, {
      WebSocket: ws.WebSocket,
      tokenScope: 'connection',
      tokenVia: 'frame',
      getToken: ({ reason }) => {
        asked.push(reason);
        at.push(Date.now());
        return jwt({ sub: 'max', exp: soon(3) });
      },
    });
    const ch = uniq('team:r');
    const s = collect(client, ch);
    await s.state('open', 'websocket');
    const ids = [];
    // Published until the token has been refreshed twice (each lasting 2-3 s), 15 s at most.
    const until = Date.now() + 15000;
    while (asked.length < 3) {
      assert.ok(Date.now() < until, `getToken asked ${asked.length} times in 15 s`);
      ids.push(await pub(ch, ids.length));
      await s.messages(ids.length); // paced by the client hearing each
    }
    assert.deepEqual(asked, ['initial', 'expiring', 'expiring']);
    // Each token (2-3 s to live) is refreshed halfway through its life, not at once and in a loop.
    for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= 900, `refreshed ${at[i] - at[i - 1]} ms after the last`);
    ids.push(await pub(ch, ids.length));
    await s.messages(ids.length);
    assert.deepEqual(s.got.map((e) => e.id), ids);
    assert.equal(ws.opened.length, 1, 'never reconnected');
    client.close();
  });

  it("a private channel's subscribe token that herald ends is renewed and resubscribed on the same socket", async () => {
    const ws = countingWebSocket();
    const asked = [];
    const client = connect(server.url, {
      WebSocket: ws.WebSocket,
      backoffMs: 60000,
      maxBackoffMs: 60000,
      getToken: ({ channel, reason }) => {
        asked.push(reason);
        if (reason === 'expiring') throw new Error('token service unavailable');
        return jwt({ channels: [channel], exp: reason === 'initial' ? soon(2) : inAMinute() });
      },
    });
    const ch = uniq('private:t');
    const other = uniq('plain');
    const s = collect(client, ch);
    const o = collect(client, other, { getToken: () => null }); // a public channel: no token
    await Promise.all([s.state('open', 'websocket'), o.state('open', 'websocket')]);
    const ids = [await pub(ch, 1)];
    await s.messages(1);
    // herald's {"op":"unsubscribed","code":"token_expired"}: the client says so and subscribes again.
    await s.until(() => s.states.some((x) => x.state === 'reconnecting' && x.reason === 'token_expired'), 'the ending');
    ids.push(await pub(ch, 2));
    await s.messages(2);
    ids.push(await pub(ch, 3));
    await s.messages(3);
    assert.deepEqual(s.got.map((e) => e.id), ids);
    assert.deepEqual(asked.filter((x) => x !== 'expiring'), ['initial', 'expired']);
    assert.equal(ws.opened.length, 1, 'the same socket');
    assert.ok(!o.states.some((x) => x.state === 'reconnecting'), 'the other channel was not touched');
    client.close();
  });

  it("POST /api/unsubscribe ends that channel's subscription with its code; POST /api/disconnect ends the rest, and nothing comes back", async () => {
    const ws = countingWebSocket();
    const client = connect(server.url, {
      WebSocket: ws.WebSocket,
      tokenScope: 'connection',
      backoffMs: 20,
      getToken: () => jwt({ sub: 'ned', exp: inAMinute() }),
    });
    const [a, b, c] = [uniq('team:u'), uniq('team:u'), uniq('team:u')];
    const subs = [a, b, c].map((ch) => collect(client, ch));
    await Promise.all(subs.map((s) => s.state('open', 'websocket')));
    assert.equal((await api('/api/unsubscribe', { user: 'ned', channel: a })).status, 200);
    await subs[0].state('closed');
    assert.equal(subs[0].states.find((x) => x.state === 'closed').code, 'unsubscribed');
    const id = await pub(b, { still: 'here' });
    await subs[1].messages(1);
    assert.equal(subs[1].got[0].id, id);
    assert.equal((await api('/api/disconnect', { user: 'ned' })).status, 200);
    await Promise.all([subs[1].state('closed'), subs[2].state('closed')]);
    for (const s of subs.slice(1)) assert.equal(s.states.find((x) => x.state === 'closed').code, 'disconnected');
    assert.equal(client.subscriptions.size, 0);
    assert.equal(ws.opened.length, 1, 'one socket, not reopened');
    await waitForSubscribers(server.url, b, { websocket: 0 });
    client.close();
  });
});

describe('the packed package in Chromium', () => {
  let scratch;
  let server;
  let browser;
  before(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'herald-client-browser-'));
    const pkg = path.join(repoRoot, 'clients/js');
    const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: pkg, encoding: 'utf8' }));
    writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(scratch, info.filename)], {
      cwd: scratch,
    });
    writeFileSync(path.join(scratch, 'favicon.ico'), '');
    writeFileSync(path.join(scratch, 'index.html'), '<!doctype html><title>client</title><p>client</p>\n');
    // herald serves the scratch project: the page imports the package as installed.
    server = await startHerald({ root: scratch });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('imports the installed package and hears 20 channels over one WebSocket', async () => {
    const dev = await openDevice(browser, server.url, { name: 'page' });
    try {
      const { page } = dev;
      // Count the sockets the page opens.
      await page.addInitScript(() => {
        const Native = window.WebSocket;
        window.socketsOpened = [];
        window.WebSocket = class extends Native {
          constructor(url, protocols) {
            super(url, protocols);
            window.socketsOpened.push(url);
          }
        };
      });
      await page.goto('/index.html');
      const channels = Array.from({ length: 20 }, () => uniq('page'));
      await page.evaluate(async (chs) => {
        const { connect } = await import('/node_modules/herald-client/src/herald.js');
        const t = (window.t = { got: {}, open: new Set() });
        t.client = connect('/');
        for (const ch of chs) {
          t.got[ch] = [];
          t.client.subscribe(ch, {
            onMessage: (env) => t.got[ch].push(env.id),
            onState: (s) => s.state === 'open' && t.open.add(ch),
          });
        }
      }, channels);
      await page.waitForFunction((n) => t.open.size === n, channels.length, { timeout: WAIT });
      const ids = {};
      for (const ch of channels) ids[ch] = [(await publish(server.url, ch, { ch }, { json: true })).json.id];
      await page.waitForFunction((chs) => chs.every((ch) => t.got[ch].length === 1), channels, { timeout: WAIT });
      assert.deepEqual(await page.evaluate(() => t.got), ids);
      const sockets = await page.evaluate(() => window.socketsOpened);
      assert.equal(sockets.length, 1, `one socket: ${sockets.join(', ')}`);
      assert.match(sockets[0], /\/ws$/);
      assert.deepEqual(dev.errors, []);
    } finally {
      await dev.close();
    }
  });
});
