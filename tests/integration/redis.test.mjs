// Two herald nodes on one Redis behave as one: a message published on one reaches every transport on
// the other, a cursor minted on one resumes on the other, and Redis going away gives 503s, keeps live
// subscribers connected, and ends in a clean resume once it is back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  eventually,
  openSSE,
  openWS,
  poll,
  publish,
  publishMany,
  startHerald,
  uniq,
  waitForSubscribers,
  wsMessages,
} from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';

describe('two nodes on one Redis', () => {
  let redis;
  let a;
  let b;
  before(async () => {
    redis = await startRedis();
    a = await startHerald({ config: redisConfig(redis) });
    b = await startHerald({ config: redisConfig(redis) });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.remove();
  });

  it('a message published on A reaches all four transports on B', async () => {
    const ch = uniq('across');
    const sse = openSSE(`${b.url}/sub/${chanPath(ch)}`);
    const single = openWS(`${b.wsUrl}/sub/${chanPath(ch)}`);
    const multi = openWS(`${b.wsUrl}/ws`);
    await multi.opened;
    const subscribed = await multi.request({ op: 'subscribe', channel: ch });
    assert.equal(subscribed.op, 'subscribed');
    const { cursor: start } = await poll(b.url, ch);
    const held = poll(b.url, ch, { wait: 30 });
    await sse.response;
    await waitForSubscribers(b.url, ch, { sse: 1, websocket: 2, longpoll: 1 });

    const [id] = await publishMany(a.url, ch, [{ hello: 'B' }]);
    assert.equal((await sse.events.waitFor(1))[0].id, id);
    assert.equal((await single.frames.waitFor(1))[0].id, id);
    const frame = await multi.frames.waitForItem((f) => f.op === 'message');
    assert.deepEqual([frame.id, frame.data], [id, { hello: 'B' }]);
    const longPoll = await held;
    assert.deepEqual(
      longPoll.json.messages.map((m) => m.id),
      [id],
    );
    const interval = await poll(b.url, ch, { since: start });
    assert.deepEqual(
      interval.json.messages.map((m) => m.id),
      [id],
    );
    await sse.close();
    await single.close();
    await multi.close();
  });

  it('B and A report the same channel', async () => {
    const ch = uniq('info');
    const [, last] = await publishMany(a.url, ch, [1, 2]);
    const infoA = (await fetch(`${a.url}/channels/${chanPath(ch)}`).then((r) => r.json()));
    const infoB = (await fetch(`${b.url}/channels/${chanPath(ch)}`).then((r) => r.json()));
    assert.equal(infoB.last_id, last);
    assert.equal(infoB.history, 2);
    assert.deepEqual([infoA.last_id, infoA.history], [infoB.last_id, infoB.history]);
  });

  it('a cursor from A resumes on B with nothing lost or repeated', async () => {
    const ch = uniq('resume');
    const sseA = openSSE(`${a.url}/sub/${chanPath(ch)}`);
    await sseA.response;
    const ids = await publishMany(a.url, ch, [1, 2, 3, 4, 5]);
    const seenOnA = (await sseA.events.waitFor(2)).map((e) => e.id);
    await sseA.close();

    // SSE on B from A's cursor: the rest of history, then live from either node.
    const sseB = openSSE(`${b.url}/sub/${chanPath(ch)}`, { headers: { 'Last-Event-ID': seenOnA.at(-1) } });
    await sseB.response;
    const more = await publishMany(b.url, ch, [6]);
    const more2 = await publishMany(a.url, ch, [7]);
    const events = await sseB.events.waitFor(5);
    assert.deepEqual(
      events.map((e) => e.id),
      [...ids.slice(2), ...more, ...more2],
    );
    assert.ok(!events.some((e) => e.event === 'gap'));
    // And a poll on B from A's first cursor gives exactly what follows it.
    const p = await poll(b.url, ch, { since: ids[0] });
    assert.equal(p.json.gap, false);
    assert.deepEqual(
      p.json.messages.map((m) => m.id),
      [...ids.slice(1), ...more, ...more2],
    );
    await sseB.close();
  });
});

describe('Redis goes away and comes back', () => {
  let redis;
  let a;
  let b;
  before(async () => {
    redis = await startRedis({ durable: true });
    a = await startHerald({ config: redisConfig(redis) });
    b = await startHerald({ config: redisConfig(redis) });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.remove();
  });

  it('publishing answers 503, live subscribers stay, and everything accepted arrives after the return', async () => {
    const ch = uniq('outage');
    const sse = openSSE(`${b.url}/sub/${chanPath(ch)}`);
    const multi = openWS(`${b.wsUrl}/ws`);
    await multi.opened;
    await multi.request({ op: 'subscribe', channel: ch });
    await sse.response;
    const [first] = await publishMany(a.url, ch, ['before']);
    await sse.events.waitFor(1);
    await multi.frames.waitForItem((f) => f.op === 'message');
    const heldPoll = poll(b.url, ch, { since: first, wait: 30 });
    await waitForSubscribers(b.url, ch, { longpoll: 1 });

    await redis.stop();
    for (const node of [a, b]) {
      const refused = await publish(node.url, ch, 'during');
      assert.equal(refused.status, 503);
      assert.equal(refused.json.error, 'broker_unavailable');
    }
    const newcomer = await poll(b.url, ch);
    assert.equal(newcomer.status, 503);
    const sseNewcomer = await openSSE(`${b.url}/sub/${chanPath(ch)}`).response;
    assert.deepEqual([sseNewcomer.status, sseNewcomer.json?.error], [503, 'broker_unavailable']);
    const wsNewcomer = openWS(`${b.wsUrl}/sub/${chanPath(ch)}`);
    const refusal = await wsNewcomer.frames.waitFor(1);
    assert.equal(refusal[0].code ?? refusal[0].error, 'broker_unavailable');
    assert.equal((await wsNewcomer.closed).code, 1013);
    const multiNewcomer = await multi.request({ op: 'subscribe', channel: uniq('other') });
    assert.deepEqual([multiNewcomer.op, multiNewcomer.code], ['error', 'broker_unavailable']);
    assert.equal(sse.events.endReason, null, 'the SSE stream stays open');
    assert.equal(multi.ws.readyState, 1, 'the WebSocket stays open');

    await redis.start();
    // Each node reconnects by itself; a publish is refused until A is back (each 503 published nothing).
    const accepted = await eventually(
      async () => {
        const r = await publish(a.url, ch, JSON.stringify('after'), { json: true });
        return r.status === 201 && r.json.id;
      },
      { timeoutMs: 10000, what: 'A to publish again', everyMs: 50 },
    );
    const events = await sse.events.waitFor(2, { timeoutMs: 10000 });
    assert.deepEqual(
      events.map((e) => e.id),
      [first, accepted],
    );
    const frames = await multi.frames.waitUntil((f) => (wsMessages(f, ch).length >= 2 ? wsMessages(f, ch) : undefined));
    assert.deepEqual(
      frames.map((f) => f.id),
      [first, accepted],
    );
    const longPoll = await heldPoll; // held through the outage, answered by the first message after it
    assert.deepEqual(
      longPoll.json.messages.map((m) => m.id),
      [accepted],
    );
    // A client resuming on B from the cursor it had before the outage: no gap, exactly what followed.
    const resumed = await poll(b.url, ch, { since: first });
    assert.equal(resumed.json.gap, false);
    assert.deepEqual(
      resumed.json.messages.map((m) => m.id),
      [accepted],
    );
    assert.equal(events.length, 2);
    await sse.close();
    await multi.close();
  });
});
