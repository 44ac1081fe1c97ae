// Presence: subscribers of a presence namespace say who they are on any transport; GET
// /channels/{channel}/presence lists them, and everyone on the channel hears `join` when a member
// arrives and `leave` when its last connection has been gone for the linger (an interval poller: when
// its lease runs out). With the Redis broker the same holds across nodes, and the members of a node
// that dies are reaped by the others.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chanPath, openSSE, openWS, poll, publish, request, startHerald, uniq } from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';

const SPACE = `[namespace.room]\npresence = true\nclient_publish = true\n[namespace.plain]\nclient_publish = true\n`;
const QUICK = `[limits]\npresence_linger_seconds = 1\npresence_lease_seconds = 3\n`;

const member = (client, name) => `client=${client}&name=${encodeURIComponent(name)}`;
const presenceOf = async (url, channel) => {
  const r = await request(`${url}/channels/${chanPath(channel)}/presence`);
  assert.equal(r.status, 200, r.text);
  return r.json;
};
const names = (list) => list.members.map((m) => m.name).sort();

/** An SSE observer of the channel's join/leave events: [{event, client, name}]. */
function observe(url, channel) {
  const sse = openSSE(`${url}/sub/${chanPath(channel)}?format=envelope`);
  const presenceEvents = () =>
    sse.events.items
      .map((e) => JSON.parse(e.data))
      .filter((env) => env.event === 'join' || env.event === 'leave')
      .map((env) => ({ event: env.event, client: env.data.client, name: env.data.name }));
  const waitFor = (event, client) =>
    sse.events.waitUntil(() => presenceEvents().find((e) => e.event === event && e.client === client), {
      what: `${event} of ${client}`,
    });
  return { sse, presenceEvents, waitFor };
}

describe('presence on one node', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: SPACE + QUICK });
  });
  after(() => h?.stop());

  it('lists members of every transport and announces each join and leave once', async () => {
    const ch = `room:${uniq()}`;
    const watch = observe(h.url, ch);
    await watch.sse.response;

    const sse = openSSE(`${h.url}/sub/${chanPath(ch)}?${member('sse1', 'Ada (SSE)')}`);
    const single = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?${member('ws1', 'Bo "WS" <b>')}`);
    const multi = openWS(`${h.wsUrl}/ws`);
    await multi.opened;
    const sub = await multi.request({ op: 'subscribe', channel: ch, client: 'mux1', name: 'Cy' });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    const held = new AbortController();
    const longPoll = poll(h.url, ch, { wait: 30, query: member('lp1', 'Di'), signal: held.signal }).catch(() => null);
    assert.equal((await poll(h.url, ch, { query: member('poll1', 'Ed') })).status, 204);

    for (const c of ['sse1', 'ws1', 'mux1', 'lp1', 'poll1']) await watch.waitFor('join', c);
    const list = await presenceOf(h.url, ch);
    assert.equal(list.count, 5);
    assert.deepEqual(names(list), ['Ada (SSE)', 'Bo "WS" <b>', 'Cy', 'Di', 'Ed']);
    assert.equal(list.truncated, false);

    sse.close();
    await single.close();
    await multi.request({ op: 'unsubscribe', channel: ch });
    held.abort();
    await longPoll;
    for (const c of ['sse1', 'ws1', 'mux1', 'lp1', 'poll1']) await watch.waitFor('leave', c);
    assert.equal((await presenceOf(h.url, ch)).count, 0);
    // Exactly one join and one leave each, in that order.
    for (const c of ['sse1', 'ws1', 'mux1', 'lp1', 'poll1']) {
      assert.deepEqual(
        watch.presenceEvents().filter((e) => e.client === c).map((e) => e.event),
        ['join', 'leave'],
        c,
      );
    }
    await multi.close();
    watch.sse.close();
  });

  it('a /ws member stays present while its subscription lasts, past the linger', async () => {
    const ch = `room:${uniq()}`;
    const watch = observe(h.url, ch);
    await watch.sse.response;
    const multi = openWS(`${h.wsUrl}/ws`);
    await multi.opened;
    assert.equal((await multi.request({ op: 'subscribe', channel: ch, client: 'mux1', name: 'Cy' })).op, 'subscribed');
    await watch.waitFor('join', 'mux1');
    // Another member comes and goes: its leave, a linger after it went, is the clock.
    const sse = openSSE(`${h.url}/sub/${chanPath(ch)}?${member('sse1', 'Ada')}`);
    await watch.waitFor('join', 'sse1');
    sse.close();
    await watch.waitFor('leave', 'sse1');
    assert.deepEqual(watch.presenceEvents().filter((e) => e.client === 'mux1').map((e) => e.event), ['join']);
    assert.deepEqual(names(await presenceOf(h.url, ch)), ['Cy']);
    await multi.request({ op: 'unsubscribe', channel: ch });
    await watch.waitFor('leave', 'mux1');
    multi.close();
    watch.sse.close();
  });

  it('a member who reconnects within the linger, even on another transport, does not leave', async () => {
    const ch = `room:${uniq()}`;
    const watch = observe(h.url, ch);
    await watch.sse.response;
    const first = openSSE(`${h.url}/sub/${chanPath(ch)}?${member('mover', 'Mo')}`);
    const other = openSSE(`${h.url}/sub/${chanPath(ch)}?${member('other', 'Ot')}`);
    await watch.waitFor('join', 'mover');
    await watch.waitFor('join', 'other');
    first.close();
    const second = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?${member('mover', 'Mo')}`);
    await second.opened;
    // `other` leaves after `mover` dropped its first connection: a leave of `mover` would come first.
    other.close();
    await watch.waitFor('leave', 'other');
    assert.deepEqual(
      watch.presenceEvents().filter((e) => e.client === 'mover').map((e) => e.event),
      ['join'],
    );
    assert.deepEqual(names(await presenceOf(h.url, ch)), ['Mo']);
    await second.close();
    watch.sse.close();
  });

  it('refuses what is not a member, and presence where the namespace keeps none', async () => {
    const ch = `room:${uniq()}`;
    const cases = [
      [`client=only`, 'bad_presence'],
      [`name=only`, 'bad_presence'],
      [member('has space', 'x'), 'bad_presence'],
      [member('x'.repeat(65), 'x'), 'bad_presence'],
      [member('ok', 'line\nbreak'), 'bad_presence'],
      [member('ok', 'n'.repeat(65)), 'bad_presence'],
    ];
    for (const [query, error] of cases) {
      const r = await poll(h.url, ch, { query });
      assert.equal(r.status, 400, query);
      assert.equal(r.json.error, error, query);
    }
    const plain = await poll(h.url, `plain:${uniq()}`, { query: member('ok', 'x') });
    assert.equal(plain.status, 400);
    assert.equal(plain.json.error, 'presence_off');
    const list = await request(`${h.url}/channels/${chanPath(`plain:${uniq()}`)}/presence`);
    assert.equal(list.status, 400);
    assert.equal(list.json.error, 'presence_off');

    const ws = openWS(`${h.wsUrl}/ws`);
    await ws.opened;
    const refused = await ws.request({ op: 'subscribe', channel: ch, client: 'ok', name: '' });
    assert.deepEqual([refused.op, refused.code], ['error', 'bad_presence']);
    await ws.close();
  });

  it('join and leave are herald\'s own events: publishers may not send them', async () => {
    const ch = `room:${uniq()}`;
    for (const event of ['join', 'leave']) {
      const r = await publish(h.url, ch, 'x', { event });
      assert.equal(r.status, 400);
      assert.equal(r.json.error, 'bad_event');
    }
    const ws = openWS(`${h.wsUrl}/ws`);
    await ws.opened;
    const reply = await ws.request({ op: 'publish', channel: ch, event: 'join', data: { client: 'x', name: 'fake' } });
    assert.deepEqual([reply.op, reply.code], ['error', 'bad_event']);
    await ws.close();
  });

  it('a /sub WebSocket publishes to its own channel, and POST /pub takes a key-less client where clients may publish', async () => {
    const ch = `room:${uniq()}`;
    // From a cursor, not "now": with Redis, "now" is fixed when the subscription is in place, which
    // the socket does not announce, and the publish below may come first.
    const { cursor } = await poll(h.url, ch);
    const ws = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?since=${cursor}`);
    await ws.opened;
    const reply = await ws.request({ op: 'publish', channel: ch, data: { text: 'over the socket' } });
    assert.equal(reply.op, 'published', JSON.stringify(reply));
    const message = await ws.frames.waitForItem((f) => f.id === reply.id && !f.op);
    assert.deepEqual(message.data, { text: 'over the socket' });
    const elsewhere = await ws.request({ op: 'publish', channel: `room:${uniq()}`, data: 'x' });
    assert.deepEqual([elsewhere.op, elsewhere.code], ['error', 'bad_frame']);
    await ws.close();

    const posted = await request(`${h.url}/pub/${chanPath(ch)}`, { method: 'POST', body: 'by post' });
    assert.equal(posted.status, 201, posted.text);
    const foreign = await request(`${h.url}/pub/${chanPath(ch)}`, {
      method: 'POST',
      body: 'from elsewhere',
      headers: { Origin: 'https://evil.example' },
    });
    assert.equal(foreign.status, 403);
  });
});

describe('presence across two nodes on one Redis', () => {
  let redis;
  let a;
  let b;
  before(async () => {
    redis = await startRedis();
    a = await startHerald({ config: redisConfig(redis, SPACE + QUICK) });
    b = await startHerald({ config: redisConfig(redis, SPACE + QUICK) });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.remove();
  });

  it('lists the members of both nodes, announces each once, and reaps those of a node that died', async () => {
    const ch = `room:${uniq()}`;
    const watch = observe(b.url, ch);
    await watch.sse.response;
    const onA = openSSE(`${a.url}/sub/${chanPath(ch)}?${member('alpha', 'On A')}`);
    const onB = openWS(`${b.wsUrl}/sub/${chanPath(ch)}?${member('beta', 'On B')}`);
    // One person with a tab on each node is one member.
    const twiceA = openSSE(`${a.url}/sub/${chanPath(ch)}?${member('both', 'Both')}`);
    const twiceB = openSSE(`${b.url}/sub/${chanPath(ch)}?${member('both', 'Both')}`);
    for (const c of ['alpha', 'beta', 'both']) await watch.waitFor('join', c);
    for (const node of [a, b]) assert.deepEqual(names(await presenceOf(node.url, ch)), ['Both', 'On A', 'On B']);

    // Leaving one node while still on the other is no leave.
    twiceB.close();
    await onB.close();
    await watch.waitFor('leave', 'beta');
    assert.deepEqual(names(await presenceOf(b.url, ch)), ['Both', 'On A']);

    // Node A dies without a word: its members leave once their lease runs out, announced by B.
    await a.stop({ signal: 'SIGKILL' });
    onA.close();
    twiceA.close();
    await watch.waitFor('leave', 'alpha');
    await watch.waitFor('leave', 'both');
    assert.equal((await presenceOf(b.url, ch)).count, 0);
    for (const c of ['alpha', 'beta', 'both']) {
      assert.deepEqual(
        watch.presenceEvents().filter((e) => e.client === c).map((e) => e.event),
        ['join', 'leave'],
        c,
      );
    }
    watch.sse.close();
  });
});
