// limits.slow_consumer = "catch_up": a streaming client whose write queue is full is not disconnected.
// herald stops queueing live messages for it and, once the client has read what is queued, reads the
// rest from history, like a client resuming from its cursor; if history no longer has some of them, the
// client gets the gap marker of its transport, then the kept messages. Memory stays bounded by
// write_queue_bytes either way. Checked on SSE, WebSocket /sub and /ws, with clients that stop reading
// (paused sockets) while far more than the queue and the kernel's buffers is published.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { chanPath, eventually, openWS, publish, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';
import { randomBytes } from 'node:crypto';

// Random (base64) text: permessage-deflate, which clients negotiate, cannot shrink it below what fills a queue.
const PAYLOAD = randomBytes(22500).toString('base64');
const TINY = 20; // history of the `tiny` namespace
const AFTER = 40; // messages published once the client has fallen behind

let h;
before(async () => {
  h = await startHerald({
    config: `[limits]\nwrite_queue_bytes = 131072\nslow_consumer = "catch_up"\n[history]\nsize = 5000\n[namespace.tiny]\nhistory_size = ${TINY}\n`,
  });
});
after(() => h?.stop());

let seq = 0;
async function pub(channel) {
  seq += 1;
  const r = await publish(h.url, channel, JSON.stringify({ seq, pad: PAYLOAD }), { json: true });
  assert.equal(r.status, 201, r.text);
  return { seq, id: r.json.id };
}

// herald says in its log when a connection falls behind; the test publishes until it has (the kernel's
// socket buffers take an unknown amount first), then AFTER more, which can only come from history.
async function publishPastTheQueue(channel, client) {
  const sent = [];
  let behind = false;
  const fellBehind = eventually(() => h.logs().includes(`slow consumer of ${channel} falls behind`), {
    timeoutMs: 30000,
    what: `a consumer of ${channel} falling behind`,
  }).then(() => (behind = true));
  fellBehind.catch(() => {});
  for (let n = 0; n < 3000 && !behind; n++) {
    assert.ok(!client.ended, `the connection was closed after ${sent.length} messages instead of catching up`);
    sent.push(await pub(channel));
  }
  await fellBehind;
  for (let n = 0; n < AFTER; n++) sent.push(await pub(channel));
  return sent;
}

// The three clients, each reduced to: pause(), resume(), heard (seq numbers and 'gap', in order), closed.
function sseClient(channel) {
  const socket = net.connect(h.port, '127.0.0.1');
  const client = { heard: [], ended: false, listeners: new Set() };
  socket.on('connect', () => socket.write(`GET /sub/${chanPath(channel)} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`));
  let buf = '';
  let inBody = false;
  let block = {};
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buf += chunk;
    if (!inBody) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      buf = buf.slice(end + 4);
      inBody = true;
    }
    let n;
    while ((n = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, n);
      buf = buf.slice(n + 1);
      if (line === '') {
        if (block.event === 'gap') client.heard.push('gap');
        else if (block.data) client.heard.push(JSON.parse(block.data).seq);
        block = {};
      } else if (line.startsWith('data: ')) block.data = line.slice(6);
      else if (line.startsWith('event: ')) block.event = line.slice(7);
    }
    for (const l of client.listeners) l();
  });
  socket.on('close', () => {
    client.ended = true;
    for (const l of client.listeners) l();
  });
  client.pause = () => socket.pause();
  client.resume = () => socket.resume();
  client.close = () => socket.destroy();
  client.ready = waitForSubscribers(h.url, channel, { sse: 1 });
  return client;
}

function wsClient(channel, multiplex) {
  const w = multiplex ? openWS(`${h.wsUrl}/ws`) : openWS(`${h.wsUrl}/sub/${chanPath(channel)}`);
  const client = { heard: [], ended: false, listeners: new Set() };
  w.ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.gap || f.op === 'gap') client.heard.push('gap');
    else if (multiplex ? f.op === 'message' : f.id) client.heard.push(f.data.seq);
    for (const l of client.listeners) l();
  });
  w.closed.then(() => {
    client.ended = true;
    for (const l of client.listeners) l();
  });
  client.pause = () => w.ws.pause();
  client.resume = () => w.ws.resume();
  client.close = () => w.terminate();
  client.ready = (async () => {
    await w.opened;
    if (multiplex) await w.request({ op: 'subscribe', channel });
    await waitForSubscribers(h.url, channel, { websocket: 1 });
  })();
  return client;
}

function heardUpTo(client, last) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (client.heard.at(-1) === last) resolve();
      else if (client.ended) reject(new Error(`the connection ended after ${JSON.stringify(client.heard.slice(-3))}`));
    };
    client.listeners.add(check);
    check();
  });
}

const CLIENTS = { sse: (ch) => sseClient(ch), 'WebSocket /sub': (ch) => wsClient(ch, false), '/ws': (ch) => wsClient(ch, true) };

describe('slow_consumer = "catch_up"', () => {
  for (const [name, open] of Object.entries(CLIENTS)) {
    it(`${name}: a client that stops reading stays connected and, once it reads again, gets every message once, in order`, { timeout: 60000 }, async () => {
      const channel = uniq('catch-up');
      const client = open(channel);
      await client.ready;
      client.pause();
      const sent = await publishPastTheQueue(channel, client);
      client.resume();
      await within(heardUpTo(client, sent.at(-1).seq), 30000, `${name} hearing the last message`);
      client.close();
      assert.deepEqual(client.heard, sent.map((m) => m.seq), 'everything, in order, no gap, no repeat');
    });

    it(`${name}: when history lost what it had not sent, a gap marker, then the kept messages`, { timeout: 60000 }, async () => {
      const channel = `tiny:${uniq('catch-up-gap')}`;
      const client = open(channel);
      await client.ready;
      client.pause();
      const sent = await publishPastTheQueue(channel, client);
      client.resume();
      await within(heardUpTo(client, sent.at(-1).seq), 30000, `${name} hearing the last message`);
      client.close();
      const g = client.heard.indexOf('gap');
      assert.ok(g > 0, `a gap marker after some messages: ${JSON.stringify(client.heard.slice(0, 5))}...`);
      const before = client.heard.slice(0, g);
      assert.deepEqual(before, sent.slice(0, g).map((m) => m.seq), 'before the gap: what was queued, in order');
      assert.deepEqual(client.heard.slice(g + 1), sent.slice(-TINY).map((m) => m.seq), 'after it: what history kept');
    });
  }
});
