// One node cut off from Redis while the other goes on publishing: node B reaches Redis through a TCP
// relay the test can cut (a real connection failure, seen by B's Redis client as Redis going away), and
// while it is cut, node A publishes more than the channel's history keeps. When B is back, it re-reads
// the channel from the last message it delivered — and history no longer has all of what followed. Its
// clients, which never disconnected, must be told: on every transport they get 1..5, an explicit gap,
// then the kept messages in order. Without the gap marker they would silently skip what was lost.
//
// Runs under the Redis pass of the suite (HERALD_TEST_BROKER=redis); skipped, saying why, otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { eventually, publish, request, startHerald, uniq, within } from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';
import { Subscriber, TRANSPORTS, firstDifference, prng } from './lib/chaos.mjs';

const TINY = 10; // history of the `tiny` namespace
const CONFIG = `[namespace.tiny]\nhistory_size = ${TINY}\n`;
const onRedisPass = process.env.HERALD_TEST_BROKER === 'redis';

/** A TCP relay to `port` that can be cut (every connection through it closed, new ones refused) and restored. */
async function startRelay(port) {
  const pairs = new Set();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    const pair = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${server.address().port}/0`,
    cut() {
      open = false;
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
    },
    restore() {
      open = true;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('a node cut off from Redis while more than its history is published', {
  skip: onRedisPass ? false : 'two herald nodes on Redis: runs in the Redis pass (HERALD_TEST_BROKER=redis, ctest integration-redis)',
}, () => {
  let redis;
  let relay;
  let a;
  let b;
  const subs = [];
  before(async () => {
    redis = await startRedis();
    relay = await startRelay(redis.port);
    a = await startHerald({ config: redisConfig(redis, CONFIG) });
    b = await startHerald({ config: redisConfig({ url: relay.url }, CONFIG) });
  });
  after(async () => {
    for (const s of subs) s.stop();
    await a?.stop();
    await b?.stop();
    await relay?.close();
    await redis?.remove();
  });

  it('its clients that stayed connected get an explicit gap, then the kept messages, on every transport', { timeout: 30000 }, async () => {
    const channel = `tiny:${uniq('cutoff')}`;
    let seq = 0;
    const pub = async () => {
      seq += 1;
      const r = await publish(a.url, channel, { seq }, { json: true });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    const first = await publish(a.url, channel, { seq: 0 }, { json: true }); // everyone starts after it
    const start = first.json.id;
    for (const transport of TRANSPORTS) {
      const s = new Subscriber({ name: transport, channel, since: start, transport, rng: prng(7), node: () => b, transient: true });
      subs.push(s);
      s.connect();
    }
    let last;
    for (let n = 0; n < 5; n++) last = await pub();
    await within(Promise.all(subs.map((s) => s.reached(last))), 10000, 'every subscriber hearing seq 1..5');

    relay.cut();
    await eventually(async () => (await request(`${b.url}/channels/${channel}`)).status === 503, {
      timeoutMs: 10000,
      what: 'B noticing that Redis is gone',
    });
    for (let n = 0; n < 3 * TINY; n++) last = await pub(); // seq 6..35: history keeps 26..35
    relay.restore();
    await within(Promise.all(subs.map((s) => s.reached(last))), 15000, 'every subscriber hearing seq 35 once B is back');
    last = await pub(); // and live messages go on after it
    await within(Promise.all(subs.map((s) => s.reached(last))), 10000, 'every subscriber hearing seq 36');

    const kept = Array.from({ length: TINY }, (_, k) => 3 * TINY + 5 - TINY + 1 + k);
    const expected = [1, 2, 3, 4, 5, 'gap', ...kept, 3 * TINY + 6];
    const problems = subs.flatMap((s) => {
      const diff = firstDifference(s.log, expected);
      return [...s.violations, ...(diff ? [`${s.name}: ${diff}`] : [])];
    });
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
