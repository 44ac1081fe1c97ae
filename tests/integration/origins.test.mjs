// Browsers and origins: WebSocket upgrades from another site are refused unless listed (cross-site
// WebSocket hijacking), listed origins get CORS headers on every HTTP transport, preflights are answered.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startHerald, uniq, publish, within } from './lib/herald.mjs';

let herald;
before(async () => {
  herald = await startHerald({ config: 'allowed_origins = ["https://app.example"]' });
});
after(() => herald.stop());

function upgrade(path, origin) {
  return within(
    new Promise((resolve) => {
      const ws = new WebSocket(herald.wsUrl + path, origin ? { origin } : {});
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('error', () => {});
    }),
    5000,
    `upgrade ${path} from ${origin}`,
  );
}

test('WebSocket upgrades: own, listed and absent origins pass; a foreign one is refused 403', async () => {
  const ch = uniq();
  const own = `http://127.0.0.1:${herald.port}`;
  for (const path of [`/sub/${ch}`, '/ws']) {
    assert.equal(await upgrade(path, own), 101, `${path} same origin`);
    assert.equal(await upgrade(path, 'https://app.example'), 101, `${path} listed origin`);
    assert.equal(await upgrade(path, undefined), 101, `${path} no Origin (not a browser)`);
    assert.equal(await upgrade(path, 'https://evil.example'), 403, `${path} foreign origin`);
  }
});

test('a listed origin gets CORS headers on poll, long poll and SSE answers; a foreign one does not', async () => {
  const ch = uniq();
  await publish(herald.url, ch, 'x');
  const poll = await fetch(`${herald.url}/sub/${ch}?last=1`, { headers: { Origin: 'https://app.example' } });
  assert.equal(poll.status, 200);
  assert.equal(poll.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(poll.headers.get('access-control-expose-headers'), /Herald-Cursor/);
  assert.equal(poll.headers.get('vary'), 'Origin');
  await poll.arrayBuffer();

  const foreign = await fetch(`${herald.url}/sub/${ch}?last=1`, { headers: { Origin: 'https://evil.example' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  await foreign.arrayBuffer();

  const controller = new AbortController();
  const sse = await fetch(`${herald.url}/sub/${ch}`, {
    headers: { Origin: 'https://app.example', Accept: 'text/event-stream' },
    signal: controller.signal,
  });
  assert.equal(sse.headers.get('content-type'), 'text/event-stream');
  assert.equal(sse.headers.get('access-control-allow-origin'), 'https://app.example');
  controller.abort();
});

test('preflight: a listed origin gets the methods and headers, a foreign one 403', async () => {
  const ok = await fetch(`${herald.url}/pub/x`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(ok.headers.get('access-control-allow-methods'), /POST/);
  assert.match(ok.headers.get('access-control-allow-headers'), /Last-Event-ID/);
  const refused = await fetch(`${herald.url}/pub/x`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error, 'forbidden');
});
