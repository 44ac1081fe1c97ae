// Trusting nobody by address (docs/security.md, "Trust"): behind a reverse proxy on the same host every
// client arrives from loopback, and a page can point a name it controls at 127.0.0.1 (DNS rebinding). Here a
// real nginx runs in front of herald on this machine, as docs/scaling.md deploys it, and clients come from
// several loopback addresses (127.0.0.2, 127.0.0.3: other machines, as far as nginx can tell).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';

import { send, startHerald, uniq } from './lib/herald.mjs';
import { ALICE, LOGIN_KEY_CONFIG, NO_LIMITS } from './lib/login.mjs';
import { startProxy } from './lib/proxy.mjs';

const json = { 'Content-Type': 'application/json' };

// POST /login/start as a browser on `base` would (same-origin), from `localAddress`; `origin: null` sends no
// Origin (a script, not a browser).
function startLogin(base, localAddress, headers = {}, { origin = base } = {}) {
  return send(`${base}/login/start`, {
    method: 'POST',
    headers: { ...(origin ? { Origin: origin } : {}), ...headers },
    localAddress,
  });
}

// A WebSocket upgrade's outcome: 101, or the refusal's status.
function upgrade(url, headers) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode);
    });
    ws.once('error', () => resolve('error'));
  });
}

describe('a reverse proxy on the same host', () => {
  let h;
  let proxied; // with X-Forwarded-For and X-Real-IP
  let bare; // forwarding nothing, Host rewritten to herald's own address (nginx's default)
  before(async () => {
    h = await startHerald({ users: [ALICE], login: NO_LIMITS });
    proxied = await startProxy(h.url);
    bare = await startProxy(h.url, { forwardFor: false, host: '$proxy_host' });
  });
  after(async () => {
    await proxied?.stop();
    await bare?.stop();
    await h?.stop();
  });

  it('nobody approves a login server-to-server without a key, through the proxy or not', async () => {
    for (const base of [proxied.url, bare.url, h.url]) {
      const start = await startLogin(base, '127.0.0.2', {}, { origin: base === bare.url ? null : base });
      assert.equal(start.status, 201, start.text);
      const r = await send(`${base}/api/login/approve`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ user: 'alice', id: start.json.id }),
      });
      assert.equal(r.status, 401, `via ${base}: ${r.text}`);
      assert.equal(r.json?.error, 'unauthorized');
      const cookie = start.headers.getSetCookie()[0].split(';')[0];
      const exchange = await send(`${base}/login/exchange`, { method: 'POST', headers: { Cookie: cookie } });
      assert.equal(exchange.status, 409, `no session for anyone: ${exchange.text}`);
    }
  });

  it('forwarded requests get no loopback trust: no keyless publish, no metrics', async () => {
    const channel = uniq('trust');
    const pub = await send(`${proxied.url}/pub/${channel}`, { method: 'POST', headers: json, body: '{"x":1}' });
    assert.equal(pub.status, 403, pub.text);
    const metrics = await send(`${proxied.url}/metrics`);
    assert.equal(metrics.status, 401, metrics.text);
    assert.equal(await upgrade(`ws://127.0.0.1:${proxied.port}/metrics/feed`), 401);
    // A client that writes the headers itself is no more trusted.
    const forged = await send(`${h.url}/pub/${channel}`, {
      method: 'POST',
      headers: { ...json, 'X-Real-IP': '127.0.0.1' },
      body: '{"x":1}',
    });
    assert.equal(forged.status, 403, forged.text);
    // The same from this machine, directly: the demo's loopback_publish still works.
    const direct = await send(`${h.url}/pub/${channel}`, { method: 'POST', headers: json, body: '{"x":1}' });
    assert.equal(direct.status, 201, direct.text);
    assert.equal((await send(`${h.url}/metrics`)).status, 200);
  });
});

describe('trusted_proxies: the forwarded client is the one limits count', () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));

  async function setUp(trusted) {
    const h = await startHerald({
      config: `${trusted ? 'trusted_proxies = ["127.0.0.1/32"]\n' : ''}[limits]\nmax_connections_per_ip = 2`,
      login: 'starts_per_minute = 2',
    });
    const proxy = await startProxy(h.url);
    servers.push(proxy, h);
    return { h, proxy };
  }

  it('login starts: one client through the proxy cannot lock out the others', async () => {
    const { proxy } = await setUp(true);
    for (let i = 0; i < 2; i++) assert.equal((await startLogin(proxy.url, '127.0.0.2')).status, 201);
    const third = await startLogin(proxy.url, '127.0.0.2');
    assert.equal(third.status, 429, third.text);
    // A header the client wrote is not believed: nginx appends the address it saw, and that is the one.
    const spoofed = await startLogin(proxy.url, '127.0.0.2', { 'X-Forwarded-For': '203.0.113.9' });
    assert.equal(spoofed.status, 429, `a spoofed X-Forwarded-For: ${spoofed.text}`);
    const other = await startLogin(proxy.url, '127.0.0.3');
    assert.equal(other.status, 201, `another client through the same proxy: ${other.text}`);
  });

  it("a trusted proxy's requests are never this machine's, even when it forwards nothing", async () => {
    const { h } = await setUp(true);
    const bare = await startProxy(h.url, { forwardFor: false, host: '$proxy_host' });
    servers.unshift(bare);
    const pub = await send(`${bare.url}/pub/${uniq('bare')}`, { method: 'POST', headers: json, body: '{}' });
    assert.equal(pub.status, 403, pub.text);
  });

  it('without trusted_proxies every client behind the proxy shares its bucket (what the setting is for)', async () => {
    const { proxy } = await setUp(false);
    for (let i = 0; i < 2; i++) assert.equal((await startLogin(proxy.url, '127.0.0.2')).status, 201);
    assert.equal((await startLogin(proxy.url, '127.0.0.3')).status, 429);
  });

  it('connections per address count the forwarded client, not the proxy', async () => {
    const { h, proxy } = await setUp(true);
    const channel = uniq('conn');
    const open = [];
    try {
      const sse = (localAddress) =>
        new Promise((resolve, reject) => {
          const headers = { Accept: 'text/event-stream' };
          const req = http.get(`${proxy.url}/sub/${channel}`, { headers, localAddress, agent: false }, (res) => {
            open.push(req);
            resolve(res.statusCode);
            if (res.statusCode !== 200) res.resume();
          });
          req.on('error', reject);
        });
      assert.equal(await sse('127.0.0.2'), 200);
      assert.equal(await sse('127.0.0.2'), 200);
      assert.equal(await sse('127.0.0.2'), 429, 'a third stream of one client through the proxy');
      assert.equal(await sse('127.0.0.3'), 200, 'another client through the same proxy');
      assert.equal((await send(`${h.url}/healthz`)).status, 200, 'herald itself still takes connections');
    } finally {
      for (const req of open) req.destroy();
    }
  });
});

describe("DNS rebinding: only the server's own host names are trusted", () => {
  let h;
  before(async () => {
    h = await startHerald({ config: 'allowed_hosts = ["push.test"]\n[namespace.chat]\nclient_publish = true' });
  });
  after(() => h?.stop());

  it('a rebound name gets no loopback trust and is not same-origin', async () => {
    const rebound = `evil.example:${h.port}`;
    const page = `http://${rebound}`;
    const channel = uniq('rebind');
    const pub = await send(`${h.url}/pub/${channel}`, {
      method: 'POST',
      headers: { ...json, Host: rebound, Origin: page },
      body: '{"x":1}',
    });
    assert.equal(pub.status, 403, pub.text);
    const metrics = await send(`${h.url}/metrics`, { headers: { Host: rebound } });
    assert.equal(metrics.status, 401, metrics.text);
    assert.equal(await upgrade(`${h.wsUrl}/metrics/feed`, { Host: rebound, Origin: page }), 401);
    assert.equal(await upgrade(`${h.wsUrl}/ws`, { Host: rebound, Origin: page }), 403);
    const chat = await send(`${h.url}/pub/chat:${channel}`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Host: rebound, Origin: page },
      body: 'hi',
    });
    assert.equal(chat.status, 403, `a rebound page publishing as a client: ${chat.text}`);
  });

  it("the server's own names keep working: localhost, its addresses, allowed_hosts", async () => {
    for (const host of [`localhost:${h.port}`, `127.0.0.1:${h.port}`, `push.test:${h.port}`, `[::1]:${h.port}`]) {
      const pub = await send(`${h.url}/pub/${uniq('own')}`, { method: 'POST', headers: { ...json, Host: host }, body: '{}' });
      assert.equal(pub.status, 201, `Host ${host}: ${pub.text}`);
      assert.equal(await upgrade(`${h.wsUrl}/ws`, { Host: host, Origin: `http://${host}` }), 101, `Host ${host}`);
    }
  });
});
