// Graceful restart across nodes: two herald nodes on one Redis; subscribers on every way of listening
// are all on node A when A gets SIGTERM. A drains (held long polls answered 204, SSE streams ended,
// WebSockets closed with 1001) and exits 0; its clients resume from their cursors on node B, and, once
// A is back (a new process), on either node. A publisher sends a steady stream through the live nodes
// before, during and after the restart; every subscriber must end with each message exactly once, in
// order. The publisher's rule for a publish whose answer was lost is the one of chaos_redis.test.mjs
// (lib/chaos.mjs): read the newest message before sending a seq again, so each seq exists once.
//
// Runs under the Redis pass of the suite (HERALD_TEST_BROKER=redis); skipped, saying why, otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { publish, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';
import { Subscriber, allReach, prng, problemsOf, startPublisher, summary } from './lib/chaos.mjs';

const MESSAGES = 600;
const PUBLISH_MS = 6000;
const PER_TRANSPORT = { poll: 2, longpoll: 2, sse: 3, ws: 3, mux: 3 };
const SIGTERM_AFTER = 150; // messages published before A is told to stop
const CONFIG = '[history]\nsize = 5000\n[limits]\nshutdown_grace_seconds = 3\n';

const onRedisPass = process.env.HERALD_TEST_BROKER === 'redis';
let redis;
let nodes = []; // the live nodes, where clients and the publisher go
const everyNode = [];
const subscribers = new Set();

async function startNode() {
  const node = await startHerald({ config: redisConfig(redis, CONFIG) });
  everyNode.push(node);
  return node;
}

describe('graceful restart of one of two nodes on Redis', {
  skip: onRedisPass ? false : 'two herald nodes on Redis: runs in the Redis pass (HERALD_TEST_BROKER=redis, ctest integration-redis)',
}, () => {
  before(async () => {
    redis = await startRedis({ durable: true });
  });
  after(async () => {
    for (const s of subscribers) s.stop();
    for (const node of everyNode) await node.stop({ signal: 'SIGKILL' });
    await redis?.remove();
  });

  it(`SIGTERM on A: its clients on every transport move to B and get all ${MESSAGES} messages once, in order`, { timeout: 40000 }, async () => {
    const t0 = Date.now();
    const a = await startNode();
    const b = await startNode();
    nodes = [a, b];
    const channel = uniq('restart');
    const first = await publish(a.url, channel, { seq: 0 }, { json: true });
    assert.equal(first.status, 201, first.text);

    const subs = [];
    let i = 0;
    for (const [transport, count] of Object.entries(PER_TRANSPORT)) {
      for (let k = 0; k < count; k++, i++) {
        const s = new Subscriber({
          name: `sub${i}-${transport}`,
          channel,
          since: first.json.id,
          transport,
          rng: prng(1000 + i),
          // Everyone starts on A; a resume goes to a live node, B while A is away.
          node: (self) => (self.lastNode ? nodes[Math.floor(self.rng() * nodes.length)] : a),
          transient: true,
        });
        subscribers.add(s);
        subs.push(s);
      }
    }
    for (const s of subs) s.connect();
    const streaming = { sse: PER_TRANSPORT.sse, websocket: PER_TRANSPORT.ws + PER_TRANSPORT.mux, longpoll: PER_TRANSPORT.longpoll };
    await waitForSubscribers(a.url, channel, streaming);

    const publisher = startPublisher({ urls: [a.url, b.url], channel, messages: MESSAGES, publishMs: PUBLISH_MS, retry: true });
    // SIGTERM once SIGTERM_AFTER messages have reached the subscribers: A's clients are busy listening.
    await within(Promise.all(subs.map((s) => s.reachedSeq(SIGTERM_AFTER))), 10000, `every subscriber hearing seq ${SIGTERM_AFTER}`);
    nodes = [b]; // out of rotation, as a load balancer does once the node says it is going
    publisher.setNodes([b.url]);
    const sigterm = Date.now();
    a.proc.kill('SIGTERM');
    const exit = await within(a.exited, 6000, 'A exiting after SIGTERM');
    const drainedIn = exit.at - sigterm;
    const back = await startNode();
    nodes = [back, b];
    publisher.setNodes([back.url, b.url]);
    const restartedIn = Date.now() - sigterm;

    const { finalId, publishedMs, retries } = await publisher.done;
    await allReach(subs, finalId, 20000, within);
    console.log(
      `restart: ${subs.length} subscribers, ${MESSAGES} messages published in ${publishedMs} ms (${retries} retried); ` +
        `A drained and exited in ${drainedIn} ms, back after ${restartedIn} ms; ${summary(subs)}; ${Date.now() - t0} ms`,
    );

    assert.equal(exit.code, 0, `A exited by itself with 0, got ${JSON.stringify(exit)}`);
    const expected = Array.from({ length: MESSAGES }, (_, k) => k + 1);
    const problems = problemsOf(subs, expected);
    // A's goodbye, as each streaming client saw it (its first connection is the one on A).
    const goodbye = { sse: /^sse #1 on .*: stream ended$/, ws: /^ws #1 on .*: closed 1001/, mux: /^mux #1 on .*: closed 1001/ };
    for (const s of subs) {
      if (goodbye[s.transport] && !goodbye[s.transport].test(s.serverEnds[0] ?? '')) {
        problems.push(`${s.name}: A ended its connection with "${s.serverEnds[0]}", not the drain's goodbye`);
      }
      if (s.moves === 0) problems.push(`${s.name}: never left A`);
    }
    assert.deepEqual(problems, [], problems.slice(0, 40).join('\n'));
  });
});
