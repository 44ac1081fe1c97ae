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
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { chanPath, publish, startHerald, uniq, within } from './lib/herald.mjs';

const MESSAGES = 1500; // published in the chaos test
const PUBLISH_MS = 9000; // over about this long
const PER_TRANSPORT = { poll: 10, longpoll: 10, sse: 10, ws: 10, mux: 4 };
const TRANSPORTS = Object.keys(PER_TRANSPORT);
const POLL_INTERVAL_MS = 100; // the interval poll's cadence when nothing is pending
const LONGPOLL_WAIT_S = 10;
const KILL_AFTER_MS = [250, 1200]; // a connection lives this long before the test drops it
const PAUSE_MS = [0, 250]; // and the subscriber stays away this long before resuming
const SWITCH_P = 0.35; // chance that a resume uses a transport picked at random
const TINY = 20; // history of the `tiny` namespace

const SEED = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** mulberry32: a small seeded PRNG, one stream per subscriber so its decisions replay with the seed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const between = (rng, [lo, hi]) => lo + rng() * (hi - lo);

let h;
const subscribers = new Set();
before(async () => {
  h = await startHerald({ config: `[history]\nsize = 5000\n[namespace.tiny]\nhistory_size = ${TINY}\n` });
});
after(async () => {
  for (const s of subscribers) s.stop();
  await h?.stop();
});

// ---------------------------------------------------------------------------------------------
// A subscriber: the last cursor it received and what it heard ('gap' or a payload's seq), kept across
// connections. Exactly one connection is current at a time; whatever a connection delivers after it
// was dropped is ignored (the client is gone), so it will be heard again from the cursor on resume.

class Subscriber {
  constructor({ name, channel, since, transport, rng }) {
    Object.assign(this, { name, channel, transport, rng });
    this.lastId = since;
    this.lastSeq = 0;
    this.log = []; // seq numbers and 'gap', in arrival order
    this.ids = new Set();
    this.violations = [];
    this.connections = Object.fromEntries(TRANSPORTS.map((t) => [t, 0]));
    this.kills = 0;
    this.switches = 0;
    this.serverEnds = [];
    this.conn = null;
    this.next = null; // what to do when the current connection has ended: {pauseMs, transport} or null
    this.stopped = false;
    this.afterGap = false;
    this.waiters = new Set();
    subscribers.add(this);
  }

  violation(conn, what) {
    this.violations.push(`${this.name} [${conn?.transport} #${conn?.n}] after seq ${this.lastSeq} (cursor ${this.lastId}): ${what}`);
  }

  current(conn) {
    return conn === this.conn && !conn.dead && !conn.killed;
  }

  record(conn, id, data, channel) {
    if (!this.current(conn)) return;
    if (channel !== undefined && channel !== this.channel) this.violation(conn, `message of channel ${channel}`);
    const seq = data?.seq;
    if (typeof id !== 'string' || typeof seq !== 'number') {
      this.violation(conn, `malformed message id=${JSON.stringify(id)} data=${JSON.stringify(data)}`);
      return;
    }
    if (this.ids.has(id)) this.violation(conn, `duplicate id ${id} (seq ${seq})`);
    else if (seq <= this.lastSeq) this.violation(conn, `seq ${seq} again or out of order (id ${id})`);
    else if (seq !== this.lastSeq + 1 && !this.afterGap) this.violation(conn, `seq ${seq} skips ${this.lastSeq + 1}..${seq - 1} with no gap marker (id ${id})`);
    this.ids.add(id);
    this.log.push(seq);
    this.lastSeq = Math.max(this.lastSeq, seq);
    this.lastId = id;
    this.afterGap = false;
    this.wake();
  }

  gap(conn, detail) {
    if (!this.current(conn)) return;
    this.log.push('gap');
    this.gapDetail = detail;
    this.afterGap = true;
    this.wake();
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once the subscriber has received `id` (the last published cursor). */
  reached(id) {
    return new Promise((resolve) => {
      const w = () => {
        if (this.lastId === id) {
          this.waiters.delete(w);
          resolve();
        }
      };
      this.waiters.add(w);
      w();
    });
  }

  /** Open a connection on `transport`, resuming from lastId. */
  connect(transport = this.transport) {
    if (this.stopped) return;
    if (transport !== this.transport) this.switches += 1;
    this.transport = transport;
    this.connections[transport] += 1;
    const conn = { transport, n: this.connections[transport], dead: false, killed: false };
    this.conn = conn;
    let endedOnce = false;
    const ended = (why) => {
      if (endedOnce) return;
      endedOnce = true;
      conn.dead = true;
      if (this.conn === conn) this.conn = null;
      if (this.stopped) return;
      if (!conn.killed) {
        // The server ended it (or it failed): resume on the same transport at once.
        this.serverEnds.push(`${transport} #${conn.n}: ${why}`);
        if (this.serverEnds.length > 20) {
          this.violation(conn, `the server keeps ending connections: ${this.serverEnds.slice(-3).join('; ')}`);
          return;
        }
        this.connect(transport);
        return;
      }
      const next = this.next;
      this.next = null;
      if (next) setTimeout(() => this.connect(next.transport), next.pauseMs);
    };
    OPEN[transport](this, conn, ended);
  }

  /** Drop the current connection; `next` says how to resume ({pauseMs, transport}) or null to stay away. */
  kill(next) {
    const conn = this.conn;
    if (!conn || conn.dead) return false;
    this.kills += 1;
    conn.killed = true;
    this.next = next;
    conn.kill();
    return true;
  }

  stop() {
    this.stopped = true;
    this.conn?.kill();
  }
}

function subUrl(s, params = {}) {
  const q = new URLSearchParams(params).toString();
  return `/sub/${chanPath(s.channel)}${q ? `?${q}` : ''}`;
}

const OPEN = {
  poll: (s, conn, ended) => runPoll(s, conn, ended, 0),
  longpoll: (s, conn, ended) => runPoll(s, conn, ended, LONGPOLL_WAIT_S),
  sse: runSSE,
  ws: runWS,
  mux: runMux,
};

async function runPoll(s, conn, ended, wait) {
  const ac = new AbortController();
  conn.kill = () => ac.abort();
  try {
    for (;;) {
      const params = { since: s.lastId };
      if (wait) params.wait = String(wait);
      const res = await fetch(h.url + subUrl(s, params), { signal: ac.signal });
      const text = await res.text();
      if (!s.current(conn)) return ended('dropped');
      let more = false;
      if (res.status === 200) {
        const body = JSON.parse(text);
        if (body.gap) s.gap(conn, body);
        for (const m of body.messages) s.record(conn, m.id, m.data, m.channel);
        if (body.messages.length && body.cursor !== body.messages.at(-1).id) {
          s.violation(conn, `poll cursor ${body.cursor} is not the last message's id ${body.messages.at(-1).id}`);
        }
        if (body.cursor !== s.lastId && !body.gap) s.violation(conn, `poll cursor ${body.cursor} is not the last id heard`);
        more = body.more;
      } else if (res.status !== 204) {
        s.violation(conn, `poll answered ${res.status}: ${text}`);
        s.stopped = true;
        return ended(`status ${res.status}`);
      }
      if (!wait && !more && res.status === 204) await delay(POLL_INTERVAL_MS, undefined, { signal: ac.signal });
    }
  } catch (err) {
    ended(String(err?.cause ?? err));
  }
}

async function runSSE(s, conn, ended) {
  const ac = new AbortController();
  conn.kill = () => ac.abort();
  // Resume half of the time with Last-Event-ID (what a browser sends), half with ?since=.
  const byHeader = s.rng() < 0.5;
  const headers = { Accept: 'text/event-stream', ...(byHeader ? { 'Last-Event-ID': s.lastId } : {}) };
  try {
    const res = await fetch(h.url + subUrl(s, byHeader ? {} : { since: s.lastId }), { headers, signal: ac.signal });
    if (res.status !== 200) {
      s.violation(conn, `SSE answered ${res.status}: ${await res.text()}`);
      s.stopped = true;
      return ended(`status ${res.status}`);
    }
    const decoder = new TextDecoder();
    let buf = '';
    let block = { data: [] };
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let n;
      while ((n = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, n).replace(/\r$/, '');
        buf = buf.slice(n + 1);
        if (line === '') {
          if (block.event === 'gap') s.gap(conn, block);
          else if (block.data.length) s.record(conn, block.id, JSON.parse(block.data.join('\n')));
          block = { data: [] };
        } else if (!line.startsWith(':')) {
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'data') block.data.push(value);
          else if (field === 'id') block.id = value;
          else if (field === 'event') block.event = value;
        }
      }
    }
    ended('stream ended');
  } catch (err) {
    ended(String(err?.cause ?? err));
  }
}

function wsCommon(s, conn, ended, url) {
  const ws = new WebSocket(url);
  conn.kill = () => ws.terminate();
  ws.on('error', () => {});
  ws.on('unexpected-response', (req, res) => {
    s.violation(conn, `WebSocket upgrade answered ${res.statusCode}`);
    s.stopped = true;
    req.destroy();
  });
  ws.on('close', (code, reason) => ended(`closed ${code} ${reason}`));
  return ws;
}

function runWS(s, conn, ended) {
  const ws = wsCommon(s, conn, ended, h.wsUrl + subUrl(s, { since: s.lastId }));
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.gap) s.gap(conn, f);
    else s.record(conn, f.id, f.data, f.channel);
  });
}

function runMux(s, conn, ended) {
  const ws = wsCommon(s, conn, ended, `${h.wsUrl}/ws`);
  ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: s.channel, since: s.lastId, ref: 'sub' })));
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.op === 'subscribed' && f.gap) s.gap(conn, f);
    else if (f.op === 'gap') s.gap(conn, f);
    else if (f.op === 'message') s.record(conn, f.id, f.data, f.channel);
    else if (f.op === 'error' && s.current(conn)) s.violation(conn, `error frame ${JSON.stringify(f)}`);
  });
}

async function pub(channel, seq) {
  const r = await publish(h.url, channel, { seq }, { json: true });
  if (r.status !== 201) throw new Error(`publish seq ${seq} answered ${r.status}: ${r.text}`);
  return r.json.id;
}

// Publishes {"seq":1..MESSAGES} in order, one at a time, message n at start + n * step (pacing, not
// synchronisation); answers the last id and how long it took.
const PUBLISHER = `
const { parentPort, workerData: { url, path, messages, step } } = require('node:worker_threads');
(async () => {
  const start = Date.now();
  let id;
  for (let n = 1; n <= messages; n++) {
    const wait = start + n * step - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const res = await fetch(url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ seq: n }) });
    const text = await res.text();
    if (res.status !== 201) throw new Error('publish seq ' + n + ' answered ' + res.status + ': ' + text);
    id = JSON.parse(text).id;
  }
  parentPort.postMessage({ finalId: id, publishedMs: Date.now() - start });
})().catch((err) => parentPort.postMessage({ error: String(err) }));
`;

function runPublisher(channel) {
  const worker = new Worker(PUBLISHER, {
    eval: true,
    workerData: { url: h.url, path: `/pub/${chanPath(channel)}`, messages: MESSAGES, step: PUBLISH_MS / MESSAGES },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`publisher exited with code ${code}`)));
  }).finally(() => worker.terminate());
}

/** First point where `log` differs from `expected`, for a readable failure. */
function firstDifference(log, expected) {
  const n = Math.max(log.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (log[i] !== expected[i]) {
      return `at index ${i}: got ${JSON.stringify(log.slice(Math.max(0, i - 3), i + 4))}, expected ${JSON.stringify(expected.slice(Math.max(0, i - 3), i + 4))} (length ${log.length} vs ${expected.length})`;
    }
  }
  return null;
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
        subs.push(new Subscriber({ name: `sub${i}`, channel, since: start, transport, rng: prng(SEED + 7919 * (i + 1)) }));
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
    const { finalId, publishedMs } = await runPublisher(channel);
    publishing = false;
    await Promise.all(chaos);

    const reached = subs.map((s) => s.reached(finalId));
    try {
      await within(Promise.all(reached), 20000, 'every subscriber hearing the last message');
    } catch (err) {
      const behind = subs.filter((s) => s.lastId !== finalId).map((s) => `${s.name} on ${s.transport} at seq ${s.lastSeq} (conn ${s.conn ? 'open' : 'none'})`);
      err.message += `; behind: ${behind.join(', ')}`;
      throw err;
    } finally {
      for (const s of subs) s.stop();
    }

    const expected = Array.from({ length: MESSAGES }, (_, k) => k + 1);
    const connections = Object.fromEntries(TRANSPORTS.map((t) => [t, subs.reduce((a, s) => a + s.connections[t], 0)]));
    const kills = subs.reduce((a, s) => a + s.kills, 0);
    const switches = subs.reduce((a, s) => a + s.switches, 0);
    const serverEnds = subs.flatMap((s) => s.serverEnds.map((e) => `${s.name} ${e}`));
    const checked = subs.reduce((a, s) => a + s.log.length, 0);
    console.log(
      `chaos: seed=${SEED} subscribers=${subs.length} messages=${MESSAGES} published in ${publishedMs} ms; ` +
        `connections ${JSON.stringify(connections)}, ${kills} dropped by the test, ${switches} transport switches, ` +
        `${serverEnds.length} ended by the server; ${checked} messages checked; ${Date.now() - t0} ms`,
    );
    if (serverEnds.length) console.log(`ended by the server: ${serverEnds.slice(0, 10).join('; ')}`);

    const problems = [];
    for (const s of subs) {
      problems.push(...s.violations);
      const diff = firstDifference(s.log, expected);
      if (diff) problems.push(`${s.name}: ${diff}`);
      if (s.kills < 3) problems.push(`${s.name}: dropped only ${s.kills} time(s)`);
    }
    assert.deepEqual(problems, [], `seed ${SEED}:\n${problems.slice(0, 40).join('\n')}`);
  });

  it(`a subscriber kept away past a ${TINY}-message history gets an explicit gap, then the kept messages in order, on every transport`, { timeout: 30000 }, async () => {
    const cases = TRANSPORTS.map(async (first, i) => {
      const rng = prng((SEED ^ 0x9e3779b9) + i);
      const channel = `tiny:${uniq('gap')}`;
      const resumeOn = TRANSPORTS[(i + 1 + Math.floor(rng() * (TRANSPORTS.length - 1))) % TRANSPORTS.length];
      const start = await pub(channel, 0);
      const s = new Subscriber({ name: `${first}->${resumeOn}`, channel, since: start, transport: first, rng });
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
