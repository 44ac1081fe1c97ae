// Cursors: a client that reconnects with its cursor, on the same or another transport, gets every
// message exactly once; a cursor past the kept history, or from another history, yields a gap on
// every transport.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  openSSE,
  openWS,
  poll,
  publishMany,
  startHerald,
  uniq,
  waitForSubscribers,
  wsMessages,
} from './lib/herald.mjs';

let h;
before(async () => {
  h = await startHerald({ config: '[namespace.small]\nhistory_size = 5\n' });
});
after(() => h?.stop());

describe('resume across transports', () => {
  it('SSE → long poll → WebSocket /sub → /ws → interval poll: every message exactly once, in order', async () => {
    const ch = uniq('hop');
    const published = [];
    const received = [];
    let n = 0;
    const pub = async (k) => {
      const payloads = Array.from({ length: k }, () => ++n);
      published.push(...(await publishMany(h.url, ch, payloads)));
    };

    // 1. SSE from now: two live messages.
    const s = openSSE(`${h.url}/sub/${chanPath(ch)}`);
    await s.response;
    await waitForSubscribers(h.url, ch, { sse: 1 });
    await pub(2);
    received.push(...(await s.events.waitFor(2)).map((e) => e.id));
    await s.close();

    // 2. Messages published while nobody listens, then a long poll from the SSE cursor gets them
    //    at once, and a second one is held and answered by the next publish.
    await pub(2);
    let lp = await poll(h.url, ch, { since: received.at(-1), wait: 30 });
    received.push(...lp.json.messages.map((m) => m.id));
    const held = poll(h.url, ch, { since: lp.cursor, wait: 30 });
    await waitForSubscribers(h.url, ch, { longpoll: 1 });
    await pub(1);
    lp = await held;
    received.push(...lp.json.messages.map((m) => m.id));

    // 3. WebSocket /sub with since: the missed ones, then live.
    await pub(2);
    const w = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${encodeURIComponent(lp.cursor)}`);
    await w.frames.waitFor(2);
    await waitForSubscribers(h.url, ch, { websocket: 1 });
    await pub(1);
    received.push(...(await w.frames.waitFor(3)).map((f) => f.id));
    await w.close();

    // 4. /ws subscribe with since.
    await pub(2);
    const m = openWS(`${h.wsUrl}/ws`);
    await m.opened;
    await m.request({ op: 'subscribe', channel: ch, since: received.at(-1) });
    await pub(1);
    await m.frames.waitUntil((fs) => wsMessages(fs, ch).length === 3);
    received.push(...wsMessages(m.frames.items, ch).map((f) => f.id));
    await m.close();

    // 5. Interval poll with since, then SSE again via Last-Event-ID.
    await pub(2);
    const ip = await poll(h.url, ch, { since: received.at(-1) });
    received.push(...ip.json.messages.map((x) => x.id));
    await pub(1);
    const s2 = openSSE(`${h.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': ip.cursor } });
    received.push(...(await s2.events.waitFor(1)).map((e) => e.id));
    await s2.close();

    assert.equal(published.length, 14);
    assert.deepEqual(received, published);
  });

  it('the same transport resumes too: SSE reconnect with Last-Event-ID, WS reconnect with since', async () => {
    const ch = uniq('same');
    const ids = await publishMany(h.url, ch, [1, 2, 3, 4]);
    const s1 = openSSE(`${h.url}/sub/${chanPath(ch)}?last=4`);
    const first = (await s1.events.waitFor(2)).map((e) => e.id);
    await s1.close();
    const s2 = openSSE(`${h.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': first.at(-1) } });
    const second = (await s2.events.waitFor(2)).map((e) => e.id);
    await s2.close();
    assert.deepEqual([...first, ...second], ids);

    const w1 = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?last=3`);
    const a = (await w1.frames.waitFor(1)).map((f) => f.id);
    await w1.close();
    const w2 = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${encodeURIComponent(a[0])}`);
    const b = (await w2.frames.waitFor(2)).map((f) => f.id);
    await w2.close();
    assert.deepEqual([...a, ...b], ids.slice(1));
  });
});

describe('gap: cursor older than the kept history (namespace small keeps 5)', () => {
  let ch;
  let ids;
  before(async () => {
    ch = `small:${uniq('g')}`;
    ids = await publishMany(h.url, ch, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
  const kept = () => ids.slice(5);

  it('interval poll answers gap:true with the 5 kept messages', async () => {
    const r = await poll(h.url, ch, { since: ids[0] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.gap, true);
    assert.deepEqual(r.json.messages.map((m) => m.id), kept());
    assert.equal(r.cursor, ids[9]);
  });

  it('history in GET /channels is bounded by history_size', async () => {
    const info = await (await fetch(`${h.url}/channels/${ch}`)).json();
    assert.equal(info.history, 5);
    assert.equal(info.last_id, ids[9]);
  });

  it('a cursor at the edge of the kept history is not a gap', async () => {
    const r = await poll(h.url, ch, { since: ids[4] });
    assert.equal(r.json.gap, false);
    assert.deepEqual(r.json.messages.map((m) => m.id), kept());
  });

  it('long poll answers the gap at once', async () => {
    const r = await poll(h.url, ch, { since: ids[0], wait: 30 });
    assert.ok(r.ms < 3000, `answered in ${r.ms} ms`);
    assert.equal(r.json.gap, true);
    assert.deepEqual(r.json.messages.map((m) => m.id), kept());
  });

  it('SSE sends event: gap with an id before the oldest kept message, then the kept ones', async () => {
    const s = openSSE(`${h.url}/sub/${chanPath(ch)}?since=${encodeURIComponent(ids[0])}`);
    const [gap, ...rest] = await s.events.waitFor(6);
    await s.close();
    assert.equal(gap.event, 'gap');
    assert.equal(JSON.parse(gap.data).channel, ch);
    assert.ok(gap.id, 'the gap event carries an id');
    assert.deepEqual(rest.map((e) => e.id), kept());
    // Resuming from the gap's id (what a browser would send) yields the kept messages, no new gap.
    const r = await poll(h.url, ch, { since: gap.id });
    assert.equal(r.json.gap, false);
    assert.deepEqual(r.json.messages.map((m) => m.id), kept());
  });

  it('SSE via Last-Event-ID gaps too', async () => {
    const s = openSSE(`${h.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': ids[1] } });
    const [gap] = await s.events.waitFor(1);
    await s.close();
    assert.equal(gap.event, 'gap');
  });

  it('WebSocket /sub sends a gap frame first, then the kept ones', async () => {
    const w = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${encodeURIComponent(ids[0])}`);
    const [gap, ...rest] = await w.frames.waitFor(6);
    await w.close();
    assert.equal(gap.gap, true, JSON.stringify(gap));
    assert.equal(gap.channel, ch);
    assert.equal(typeof gap.cursor, 'string');
    assert.deepEqual(rest.map((f) => f.id), kept());
  });

  it('/ws answers subscribed with gap:true, then the kept ones', async () => {
    const w = openWS(`${h.wsUrl}/ws`);
    await w.opened;
    const sub = await w.request({ op: 'subscribe', channel: ch, since: ids[0] });
    assert.equal(sub.op, 'subscribed');
    assert.equal(sub.gap, true);
    await w.frames.waitUntil((fs) => wsMessages(fs, ch).length === 5);
    assert.deepEqual(wsMessages(w.frames.items, ch).map((f) => f.id), kept());
    await w.close();
  });
});

describe('gap: cursor from another history', () => {
  let other;
  before(async () => {
    // Its own broker even when the suite runs on Redis (HERALD_TEST_BROKER=redis): two nodes on one
    // Redis share histories, so only a separate store mints a foreign cursor.
    other = await startHerald({ config: 'broker = "memory"' });
  });
  after(() => other?.stop());

  it('a cursor minted by another herald instance is answered with a gap on every transport', async () => {
    const ch = uniq('foreign');
    const [foreign] = await publishMany(other.url, ch, ['elsewhere']);
    const ids = await publishMany(h.url, ch, ['a', 'b']);

    const p = await poll(h.url, ch, { since: foreign });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.gap, true);
    assert.deepEqual(p.json.messages.map((m) => m.id), ids);

    const lp = await poll(h.url, ch, { since: foreign, wait: 30 });
    assert.ok(lp.ms < 3000);
    assert.equal(lp.json.gap, true);

    const s = openSSE(`${h.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': foreign } });
    const sse = await s.events.waitFor(3);
    await s.close();
    assert.deepEqual(sse.map((e) => e.event), ['gap', 'message', 'message']);

    const w = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${encodeURIComponent(foreign)}`);
    const frames = await w.frames.waitFor(3);
    await w.close();
    assert.equal(frames[0].gap, true);
    assert.deepEqual(frames.slice(1).map((f) => f.id), ids);

    const m = openWS(`${h.wsUrl}/ws`);
    await m.opened;
    const sub = await m.request({ op: 'subscribe', channel: ch, since: foreign });
    await m.close();
    assert.equal(sub.gap, true);
  });

  it('a foreign cursor on an empty channel is a gap with no messages', async () => {
    const ch = uniq('foreign-empty');
    const [foreign] = await publishMany(other.url, ch, ['x']);
    const p = await poll(h.url, ch, { since: foreign });
    // A gap answer carries what is kept, here nothing: a 204 could not tell the client it missed
    // something, so this must be a 200 with gap:true.
    assert.equal(p.status, 200, `expected 200 gap:true, got ${p.status} ${p.text}`);
    assert.equal(p.json.gap, true);
    assert.deepEqual(p.json.messages, []);
  });
});
