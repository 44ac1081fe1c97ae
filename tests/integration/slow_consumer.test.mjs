// A client that stops reading must not make herald queue without bound: past write_queue_bytes the
// connection is closed (WebSocket: 1008 "slow consumer"; SSE: the stream ends), it stops being counted,
// and herald goes on serving everyone else.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { chanPath, openWS, publish, request, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';
import { randomBytes } from 'node:crypto';

// Random (base64) text: permessage-deflate, which clients negotiate, cannot shrink it below what fills a queue.
const PAYLOAD = randomBytes(45000).toString('base64');

let h;
before(async () => {
  h = await startHerald({ config: '[limits]\nwrite_queue_bytes = 262144\n' });
});
after(() => h?.stop());

// Publishes until `done` settles (bounded: the socket buffers in between hold a few MB at most).
async function publishUntil(channel, done) {
  let settled = false;
  done.then(() => (settled = true), () => (settled = true));
  for (let n = 0; n < 2000 && !settled; n++) {
    const r = await publish(h.url, channel, PAYLOAD);
    assert.equal(r.status, 201);
  }
}

it('a WebSocket that stops reading is closed with 1008 and forgotten', async () => {
  const channel = uniq('slow-ws');
  const ws = openWS(`${h.wsUrl}/sub/${chanPath(channel)}`);
  await ws.opened;
  await waitForSubscribers(h.url, channel, { websocket: 1 });
  ws.ws.pause(); // the client stops reading (ws.pause: ws's own flow control resumes a socket paused under it)
  const dropped = waitForSubscribers(h.url, channel, { websocket: 0 }, { timeoutMs: 30000 });
  await publishUntil(channel, dropped);
  await dropped;
  ws.ws.resume();
  const { code, reason } = await within(ws.closed, 30000, 'the close to reach the client');
  assert.ok(code === 1008 || code === 1006, `close code ${code}`);
  if (code === 1008) assert.match(reason, /slow consumer/);
  assert.equal((await request(`${h.url}/healthz`)).status, 200);
});

it('an SSE client that stops reading is cut off and forgotten', async () => {
  const channel = uniq('slow-sse');
  const socket = net.connect(h.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET /sub/${chanPath(channel)} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  await waitForSubscribers(h.url, channel, { sse: 1 });
  socket.pause();
  const dropped = waitForSubscribers(h.url, channel, { sse: 0 }, { timeoutMs: 30000 });
  await publishUntil(channel, dropped);
  await dropped;
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.resume();
  await within(ended, 30000, 'the stream to end');
  assert.equal((await request(`${h.url}/healthz`)).status, 200);
});
