// Chaos: many subscribers on every transport (interval poll, long poll, SSE, WebSocket on /sub, /ws)
// listen to one channel while a publisher sends a steady stream and the test keeps dropping their
// connections at random. Each subscriber resumes from the last cursor it received, after a short random
// pause and sometimes on another transport. With a history that holds everything, every subscriber must
// end with exactly 1..M: nothing lost, nothing repeated, nothing reordered, and no gap marker. With a
// tiny history, a subscriber kept away long enough gets an explicit gap, then the kept messages in order.
//
// The randomness is seeded: the seed is printed, and CHAOS_SEED=<n> replays the same random decisions
// (when to drop, how long to stay away, which transport to resume on; the timing of the I/O still varies).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { publish, startHerald, uniq, within } from './lib/herald.mjs';
import { TRANSPORTS, Subscriber, allReach, between, chaosSeed, firstDifference, prng, problemsOf, startPublisher, summary } from './lib/chaos.mjs';

const MESSAGES = 1500; // published in the chaos test
const PUBLISH_MS = 9000; // over about this long
const PER_TRANSPORT = { poll: 10, longpoll: 10, sse: 10, ws: 10, mux: 4 };
const KILL_AFTER_MS = [250, 1200]; // a connection lives this long before the test drops it
const PAUSE_MS = [0, 250]; // and the subscriber stays away this long before resuming
const SWITCH_P = 0.35; // chance that a resume uses a transport picked at random
const TINY = 20; // history of the `tiny` namespace

const SEED = chaosSeed();

let h;
const subscribers = new Set();
before(async () => {
  h = await startHerald({ config: `[history]\nsize = 5000\n[namespace.tiny]\nhistory_size = ${TINY}\n` });
});
after(async () => {
  for (const s of subscribers) s.stop();
  await h?.stop();
});

function subscriber(options) {
  const s = new Subscriber({ ...options, node: () => h });
  subscribers.add(s);
  return s;
}

async function pub(channel, seq) {
  const r = await publish(h.url, channel, { seq }, { json: true });
  if (r.status !== 201) throw new Error(`publish seq ${seq} answered ${r.status}: ${r.text}`);
  return r.json.id;
}

// ---------------------------------------------------------------------------------------------

describe(`chaos (seed ${SEED}; replay with CHAOS_SEED=${SEED})`, () => {
  it(`${Object.values(PER_TRANSPORT).reduce((a, b) => a + b)} subscribers dropped at random while ${MESSAGES} messages are published: each gets exactly 1..${MESSAGES}`, { timeout: 45000 }, async () => {
    const t0 = Date.now();
    const channel = uniq('chaos');
    const start = await pub(channel, 0); // everyone starts right after this one
    const subs = [];
    let i = 0;
    for (const [transport, count] of Object.entries(PER_TRANSPORT)) {
      for (let k = 0; k < count; k++, i++) {
        subs.push(subscriber({ name: `sub${i}`, channel, since: start, transport, rng: prng(SEED + 7919 * (i + 1)) }));
      }
    }
    for (const s of subs) s.connect();

    let publishing = true;
    const chaos = subs.map(async (s) => {
      for (;;) {
        await delay(between(s.rng, KILL_AFTER_MS));
        if (!publishing) return;
        const transport = s.rng() < SWITCH_P ? TRANSPORTS[Math.floor(s.rng() * TRANSPORTS.length)] : s.transport;
        s.kill({ pauseMs: between(s.rng, PAUSE_MS), transport });
      }
    });

    // The publisher runs in a worker thread, so that the subscribers' work in this thread cannot slow
    // its steady rate.
    const { finalId, publishedMs } = await startPublisher({ urls: [h.url], channel, messages: MESSAGES, publishMs: PUBLISH_MS }).done;
    publishing = false;
    await Promise.all(chaos);
    await allReach(subs, finalId, 20000, within);

    const serverEnds = subs.flatMap((s) => s.serverEnds.map((e) => `${s.name} ${e}`));
    console.log(`chaos: seed=${SEED} subscribers=${subs.length} messages=${MESSAGES} published in ${publishedMs} ms; ${summary(subs)}; ${Date.now() - t0} ms`);
    if (serverEnds.length) console.log(`ended by the server: ${serverEnds.slice(0, 10).join('; ')}`);

    const expected = Array.from({ length: MESSAGES }, (_, k) => k + 1);
    const problems = problemsOf(subs, expected, { minKills: 3 });
    assert.deepEqual(problems, [], `seed ${SEED}:\n${problems.slice(0, 40).join('\n')}`);
  });

  it(`a subscriber kept away past a ${TINY}-message history gets an explicit gap, then the kept messages in order, on every transport`, { timeout: 30000 }, async () => {
    const cases = TRANSPORTS.map(async (first, i) => {
      const rng = prng((SEED ^ 0x9e3779b9) + i);
      const channel = `tiny:${uniq('gap')}`;
      const resumeOn = TRANSPORTS[(i + 1 + Math.floor(rng() * (TRANSPORTS.length - 1))) % TRANSPORTS.length];
      const start = await pub(channel, 0);
      const s = subscriber({ name: `${first}->${resumeOn}`, channel, since: start, transport: first, rng });
      s.connect();
      let last;
      for (let n = 1; n <= 5; n++) last = await pub(channel, n);
      await within(s.reached(last), 10000, `${s.name} hearing seq 1..5`);
      s.kill(null); // stays away
      for (let n = 6; n <= 60; n++) last = await pub(channel, n); // history keeps 41..60 only
      s.connect(resumeOn);
      await within(s.reached(last), 10000, `${s.name} hearing seq 60 after resuming`);
      last = await pub(channel, 61); // and live messages go on after the gap
      await within(s.reached(last), 10000, `${s.name} hearing seq 61`);
      s.stop();
      const expected = [1, 2, 3, 4, 5, 'gap', ...Array.from({ length: TINY }, (_, k) => 41 + k), 61];
      const diff = firstDifference(s.log, expected);
      return [...s.violations, ...(diff ? [`${s.name}: ${diff}`] : [])];
    });
    const problems = (await Promise.all(cases)).flat();
    assert.deepEqual(problems, [], `seed ${SEED}:\n${problems.join('\n')}`);
  });
});
