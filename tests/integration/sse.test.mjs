// Server-Sent Events on GET /sub/{channel}: the wire format (retry, comment, id/event/data,
// multi-line text), heartbeats, resume by Last-Event-ID and ?since=, and the `eventsource` client.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  openEventSource,
  openSSE,
  publish,
  publishMany,
  startHerald,
  uniq,
  waitForSubscribers,
} from './lib/herald.mjs';

describe('SSE', () => {
  let h;
  before(async () => {
    // A 1 s heartbeat so the test sees one without waiting 15 s.
    h = await startHerald({ config: '[limits]\nsse_heartbeat_seconds = 1\n' });
  });
  after(() => h?.stop());

  const subUrl = (ch, qs = '') => `${h.url}/sub/${chanPath(ch)}${qs}`;

  it('opens with retry and a comment, then streams messages in order with id, event and data', async () => {
    const ch = uniq('sse');
    const s = openSSE(subUrl(ch));
    const res = await s.response;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    await waitForSubscribers(h.url, ch, { sse: 1 });

    const a = await publish(h.url, ch, '{ "any" : "json" }', { json: true, event: 'update' });
    const b = await publish(h.url, ch, 'line one\nline two');
    const c = await publish(h.url, ch, 'third');
    const events = await s.events.waitFor(3);

    assert.equal(s.lines[0], 'retry: 3000', 'the stream opens with a retry line');
    assert.equal(s.retry, 3000);
    const firstEvent = s.lines.findIndex((l) => l.startsWith('id:') || l.startsWith('data:'));
    assert.ok(s.lines.slice(0, firstEvent).some((l) => l.startsWith(':')), 'a comment precedes the first event');

    assert.deepEqual(
      events.map((e) => e.id),
      [a.json.id, b.json.id, c.json.id],
    );
    assert.equal(events[0].event, 'update');
    assert.equal(events[0].data, '{"any":"json"}', 'JSON payload compacted onto one line');
    assert.equal(events[1].event, 'message', 'no event: line when the message has no event name');
    assert.deepEqual(events[1].dataLines, ['line one', 'line two'], 'text split into one data: line per line');
    assert.equal(events[2].data, 'third');
    assert.equal(a.json.subscribers, 1);
    s.close();
  });

  it('sends a comment heartbeat every sse_heartbeat_seconds', async () => {
    const s = openSSE(subUrl(uniq('hb')));
    await s.response;
    const t0 = Date.now();
    await s.comments.waitForItem((c) => c === 'hb', { timeoutMs: 4000 });
    assert.ok(Date.now() - t0 < 4000);
    s.close();
  });

  it('resumes after the Last-Event-ID header', async () => {
    const ch = uniq('lei');
    const ids = await publishMany(h.url, ch, [1, 2, 3]);
    const s = openSSE(subUrl(ch), { headers: { 'Last-Event-ID': ids[0] } });
    await s.response;
    const missed = await s.events.waitFor(2);
    assert.deepEqual(missed.map((e) => [e.id, e.data]), [[ids[1], '2'], [ids[2], '3']]);
    await waitForSubscribers(h.url, ch, { sse: 1 });
    const [id4] = await publishMany(h.url, ch, [4]);
    const all = await s.events.waitFor(3);
    assert.equal(all[2].id, id4, 'then live messages');
    s.close();
  });

  it('resumes after ?since=', async () => {
    const ch = uniq('since');
    const ids = await publishMany(h.url, ch, ['a', 'b', 'c']);
    const s = openSSE(subUrl(ch, `?since=${encodeURIComponent(ids[1])}`));
    const [e] = await s.events.waitFor(1);
    assert.equal(e.id, ids[2]);
    assert.equal(e.data, '"c"');
    s.close();
  });

  it('answers a malformed Last-Event-ID with 400 bad_cursor', async () => {
    const s = openSSE(subUrl(uniq('bad')), { headers: { 'Last-Event-ID': 'garbage' } });
    const res = await s.response;
    assert.equal(res.status, 400);
    assert.equal(res.json?.error, 'bad_cursor', res.text);
  });

  it('works with the eventsource package: message and named events, lastEventId', async () => {
    const ch = uniq('es');
    const src = openEventSource(subUrl(ch), { types: ['update'] });
    await src.opened;
    await waitForSubscribers(h.url, ch, { sse: 1 });
    const a = await publish(h.url, ch, 'hello');
    const b = await publish(h.url, ch, { x: 1 }, { json: true, event: 'update' });
    const got = await src.events.waitFor(2);
    assert.deepEqual(got, [
      { type: 'message', id: a.json.id, data: 'hello' },
      { type: 'update', id: b.json.id, data: '{"x":1}' },
    ]);
    src.close();
  });

  it('eventsource package resumes with a Last-Event-ID header', async () => {
    const ch = uniq('es-resume');
    const ids = await publishMany(h.url, ch, [1, 2, 3]);
    const src = openEventSource(subUrl(ch), { lastEventId: ids[0] });
    const got = await src.events.waitFor(2);
    assert.deepEqual(got.map((e) => e.id), ids.slice(1));
    src.close();
  });
});
