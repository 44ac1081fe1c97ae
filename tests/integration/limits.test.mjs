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

// ---------------------------------------------------------------------------------------------
// Refusals a client still reads while it is sending: herald answers (or closes the WebSocket), stops
// sending, and reads on for a bounded while before it closes (a lingering close), so the kernel does not
// answer the client's next bytes with a reset that destroys the answer still on its way.

/**
 * A raw client that writes `head`, then up to `fillBytes` more in 64 KiB pieces (each `piece(buffer)` on
 * the wire), as fast as the kernel takes them, reading what comes back meanwhile as browsers and curl
 * do (it yields to the event loop between pieces). It collects what the server sends until the
 * connection ends. `ignoreEnd`: it keeps sending after the server has stopped (a half-open socket),
 * until the server closes for good. Resolves with the bytes received, the bytes sent, when the answer
 * came and when it ended, and the socket error, if any (a reset shows as ECONNRESET or EPIPE).
 */
function upload(port, head, fillBytes, { piece = (b) => b, ignoreEnd = false, everyMs = 0 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: ignoreEnd });
    const received = [];
    let error = null;
    let sent = 0;
    let answeredAt = 0;
    socket.on('data', (chunk) => {
      answeredAt ||= Date.now();
      received.push(chunk);
    });
    socket.on('error', (err) => (error ??= err));
    socket.on('close', () =>
      resolve({ text: Buffer.concat(received).toString('latin1'), error, sent, answeredAt, endedAt: Date.now() }),
    );
    socket.on('connect', async () => {
      socket.write(head);
      const fill = Buffer.alloc(65536, 'x');
      while (sent < fillBytes && !socket.destroyed && socket.writable) {
        const flushed = socket.write(piece(fill));
        sent += fill.length;
        await new Promise((r) => (everyMs ? setTimeout(r, everyMs) : setImmediate(r)));
        if (!flushed && !socket.destroyed) {
          await new Promise((r) => {
            socket.once('drain', r);
            socket.once('close', r);
          });
        }
      }
      if (!socket.destroyed) socket.end();
    });
  });
}

/** The status and JSON body of one complete HTTP answer (Content-Length framed) in `text`. */
function completeAnswer(text, error) {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete answer head (received ${JSON.stringify(text.slice(0, 200))}, error ${error?.code})`);
  const head = text.slice(0, end);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
  const body = text.slice(end + 4, end + 4 + length);
  assert.equal(body.length, length, `the body is cut short (${body.length} of ${length} bytes, error ${error?.code})`);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), json: JSON.parse(body) };
}

// Whether a reset beats the client to the answer is a race, so each refusal is tried a few times:
// without the lingering close most tries lose the answer; with it none may.
const TRIES = 5;

test('an 8 MB upload past max_payload_bytes reads its whole 413 answer, declared or chunked', async () => {
  const herald = await startHerald();
  servers.push(herald);
  const ch = uniq('upload');
  const size = 8 * 1024 * 1024;
  const post = `POST /pub/${ch} HTTP/1.1\r\nHost: 127.0.0.1:${herald.port}\r\n`;
  const chunk = (b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  for (let i = 0; i < TRIES; i++) {
    const declared = await within(
      upload(herald.port, `${post}Content-Length: ${size}\r\n\r\n`, size),
      20000,
      'the end of a refused upload',
    );
    const a = completeAnswer(declared.text, declared.error);
    assert.equal(a.status, 413);
    assert.equal(a.json.error, 'too_large');

    const chunked = await within(
      upload(herald.port, `${post}Transfer-Encoding: chunked\r\n\r\n`, size, { piece: chunk }),
      20000,
      'the end of a refused chunked upload',
    );
    const b = completeAnswer(chunked.text, chunked.error);
    assert.equal(b.status, 413);
    assert.equal(b.json.error, 'too_large');
  }
});

test('request headers far past max_header_bytes still read their whole 431 answer', async () => {
  const herald = await startHerald();
  servers.push(herald);
  for (let i = 0; i < TRIES; i++) {
    // 4 MB of one header line: herald stops reading at max_header_bytes (8 KiB) and answers.
    const answer = await within(
      upload(herald.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: `, 4 * 1024 * 1024),
      20000,
      'the end of an oversized request head',
    );
    const a = completeAnswer(answer.text, answer.error);
    assert.equal(a.status, 431);
    assert.equal(a.json.error, 'headers_too_large');
  }
});

test('a 4 MB WebSocket message past ws_max_message_bytes is closed with 1009, on /ws and on /sub', async () => {
  const herald = await startHerald();
  servers.push(herald);
  const { default: WebSocket } = await import('ws');
  for (const path of ['/ws', `/sub/${uniq('big')}`]) {
    const ws = new WebSocket(`${herald.wsUrl}${path}`);
    await new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    ws.on('error', () => {}); // a reset shows as close 1006, which the assertion names
    const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ op: 'publish', channel: 'x', data: 'd'.repeat(4 * 1024 * 1024) }));
    assert.equal(await within(closed, 10000, `close after an oversized message on ${path}`), 1009, path);
  }
});

test('the lingering close is bounded: a client that never stops sending is cut after its bytes, a slow one after its time', async () => {
  const head = (port) =>
    `POST /pub/${uniq('linger')} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 1000000000\r\n\r\n`;
  // As fast as it can, never closing its side: herald reads 1 MiB more, then resets the connection
  // (long before its 30 s). Whether the answer is read first is a race this client may lose.
  const bytes = await startHerald({ config: '[limits]\nlingering_close_bytes = 1048576\nlingering_close_seconds = 30' });
  servers.push(bytes);
  const fast = await within(upload(bytes.port, head(bytes.port), Infinity, { ignoreEnd: true }), 15000, 'a fast sender cut');
  assert.ok(fast.error, 'reset, not closed in order');
  assert.ok(fast.sent < 64 * 1024 * 1024, `cut after ${fast.sent} bytes`);
  // 64 KiB every 100 ms, never closing its side: cut one second after the answer.
  const time = await startHerald({ config: '[limits]\nlingering_close_seconds = 1' });
  servers.push(time);
  const slow = await within(upload(time.port, head(time.port), Infinity, { ignoreEnd: true, everyMs: 100 }), 15000, 'a slow sender cut');
  assert.equal(completeAnswer(slow.text, slow.error).status, 413);
  const lingered = slow.endedAt - slow.answeredAt;
  assert.ok(lingered >= 900 && lingered < 4000, `cut ${lingered} ms after the answer`);
});
