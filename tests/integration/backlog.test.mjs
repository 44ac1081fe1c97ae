// A client resuming far behind: its backlog is larger than the connection's write queue. herald sends
// the history in pages as the client reads, so every message arrives, once and in order, with no gap and
// without the connection being dropped as a slow consumer.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { chanPath, openSSE, openWS, publishMany, startHerald, uniq, wsMessages } from './lib/herald.mjs';

const MESSAGES = 150;
const PADDING = 'x'.repeat(400); // 150 x ~500 bytes of envelope = ~75 KB, against an 8 KiB write queue

let h;
before(async () => {
  h = await startHerald({ config: '[limits]\nwrite_queue_bytes = 8192\npoll_batch_limit = 20\n[history]\nsize = 500\n' });
});
after(() => h?.stop());

async function backlog() {
  const channel = uniq('backlog');
  const ids = await publishMany(h.url, channel, Array.from({ length: MESSAGES + 1 }, (_, n) => ({ n, PADDING })));
  return { channel, since: ids[0], expected: ids.slice(1) };
}

it('SSE pages a backlog larger than its write queue', async () => {
  const { channel, since, expected } = await backlog();
  const sse = openSSE(`${h.url}/sub/${chanPath(channel)}`, { headers: { 'Last-Event-ID': since } });
  const events = await sse.events.waitFor(MESSAGES);
  assert.deepEqual(events.map((e) => e.id), expected);
  assert.ok(events.every((e) => e.event === 'message'), 'no gap event');
  sse.close();
});

it('/sub WebSocket pages a backlog larger than its write queue', async () => {
  const { channel, since, expected } = await backlog();
  const ws = openWS(`${h.wsUrl}/sub/${chanPath(channel)}?since=${since}`);
  const frames = await ws.frames.waitFor(MESSAGES);
  assert.deepEqual(frames.map((f) => f.id), expected);
  await ws.close();
});

it('/ws pages a backlog larger than its write queue and answers other frames meanwhile', async () => {
  const { channel, since, expected } = await backlog();
  const ws = openWS(`${h.wsUrl}/ws`);
  await ws.opened;
  const subscribed = await ws.request({ op: 'subscribe', channel, since });
  assert.equal(subscribed.op, 'subscribed');
  assert.equal(subscribed.gap, false);
  assert.equal(subscribed.cursor, expected.at(-1));
  await ws.frames.waitUntil((items) => wsMessages(items, channel).length >= MESSAGES, { what: `${MESSAGES} messages` });
  assert.deepEqual(wsMessages(ws.frames.items, channel).map((f) => f.id), expected);
  // Still open and answering: not dropped as a slow consumer.
  const reply = await ws.request({ op: 'unsubscribe', channel });
  assert.equal(reply.op, 'unsubscribed');
  await ws.close();
});
