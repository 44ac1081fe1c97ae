// Interval poll and long poll on GET /sub/{channel}: order, envelopes, Herald-Cursor, last=N,
// more:true, a long poll answered by a publish (not by its timeout), 204 on timeout, and the
// subscribe-side errors (bad_cursor, bad_parameter, bad_channel).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { poll, publish, publishMany, startHerald, uniq, waitForSubscribers } from './lib/herald.mjs';

function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(res.json?.error, code, `body: ${res.text}`);
  assert.equal(typeof res.json.message, 'string');
}

/** A 204 from "now": the cursor to resume from before publishing anything. */
async function cursorNow(url, ch) {
  const r = await poll(url, ch);
  assert.equal(r.status, 204, `first poll of ${ch}: ${r.status} ${r.text}`);
  assert.ok(r.cursor, 'a 204 carries Herald-Cursor');
  return r.cursor;
}

describe('interval poll', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('returns what was published, in order, as envelopes, and 204 when nothing is new', async () => {
    const ch = uniq('news');
    const c0 = await cursorNow(h.url, ch);
    const t0 = Date.now();
    const a = await publish(h.url, ch, { b: [1, 2], a: 'x' }, { json: true, event: 'update' });
    const b = await publish(h.url, ch, 'plain text\nsecond line');
    const c = await publish(h.url, ch, '{ "spaced" : true }', { json: true });

    const r = await poll(h.url, ch, { since: c0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.channel, ch);
    assert.equal(r.json.gap, false);
    assert.equal(r.json.more, false);
    assert.deepEqual(r.json.messages.map((m) => m.id), [a.json.id, b.json.id, c.json.id]);
    assert.equal(r.json.cursor, c.json.id, 'cursor is the id of the last message included');
    assert.equal(r.cursor, c.json.id, 'Herald-Cursor header on a 200');

    const [ma, mb, mc] = r.json.messages;
    assert.equal(ma.channel, ch);
    assert.equal(ma.event, 'update');
    assert.deepEqual(ma.data, { b: [1, 2], a: 'x' });
    assert.equal(typeof ma.time, 'number');
    assert.ok(ma.time >= t0 - 1000 && ma.time <= Date.now() + 1000, `time ${ma.time} is ms since epoch`);
    assert.ok(!('event' in mb), 'no event key when the message has none');
    assert.equal(mb.data, 'plain text\nsecond line', 'text arrives as a JSON string');
    assert.deepEqual(mc.data, { spaced: true });
    assert.match(r.text, /"data":\{"spaced":true\}/, 'JSON payload is compacted');

    const again = await poll(h.url, ch, { since: r.cursor });
    assert.equal(again.status, 204);
    assert.equal(again.cursor, c.json.id, 'a 204 carries the cursor to send next');
  });

  it('without since starts from now', async () => {
    const ch = uniq('now');
    await publishMany(h.url, ch, [1, 2]);
    const first = await poll(h.url, ch);
    assert.equal(first.status, 204, 'old messages are not replayed without since/last');
    const [id3] = await publishMany(h.url, ch, [3]);
    const r = await poll(h.url, ch, { since: first.cursor });
    assert.deepEqual(r.json.messages.map((m) => m.id), [id3]);
  });

  it('last=N starts with the newest N kept messages', async () => {
    const ch = uniq('last');
    const ids = await publishMany(h.url, ch, [1, 2, 3, 4, 5]);
    const r = await poll(h.url, ch, { last: 2 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.messages.map((m) => m.data), [4, 5]);
    assert.equal(r.cursor, ids[4]);
    const all = await poll(h.url, ch, { last: 50 });
    assert.deepEqual(all.json.messages.map((m) => m.data), [1, 2, 3, 4, 5]);
    assert.equal(all.json.gap, false);
  });

  it('last is ignored when since is given', async () => {
    const ch = uniq('last-since');
    const ids = await publishMany(h.url, ch, [1, 2, 3, 4]);
    const r = await poll(h.url, ch, { since: ids[2], last: 3 });
    assert.deepEqual(r.json.messages.map((m) => m.data), [4]);
  });

  it('wait=0 is an interval poll (answers at once)', async () => {
    const ch = uniq('w0');
    const r = await poll(h.url, ch, { wait: 0 });
    assert.equal(r.status, 204);
    assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
  });

  it('rejects a malformed cursor: 400 bad_cursor', async () => {
    const ch = uniq('bc');
    assertError(await poll(h.url, ch, { since: 'garbage' }), 400, 'bad_cursor');
    assertError(await poll(h.url, ch, { since: '%%%' }), 400, 'bad_cursor');
    assertError(await poll(h.url, ch, { since: 'garbage', wait: 5 }), 400, 'bad_cursor');
    // The README's `since=<cursor>` taken literally: the answer says where a cursor comes from.
    const literal = await poll(h.url, ch, { since: '<cursor>' });
    assertError(literal, 400, 'bad_cursor');
    assert.match(literal.json.message, /a message's id \(a publish answers with it\), or the Herald-Cursor header/);
  });

  it('rejects wait or last that is not a non-negative integer: 400 bad_parameter', async () => {
    const ch = uniq('bp');
    assertError(await poll(h.url, ch, { wait: 'abc' }), 400, 'bad_parameter');
    assertError(await poll(h.url, ch, { wait: '-1' }), 400, 'bad_parameter');
    assertError(await poll(h.url, ch, { last: 'abc' }), 400, 'bad_parameter');
    assertError(await poll(h.url, ch, { last: '-2' }), 400, 'bad_parameter');
  });

  it('rejects a bad channel name on subscribe: 400 bad_channel', async () => {
    assertError(await poll(h.url, 'a b'), 400, 'bad_channel');
    assertError(await poll(h.url, 'x'.repeat(129)), 400, 'bad_channel');
  });
});

describe('long poll', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('is answered by a publish, not by its timeout', async () => {
    const ch = uniq('lp');
    const c0 = await cursorNow(h.url, ch);
    let answered = false;
    const held = poll(h.url, ch, { since: c0, wait: 30 }).finally(() => (answered = true));
    // The server shows the request held before we publish.
    await waitForSubscribers(h.url, ch, { longpoll: 1 });
    assert.equal(answered, false, 'the long poll must be held while nothing is published');
    const t0 = Date.now();
    const pub = await publish(h.url, ch, { n: 1 }, { json: true });
    assert.equal(pub.json.subscribers, 1, 'the held long poll counts as a subscriber');
    const r = await held;
    const ms = Date.now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.ok(ms < 3000, `answered ${ms} ms after the publish (wait was 30 s)`);
    assert.deepEqual(r.json.messages.map((m) => m.id), [pub.json.id]);
    assert.equal(r.cursor, pub.json.id);
  });

  it('without since is held from now and answered by the next publish', async () => {
    const ch = uniq('lp-now');
    await publishMany(h.url, ch, ['old']);
    const held = poll(h.url, ch, { wait: 30 });
    await waitForSubscribers(h.url, ch, { longpoll: 1 });
    const [id] = await publishMany(h.url, ch, ['new']);
    const r = await held;
    assert.deepEqual(r.json.messages.map((m) => [m.id, m.data]), [[id, 'new']]);
  });

  it('answers at once when messages after the cursor exist', async () => {
    const ch = uniq('lp-ready');
    const c0 = await cursorNow(h.url, ch);
    const ids = await publishMany(h.url, ch, [1, 2]);
    const r = await poll(h.url, ch, { since: c0, wait: 30 });
    assert.equal(r.status, 200);
    assert.ok(r.ms < 3000, `answered in ${r.ms} ms`);
    assert.deepEqual(r.json.messages.map((m) => m.id), ids);
  });

  it('answers 204 with Herald-Cursor when wait runs out', async () => {
    const ch = uniq('lp-timeout');
    const [id] = await publishMany(h.url, ch, ['x']);
    const r = await poll(h.url, ch, { since: id, wait: 1 });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.cursor, id);
    assert.ok(r.ms >= 900 && r.ms < 5000, `204 after ${r.ms} ms for wait=1`);
    const info = await waitForSubscribers(h.url, ch, { longpoll: 0 });
    assert.equal(info.subscribers.longpoll, 0, 'a timed-out long poll is no longer counted');
  });
});

describe('poll limits', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: '[limits]\npoll_batch_limit = 3\nlongpoll_max_wait_seconds = 1\n' });
  });
  after(() => h?.stop());

  it('cuts at poll_batch_limit with more:true; polling again at once gets the rest', async () => {
    const ch = uniq('more');
    const c0 = await cursorNow(h.url, ch);
    const ids = await publishMany(h.url, ch, [1, 2, 3, 4, 5, 6, 7]);
    const batches = [];
    let cursor = c0;
    for (;;) {
      const r = await poll(h.url, ch, { since: cursor });
      assert.equal(r.status, 200, r.text);
      batches.push(r.json);
      assert.equal(r.cursor, r.json.cursor);
      cursor = r.json.cursor;
      if (!r.json.more) break;
      assert.ok(batches.length < 10, 'more:true never ends');
    }
    assert.deepEqual(batches.map((b) => b.messages.length), [3, 3, 1]);
    assert.deepEqual(batches.map((b) => b.more), [true, true, false]);
    assert.deepEqual(batches.flatMap((b) => b.messages.map((m) => m.id)), ids);
    assert.equal((await poll(h.url, ch, { since: cursor })).status, 204);
  });

  it('cuts a long poll and last=N at poll_batch_limit too', async () => {
    const ch = uniq('more-lp');
    const c0 = await cursorNow(h.url, ch);
    await publishMany(h.url, ch, [1, 2, 3, 4, 5]);
    const lp = await poll(h.url, ch, { since: c0, wait: 1 });
    assert.deepEqual(lp.json.messages.map((m) => m.data), [1, 2, 3]);
    assert.equal(lp.json.more, true);
    const last = await poll(h.url, ch, { last: 5 });
    assert.equal(last.json.messages.length, 3);
    assert.equal(last.json.more, true);
  });

  it('clamps wait to longpoll_max_wait_seconds', async () => {
    const ch = uniq('clamp');
    const c0 = await cursorNow(h.url, ch);
    const r = await poll(h.url, ch, { since: c0, wait: 600 });
    assert.equal(r.status, 204);
    assert.ok(r.ms < 5000, `wait=600 clamped to 1 s answered after ${r.ms} ms`);
  });
});
