// Chaos on two nodes and one Redis: subscribers on every way of listening (interval poll, long poll,
// SSE, WebSocket on /sub and /ws), spread over two herald nodes, are dropped at random and resume from
// their cursor on either node; meanwhile the test kills Redis (SIGKILL) and starts it again on its
// append-only file, and kills one herald node (SIGKILL) and starts it again, its clients moving to the
// other node. Every subscriber must end with exactly 1..M: nothing lost, repeated or reordered, no gap.
// The second test does the same with a Redis that keeps nothing across the restart: there the history
// truly runs out, and each subscriber must hear 1..k, exactly one explicit gap, then exactly what the new
// history holds (every seq acknowledged after the restart), in order.
//
// The rule for publishes: an acknowledged publish (201) is never lost. A publish that was not
// acknowledged (503 broker_unavailable while Redis is away, a connection refused or cut by the killed
// node) may still have been applied — Redis may have run it with the answer lost on the way back. The
// publisher (lib/chaos.mjs) never leaves that ambiguous: before sending seq n again, it reads the
// channel's newest message, and only if that is not seq n does it send n again. So each seq is in the
// channel exactly once, and the expected sequence is simply 1..M.
//
// Runs under the Redis pass of the suite (HERALD_TEST_BROKER=redis, ctest integration-redis) and starts
// its own durable Redis; on the memory pass it is skipped, saying why, rather than run twice the same.
// Seeded: the seed is printed, CHAOS_SEED=<n> replays the same random decisions (when to drop, how long
// to stay away, which transport and node to resume on, when Redis and the node go down, for how long).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { poll, publish, startHerald, uniq, within } from './lib/herald.mjs';
import { redisConfig, startRedis } from './lib/redis.mjs';
import { TRANSPORTS, Subscriber, allReach, between, chaosSeed, firstDifference, prng, problemsOf, startPublisher, summary } from './lib/chaos.mjs';

const MESSAGES = 1200;
const PUBLISH_MS = 12000;
const PER_TRANSPORT = { poll: 6, longpoll: 6, sse: 6, ws: 6, mux: 6 };
const KILL_AFTER_MS = [300, 1500]; // a connection lives this long before the test drops it
const PAUSE_MS = [0, 250]; // and the subscriber stays away this long before resuming
const SWITCH_P = 0.35; // chance that a resume uses a transport picked at random
const REDIS_DOWN_AT_MS = [1500, 3500]; // after the publisher starts
const REDIS_DOWN_FOR_MS = [300, 1500];
const NODE_DOWN_AT_MS = [6000, 8000];
const NODE_DOWN_FOR_MS = [300, 1500];

const SEED = chaosSeed();
const onRedisPass = process.env.HERALD_TEST_BROKER === 'redis';
const CONFIG = '[history]\nsize = 5000\n';

let redis;
let nodes = []; // the live herald nodes
const everyNode = [];
const subscribers = new Set();

async function startNode() {
  const node = await startHerald({ config: redisConfig(redis, CONFIG) });
  everyNode.push(node);
  return node;
}

async function cleanUp() {
  for (const s of subscribers) s.stop();
  subscribers.clear();
  for (const node of everyNode.splice(0)) await node.stop({ signal: 'SIGKILL' });
  await redis?.remove();
  redis = undefined;
}

/**
 * Two nodes on a fresh Redis (`durable`: append-only file), subscribers dropped at random, Redis killed and
 * restarted, one node killed and restarted. Answers the subscribers once each has heard the last message.
 */
async function chaos({ durable, label }) {
  redis = await startRedis({ durable });
  nodes = [await startNode(), await startNode()];
  const t0 = Date.now();
  const channel = uniq(label);
  const first = await publish(nodes[0].url, channel, { seq: 0 }, { json: true });
  assert.equal(first.status, 201, first.text);
  const subs = [];
  let i = 0;
  for (const [transport, count] of Object.entries(PER_TRANSPORT)) {
    for (let k = 0; k < count; k++, i++) {
      const s = new Subscriber({
        name: `sub${i}`,
        channel,
        since: first.json.id,
        transport,
        rng: prng(SEED + 7919 * (i + 1)),
        node: (self) => nodes[Math.floor(self.rng() * nodes.length)], // either live node
        transient: true,
      });
      subscribers.add(s);
      subs.push(s);
    }
  }
  for (const s of subs) s.connect();

  let publishing = true;
  const drops = subs.map(async (s) => {
    for (;;) {
      await delay(between(s.rng, KILL_AFTER_MS));
      if (!publishing) return;
      const transport = s.rng() < SWITCH_P ? TRANSPORTS[Math.floor(s.rng() * TRANSPORTS.length)] : s.transport;
      s.kill({ pauseMs: between(s.rng, PAUSE_MS), transport });
    }
  });

  const publisher = startPublisher({ urls: nodes.map((n) => n.url), channel, messages: MESSAGES, publishMs: PUBLISH_MS, retry: true });
  const rng = prng(SEED ^ 0x5bd1e995);
  const events = [];
  const note = (what) => events.push(`${Date.now() - t0} ms: ${what}`);
  const outages = (async () => {
    const tp = Date.now();
    await delay(between(rng, REDIS_DOWN_AT_MS));
    await redis.stop();
    note('Redis killed');
    await delay(between(rng, REDIS_DOWN_FOR_MS));
    await redis.start();
    note('Redis started again');

    await delay(Math.max(0, between(rng, NODE_DOWN_AT_MS) - (Date.now() - tp)));
    const victim = nodes[Math.floor(rng() * nodes.length)];
    // Out of rotation first (what a load balancer does once the node stops answering), then killed:
    // its clients fail and resume on the other node.
    nodes = nodes.filter((n) => n !== victim);
    publisher.setNodes(nodes.map((n) => n.url));
    victim.proc.kill('SIGKILL');
    await victim.exited;
    note(`node ${victim.port} killed`);
    await delay(between(rng, NODE_DOWN_FOR_MS));
    const back = await startNode();
    nodes = [...nodes, back];
    publisher.setNodes(nodes.map((n) => n.url));
    note(`node ${back.port} started in its place`);
  })();

  const [{ finalId, publishedMs, retries, failures }] = await Promise.all([publisher.done, outages]);
  publishing = false;
  await Promise.all(drops);
  await allReach(subs, finalId, 25000, within);

  console.log(
    `${label}: seed=${SEED} subscribers=${subs.length} messages=${MESSAGES} published in ${publishedMs} ms ` +
      `(${retries} publishes retried: ${failures.join('; ')}); ${events.join(', ')}; ${summary(subs)}; ${Date.now() - t0} ms`,
  );
  return { subs, channel };
}

/** The seqs of everything the channel's history keeps, page by page. */
async function history(url, channel) {
  const seqs = [];
  let page = await poll(url, channel, { last: MESSAGES + 1 });
  for (;;) {
    assert.equal(page.status, 200, page.text);
    seqs.push(...page.json.messages.map((m) => m.data.seq));
    if (!page.json.more) return seqs;
    page = await poll(url, channel, { since: page.json.cursor });
  }
}

describe(`chaos on two nodes and Redis (seed ${SEED}; replay with CHAOS_SEED=${SEED})`, {
  skip: onRedisPass ? false : 'two herald nodes on Redis: runs in the Redis pass (HERALD_TEST_BROKER=redis, ctest integration-redis)',
}, () => {
  after(cleanUp);

  it(`${Object.values(PER_TRANSPORT).reduce((a, b) => a + b)} subscribers on both nodes through a Redis restart (durable) and a node kill: each gets exactly 1..${MESSAGES}`, { timeout: 50000 }, async () => {
    const { subs } = await chaos({ durable: true, label: 'chaos-redis' });
    await cleanUp();
    const expected = Array.from({ length: MESSAGES }, (_, k) => k + 1);
    const problems = problemsOf(subs, expected, { minKills: 3 });
    assert.deepEqual(problems, [], `seed ${SEED}:\n${problems.slice(0, 40).join('\n')}`);
    assert.ok(
      subs.every((s) => s.moves > 0),
      'every subscriber resumed on another node at least once',
    );
  });

  it('the same with a Redis that forgets everything on restart: each gets 1..k, one explicit gap, then the new history to the end', { timeout: 50000 }, async () => {
    const { subs, channel } = await chaos({ durable: false, label: 'chaos-redis-forgetful' });
    // What the new history holds: every seq acknowledged after the restart, from its first one on.
    const after = await history(nodes[0].url, channel);
    await cleanUp();
    const problems = subs.flatMap((s) => {
      // Markers in a row with nothing between say the same thing once (a /ws subscriber resuming while
      // the new history is still empty hears it again: its `subscribed` frame gives no cursor to adopt).
      const log = s.log.filter((x, k) => !(x === 'gap' && s.log[k - 1] === 'gap'));
      const g = log.indexOf('gap');
      const before = log.slice(0, g);
      const expected = [...Array.from({ length: Math.max(0, g) }, (_, k) => k + 1), 'gap', ...after];
      const diff = g < 0 ? 'no gap marker' : firstDifference(log, expected);
      return [...s.violations, ...(diff ? [`${s.name}: ${diff} (heard ${before.length} before the gap)`] : [])];
    });
    assert.ok(after.length > 0 && after.at(-1) === MESSAGES, `the new history ends with seq ${MESSAGES}: ${after.slice(-3)}`);
    assert.deepEqual(problems, [], `seed ${SEED}:\n${problems.slice(0, 40).join('\n')}`);
  });
});
