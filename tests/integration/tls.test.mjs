// TLS termination: with [tls], herald serves HTTPS and WSS on its one port through the same session and
// transports as plain HTTP — publish, interval and long poll, SSE, WebSocket on /sub and /ws. A client
// that speaks plain HTTP to it, or opens a connection and stalls in the handshake, is cut without
// harming anyone else; a certificate that cannot be read stops herald at startup with a clear message.
// The certificate is made for the test by the openssl command (self-signed, for 127.0.0.1).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { Collector, chanPath, startHerald, uniq } from './lib/herald.mjs';

let dir;
let ca;
let h;

// The memory broker whatever HERALD_TEST_BROKER says: TLS is the listener's business, not the broker's,
// and the test library's Redis readiness probe does not trust the test's certificate.
function tlsConfig(extra = '') {
  return (
    `broker = "memory"\n[tls]\ncertificate_file = ${JSON.stringify(path.join(dir, 'cert.pem'))}\n` +
    `private_key_file = ${JSON.stringify(path.join(dir, 'key.pem'))}\n` +
    `[namespace.chat]\nclient_publish = true\n[limits]\nrequest_timeout_seconds = 2\n${extra}`
  );
}

/** One HTTPS request trusting only the test's certificate: {status, headers, text, json}. */
function call(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An SSE stream over HTTPS: its data lines, as they come. */
function sse(url) {
  const lines = new Collector(`sse ${url}`);
  const req = https.get(url, { headers: { Accept: 'text/event-stream' }, ca }, (res) => {
    res.setEncoding('utf8');
    let partial = '';
    res.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const line of parts) if (line.startsWith('data: ')) lines.push(line.slice(6));
    });
    res.on('end', () => lines.end());
  });
  req.on('error', () => lines.end('error'));
  return { lines, close: () => req.destroy() };
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herald-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
  ], { stdio: 'pipe' });
  ca = await readFile(path.join(dir, 'cert.pem'));
  h = await startHerald({ config: tlsConfig() });
});
after(async () => {
  await h?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('herald over TLS', () => {
  it('says https in its log and answers over TLS only', async () => {
    assert.match(h.url, /^https:/);
    const health = await call(`${h.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
  });

  it('publishes, and serves interval and long polls', async () => {
    const ch = uniq('tls');
    const start = await call(`${h.url}/sub/${chanPath(ch)}`);
    assert.equal(start.status, 204);
    const cursor = start.headers['herald-cursor'];
    const held = call(`${h.url}/sub/${chanPath(ch)}?since=${cursor}&wait=20`);
    // The long poll is held once the channel counts it.
    for (;;) {
      const info = await call(`${h.url}/channels/${chanPath(ch)}`);
      if (info.json.subscribers.longpoll === 1) break;
    }
    const published = await call(`${h.url}/pub/${chanPath(ch)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"secure":true}',
    });
    assert.equal(published.status, 201, published.text);
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json.messages.map((m) => m.data), [{ secure: true }]);
    const interval = await call(`${h.url}/sub/${chanPath(ch)}?since=${cursor}`);
    assert.deepEqual(interval.json.messages.map((m) => m.id), [published.json.id]);
  });

  it('streams Server-Sent Events', async () => {
    const ch = uniq('tls-sse');
    const { headers } = await call(`${h.url}/sub/${chanPath(ch)}`);
    const stream = sse(`${h.url}/sub/${chanPath(ch)}?since=${headers['herald-cursor']}`);
    await call(`${h.url}/pub/${chanPath(ch)}`, { method: 'POST', body: 'one' });
    await call(`${h.url}/pub/${chanPath(ch)}`, { method: 'POST', body: 'two' });
    assert.deepEqual(await stream.lines.waitFor(2), ['one', 'two']);
    stream.close();
  });

  it('carries WebSockets on /sub and /ws, publishing from the client too', async () => {
    const ch = `chat:${uniq('tls')}`;
    const { headers } = await call(`${h.url}/sub/${chanPath(ch)}`);
    const single = new WebSocket(`${h.wsUrl}/sub/${chanPath(ch)}?since=${headers['herald-cursor']}`, { ca });
    const singleFrames = new Collector('wss /sub');
    single.on('message', (data) => singleFrames.push(JSON.parse(data.toString())));
    const multi = new WebSocket(`${h.wsUrl}/ws`, { ca });
    const multiFrames = new Collector('wss /ws');
    multi.on('message', (data) => multiFrames.push(JSON.parse(data.toString())));
    await Promise.all([single, multi].map((ws) => new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    })));
    multi.send(JSON.stringify({ op: 'subscribe', channel: ch, since: headers['herald-cursor'], ref: 1 }));
    await multiFrames.waitForItem((f) => f.op === 'subscribed');
    multi.send(JSON.stringify({ op: 'publish', channel: ch, data: { over: 'wss' }, ref: 2 }));
    const published = await multiFrames.waitForItem((f) => f.op === 'published');
    const message = await multiFrames.waitForItem((f) => f.op === 'message');
    assert.deepEqual([message.id, message.data], [published.id, { over: 'wss' }]);
    const heard = await singleFrames.waitForItem((f) => f.id === published.id);
    assert.deepEqual(heard.data, { over: 'wss' });
    for (const ws of [single, multi]) {
      const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
      ws.close(1000);
      assert.equal(await closed, 1000); // a clean WebSocket close through TLS
    }
  });

  it('closes a WebSocket sent a message past ws_max_message_bytes with 1009, not a reset', async () => {
    const ws = new WebSocket(`${h.wsUrl}/ws`, { ca });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', () => {}); // a reset shows as close 1006, which the assertion names
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ op: 'publish', channel: 'x', data: 'd'.repeat(4 * 1024 * 1024) }));
    assert.equal(await closed, 1009);
  });

  it('gives a plain-HTTP client no answer, and cuts one that stalls in the handshake', async () => {
    const talk = (payload) =>
      new Promise((resolve) => {
        const socket = net.connect(h.port, '127.0.0.1', () => {
          if (payload) socket.write(payload);
        });
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => resolve(received));
      });
    const plain = await talk('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.ok(!plain.startsWith('HTTP/'), `a plain answer: ${plain.slice(0, 40)}`);
    // Silent after connecting: closed at request_timeout_seconds (2 s); the test's own timeout turns
    // a connection that stays open into a failure.
    assert.equal(await talk(''), '');
    assert.equal((await call(`${h.url}/healthz`)).status, 200);
  });

  it('refuses to start with a certificate it cannot read', async () => {
    await assert.rejects(
      startHerald({
        config: `broker = "memory"\n[tls]\ncertificate_file = ${JSON.stringify(path.join(dir, 'missing.pem'))}\n` +
          `private_key_file = ${JSON.stringify(path.join(dir, 'key.pem'))}\n`,
      }),
      /cannot use certificate_file/,
    );
    await assert.rejects(
      startHerald({ config: `broker = "memory"\n[tls]\ncertificate_file = ${JSON.stringify(path.join(dir, 'cert.pem'))}\n` }),
      /set both certificate_file and private_key_file/,
    );
  });
});
