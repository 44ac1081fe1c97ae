// WebSocket on /sub/{channel} (one channel, envelopes as text frames) and the /ws multiplexer
// (subscribe / unsubscribe / publish ops, ref echo, error frames that leave the socket open).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  openWS,
  poll,
  publish,
  publishMany,
  startHerald,
  uniq,
  waitForSubscribers,
  wsMessages,
} from './lib/herald.mjs';

let h;
before(async () => {
  h = await startHerald({ config: '[limits]\nws_max_channels = 3\n[namespace.chat]\nclient_publish = true\n' });
});
after(() => h?.stop());

describe('WebSocket on /sub/{channel}', () => {
  const subUrl = (ch, qs = '') => `${h.wsUrl}/sub/${chanPath(ch)}${qs}`;

  it('receives each message as one text frame holding the envelope, in order', async () => {
    const ch = uniq('ws');
    const c = openWS(subUrl(ch));
    await c.opened;
    await waitForSubscribers(h.url, ch, { websocket: 1 });
    const a = await publish(h.url, ch, { k: 'v' }, { json: true, event: 'update' });
    const b = await publish(h.url, ch, 'text');
    const frames = await c.frames.waitFor(2);
    assert.equal(a.json.subscribers, 1);
    assert.deepEqual(frames[0], { channel: ch, id: a.json.id, time: frames[0].time, event: 'update', data: { k: 'v' } });
    assert.equal(typeof frames[0].time, 'number');
    assert.deepEqual(frames[1], { channel: ch, id: b.json.id, time: frames[1].time, data: 'text' });
    await c.close();
  });

  it('resumes after ?since= and continues live', async () => {
    const ch = uniq('ws-since');
    const ids = await publishMany(h.url, ch, [1, 2, 3]);
    const c = openWS(subUrl(ch, `?since=${encodeURIComponent(ids[0])}`));
    await c.frames.waitFor(2);
    await waitForSubscribers(h.url, ch, { websocket: 1 });
    ids.push(...(await publishMany(h.url, ch, [4])));
    const frames = await c.frames.waitFor(3);
    assert.deepEqual(frames.map((f) => f.id), ids.slice(1));
    assert.deepEqual(frames.map((f) => f.data), [2, 3, 4]);
    await c.close();
  });

  it('answers client frames other than a publish with an error frame, stays open, and answers pings', async () => {
    const ch = uniq('ws-ignore');
    const c = openWS(subUrl(ch));
    await c.opened;
    await waitForSubscribers(h.url, ch, { websocket: 1 });
    const other = await c.request({ op: 'subscribe', channel: 'other' });
    assert.deepEqual([other.op, other.code], ['error', 'bad_frame']);
    // Said for what was sent: this socket already listens, and subscribing is what /ws is for.
    assert.match(other.message, /already listens.*subscribe and unsubscribe belong on \/ws/);
    const elsewhere = await c.request({ op: 'publish', channel: 'other', data: 'x' });
    assert.deepEqual([elsewhere.op, elsewhere.code], ['error', 'bad_frame']);
    assert.match(elsewhere.message, /only publishes to its own channel/);
    c.send('not json at all');
    await c.frames.waitUntil((frames) => frames.filter((f) => f.op === 'error').length === 3);
    // Publishing where clients may not (the default namespace) is refused too.
    const refused = await c.request({ op: 'publish', channel: ch, data: 'x' });
    assert.deepEqual([refused.op, refused.code], ['error', 'forbidden']);
    const pong = new Promise((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('p');
    await pong;
    const [id] = await publishMany(h.url, ch, ['still here']);
    const messages = await c.frames.waitUntil((frames) => {
      const found = frames.filter((f) => !f.op);
      return found.length >= 1 && found;
    });
    assert.equal(messages[0].id, id, 'the first message is the published one; error frames are not messages');
    await c.close();
  });

  it('refuses a malformed since before upgrading: 400 bad_cursor', async () => {
    const c = openWS(subUrl(uniq('ws-bad'), '?since=garbage'));
    await assert.rejects(c.opened, (err) => err.status === 400 && err.body?.error === 'bad_cursor');
  });
});

describe('/ws multiplexer', () => {
  const wsUrl = () => `${h.wsUrl}/ws`;

  it('subscribes with ref echoed, cursor = newest id, then delivers op:message frames', async () => {
    const ch = uniq('mux');
    const [newest] = await publishMany(h.url, ch, ['before']);
    const c = openWS(wsUrl());
    await c.opened;
    const sub = await c.request({ op: 'subscribe', channel: ch, ref: 'abc' });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    assert.equal(sub.channel, ch);
    assert.equal(sub.cursor, newest, "cursor is the channel's newest id at subscription");
    assert.equal(sub.gap, false);
    const pub = await publish(h.url, ch, { hi: 1 }, { json: true, event: 'say' });
    assert.equal(pub.json.subscribers, 1);
    const m = await c.frames.waitForItem((f) => f.op === 'message');
    assert.deepEqual(m, { op: 'message', channel: ch, id: pub.json.id, time: m.time, event: 'say', data: { hi: 1 } });
    assert.ok(c.frames.items.indexOf(sub) < c.frames.items.indexOf(m), 'subscribed comes first');
    await c.close();
  });

  it('carries several channels on one socket and stops after unsubscribe', async () => {
    const a = uniq('mux-a');
    const b = uniq('mux-b');
    const c = openWS(wsUrl());
    await c.opened;
    await c.request({ op: 'subscribe', channel: a });
    await c.request({ op: 'subscribe', channel: b });
    const [ia] = await publishMany(h.url, a, ['A1']);
    const [ib] = await publishMany(h.url, b, ['B1']);
    await c.frames.waitUntil((fs) => wsMessages(fs, a).length === 1 && wsMessages(fs, b).length === 1);
    assert.equal(wsMessages(c.frames.items, a)[0].id, ia);
    assert.equal(wsMessages(c.frames.items, b)[0].id, ib);

    const un = await c.request({ op: 'unsubscribe', channel: a });
    assert.equal(un.op, 'unsubscribed');
    assert.equal(un.channel, a);
    const afterUnsub = await publish(h.url, a, 'A2');
    assert.equal(afterUnsub.json.subscribers, 0, 'unsubscribed: no longer counted');
    const [ib2] = await publishMany(h.url, b, ['B2']);
    await c.frames.waitUntil((fs) => wsMessages(fs, b).length === 2);
    assert.equal(wsMessages(c.frames.items, b)[1].id, ib2);
    assert.equal(wsMessages(c.frames.items, a).length, 1, 'nothing of channel a after unsubscribe');
    await c.close();
  });

  it('subscribe with last:N sends the newest N after subscribed; with since, the ones after it', async () => {
    const ch = uniq('mux-last');
    const ids = await publishMany(h.url, ch, [1, 2, 3, 4]);
    const c = openWS(wsUrl());
    await c.opened;
    await c.request({ op: 'subscribe', channel: ch, last: 2 });
    await c.frames.waitUntil((fs) => wsMessages(fs, ch).length === 2);
    assert.deepEqual(wsMessages(c.frames.items, ch).map((m) => m.data), [3, 4]);

    const ch2 = uniq('mux-since');
    const ids2 = await publishMany(h.url, ch2, [1, 2, 3]);
    const sub = await c.request({ op: 'subscribe', channel: ch2, since: ids2[0] });
    assert.equal(sub.cursor, ids2[2]);
    await c.frames.waitUntil((fs) => wsMessages(fs, ch2).length === 2);
    assert.deepEqual(wsMessages(c.frames.items, ch2).map((m) => m.id), ids2.slice(1));
    assert.equal(ids.length, 4);
    await c.close();
  });

  it('publishes from the client where the namespace allows it (chat:)', async () => {
    const ch = `chat:${uniq('lobby')}`;
    const c = openWS(wsUrl());
    await c.opened;
    await c.request({ op: 'subscribe', channel: ch });
    const before = await poll(h.url, ch);
    const ack = await c.request({ op: 'publish', channel: ch, data: { text: 'hi' }, event: 'say' });
    assert.equal(ack.op, 'published', JSON.stringify(ack));
    assert.equal(ack.channel, ch);
    assert.equal(typeof ack.id, 'string');
    const m = await c.frames.waitForItem((f) => f.op === 'message' && f.channel === ch);
    assert.deepEqual([m.id, m.event, m.data], [ack.id, 'say', { text: 'hi' }]);
    const p = await poll(h.url, ch, { since: before.cursor });
    assert.deepEqual(p.json.messages.map((x) => x.id), [ack.id], 'visible to HTTP subscribers too');
    await c.close();
  });

  it('takes a client message of many KB, whole or in fragments, byte for byte', async () => {
    // herald reads a message under way in steps of a few KB, and an idle socket in a small piece.
    const ch = `chat:${uniq('big')}`;
    const c = openWS(wsUrl());
    await c.opened;
    const before = await poll(h.url, ch);
    const text = Array.from({ length: 50000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const whole = await c.request({ op: 'publish', channel: ch, data: text });
    assert.equal(whole.op, 'published', JSON.stringify(whole));
    // The same as three frames of one message (FIN on the last), split inside the JSON.
    const frame = JSON.stringify({ op: 'publish', channel: ch, data: text.toUpperCase(), ref: 'frag' });
    const cut = [0, 7, 30001, frame.length];
    for (let i = 0; i < 3; ++i) c.ws.send(frame.slice(cut[i], cut[i + 1]), { fin: i === 2 });
    const fragmented = await c.frames.waitForItem((f) => f.ref === 'frag');
    assert.equal(fragmented.op, 'published', JSON.stringify(fragmented));
    const p = await poll(h.url, ch, { since: before.cursor });
    assert.deepEqual(
      p.json.messages.map((m) => m.data),
      [text, text.toUpperCase()],
    );
    await c.close();
  });

  it('refuses client publishing elsewhere with error forbidden, and the socket stays open', async () => {
    const c = openWS(wsUrl());
    await c.opened;
    const ch = uniq('news');
    const err = await c.request({ op: 'publish', channel: ch, data: 'x' });
    assert.equal(err.op, 'error');
    assert.equal(err.code, 'forbidden');
    assert.equal(typeof err.message, 'string');
    assert.equal((await poll(h.url, ch, { last: 10 })).status, 204, 'nothing was published');
    const ok = await c.request({ op: 'subscribe', channel: ch });
    assert.equal(ok.op, 'subscribed', 'socket still usable');
    await c.close();
  });

  it('answers bad frames with error frames and keeps the socket open', async () => {
    const c = openWS(wsUrl());
    await c.opened;

    let next = c.next((f) => f.op === 'error');
    c.send('{not json');
    assert.equal((await next).code, 'bad_frame');

    next = c.next((f) => f.op === 'error');
    c.send('[1,2]');
    assert.equal((await next).code, 'bad_frame');

    const cases = [
      [{ op: 'dance' }, 'bad_frame'],
      [{ op: 'subscribe' }, ['bad_frame', 'bad_channel']], // no channel at all
      [{ op: 'subscribe', channel: 'a b' }, 'bad_channel'],
      [{ op: 'subscribe', channel: 'x'.repeat(129) }, 'bad_channel'],
      [{ op: 'subscribe', channel: uniq('c'), since: 'garbage' }, 'bad_cursor'],
      [{ op: 'publish', channel: 'chat:a$b', data: 1 }, 'bad_channel'],
    ];
    for (const [frame, code] of cases) {
      const reply = await c.request(frame);
      assert.equal(reply.op, 'error', `${JSON.stringify(frame)} → ${JSON.stringify(reply)}`);
      assert.ok([code].flat().includes(reply.code), `${JSON.stringify(frame)} → ${JSON.stringify(reply)}`);
    }
    assert.equal(c.ws.readyState, c.ws.OPEN);
    const ok = await c.request({ op: 'subscribe', channel: uniq('after-errors') });
    assert.equal(ok.op, 'subscribed');
    await c.close();
  });

  it('refuses more than ws_max_channels subscriptions: too_many_channels', async () => {
    const c = openWS(wsUrl());
    await c.opened;
    for (let i = 0; i < 3; i++) assert.equal((await c.request({ op: 'subscribe', channel: uniq('max') })).op, 'subscribed');
    const over = await c.request({ op: 'subscribe', channel: uniq('max') });
    assert.equal(over.op, 'error');
    assert.equal(over.code, 'too_many_channels');
    assert.equal(c.ws.readyState, c.ws.OPEN);
    await c.close();
  });
});
