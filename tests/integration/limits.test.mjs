// Connection limits and the slowloris cut: one address cannot take every connection, a full server
// says so, and a client trickling its request is disconnected at request_timeout_seconds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHerald, uniq, within, openSSE } from './lib/herald.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.stop())));

// A raw connection that collects what the server sends until it closes.
function rawConnection(port) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => (received += chunk));
  const closed = new Promise((resolve) => socket.on('close', () => resolve(received)));
  socket.on('error', () => {});
  const connected = new Promise((resolve) => socket.on('connect', resolve));
  return { socket, closed, connected };
}

test('past max_connections_per_ip an address gets 429, and its place comes back when a connection ends', async () => {
  const herald = await startHerald({ config: '[limits]\nmax_connections_per_ip = 3' });
  servers.push(herald);
  const ch = uniq();
  // Three held SSE streams use the address's three places.
  const streams = [];
  for (let i = 0; i < 3; i++) {
    const s = openSSE(`${herald.url}/sub/${ch}`);
    await s.opened;
    streams.push(s);
  }
  const fourth = await fetch(`${herald.url}/healthz`).catch((err) => err);
  assert.equal(fourth.status, 429, `expected 429, got ${fourth.status ?? fourth}`);
  assert.equal((await fourth.json()).error, 'too_many_from_address');
  assert.equal(fourth.headers.get('retry-after'), '1');

  streams.pop().close();
  // The place is given back once herald sees the stream go: poll /healthz until it answers 200.
  const deadline = Date.now() + 5000;
  let status = 0;
  while (Date.now() < deadline && status !== 200) {
    const res = await fetch(`${herald.url}/healthz`).catch(() => null);
    status = res?.status ?? 0;
    await res?.arrayBuffer();
  }
  assert.equal(status, 200);
  for (const s of streams) s.close();
});

test('past max_connections the server answers 503', async () => {
  const herald = await startHerald({ config: '[limits]\nmax_connections = 2' });
  servers.push(herald);
  const held = [rawConnection(herald.port), rawConnection(herald.port)];
  await Promise.all(held.map((c) => c.connected));
  // Both held connections are admitted before the third is accepted (one acceptor, in order).
  const third = rawConnection(herald.port);
  const answer = await within(third.closed, 5000, 'the refusal of a third connection');
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /"error":"too_many_connections"/);
  for (const c of held) c.socket.destroy();
});

test('a client that trickles its request headers is cut at request_timeout_seconds (slowloris)', async () => {
  const herald = await startHerald({ config: '[limits]\nrequest_timeout_seconds = 1' });
  servers.push(herald);
  const c = rawConnection(herald.port);
  await c.connected;
  const started = Date.now();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  // One header line every 300 ms: the request would never be complete.
  const trickle = setInterval(() => c.socket.write(`X-Slow-${Date.now()}: 1\r\n`), 300);
  await within(c.closed, 5000, 'the server closing a trickling client');
  clearInterval(trickle);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 4000, `cut after ${elapsed} ms`);
});

test('request headers past max_header_bytes: 431; a WebSocket message past ws_max_message_bytes: close 1009', async () => {
  const herald = await startHerald({ config: '[limits]\nmax_header_bytes = 1024\nws_max_message_bytes = 256' });
  servers.push(herald);
  const big = await fetch(`${herald.url}/healthz`, { headers: { 'X-Padding': 'p'.repeat(2048) } });
  assert.equal(big.status, 431);
  assert.equal((await big.json()).error, 'headers_too_large');

  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`${herald.wsUrl}/ws`);
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.send(JSON.stringify({ op: 'publish', channel: 'x', data: 'd'.repeat(1024) }));
  assert.equal(await within(closed, 5000, 'close after an oversized message'), 1009);
});
