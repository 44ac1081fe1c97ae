// The subscriber machinery of the chaos tests: a subscriber keeps its last cursor and everything it
// heard across connections, on any of the five ways of listening (interval poll, long poll, SSE,
// WebSocket on /sub, the /ws protocol), and checks each message against what it heard before.
//
// `node(subscriber)` says where each connection goes ({url, wsUrl}), so the same subscriber can move
// between herald nodes. With `transient: true` the server may legitimately refuse or end a connection
// (Redis away: 503 broker_unavailable, a /ws error frame, a 1013 close; a node draining or killed): the
// subscriber then resumes from its cursor after a short pause, on whatever node `node` picks, instead of
// counting it as a violation. Whether anything was lost is judged by the sequence alone.
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { chanPath } from './herald.mjs';

export const TRANSPORTS = ['poll', 'longpoll', 'sse', 'ws', 'mux'];
const POLL_INTERVAL_MS = 100; // the interval poll's cadence when nothing is pending
const LONGPOLL_WAIT_S = 10;
const TRANSIENT_RETRY_MS = 100; // how long a refused subscriber waits before trying again
// Refusals that say "not now" rather than "never": Redis away, or the node shutting down.
const TRANSIENT_CODES = new Set(['broker_unavailable', 'shutting_down']);

/** mulberry32: a small seeded PRNG, one stream per subscriber so its decisions replay with the seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const between = (rng, [lo, hi]) => lo + rng() * (hi - lo);

/** The seed of a chaos file: CHAOS_SEED when given, else a fresh one (printed by the test). */
export function chaosSeed() {
  return process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// A subscriber: the last cursor it received and what it heard ('gap' or a payload's seq), kept across
// connections. Exactly one connection is current at a time; whatever a connection delivers after it
// was dropped is ignored (the client is gone), so it will be heard again from the cursor on resume.

export class Subscriber {
  constructor({ name, channel, since, transport, rng, node, transient = false }) {
    Object.assign(this, { name, channel, transport, rng, node, transient });
    this.lastId = since;
    this.lastSeq = 0;
    this.log = []; // seq numbers and 'gap', in arrival order
    this.ids = new Set();
    this.violations = [];
    this.connections = Object.fromEntries(TRANSPORTS.map((t) => [t, 0]));
    this.kills = 0;
    this.switches = 0;
    this.moves = 0; // resumes on another node than the previous connection's
    this.serverEnds = [];
    this.conn = null;
    this.next = null; // what to do when the current connection has ended: {pauseMs, transport} or null
    this.stopped = false;
    this.afterGap = false;
    this.waiters = new Set();
  }

  violation(conn, what) {
    this.violations.push(`${this.name} [${conn?.transport} #${conn?.n} on ${conn?.node?.url}] after seq ${this.lastSeq} (cursor ${this.lastId}): ${what}`);
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

  /** A gap marker; `cursor`, where the transport gives one, is where the kept messages start. */
  gap(conn, detail, cursor) {
    if (!this.current(conn)) return;
    if (typeof cursor === 'string') this.lastId = cursor; // resume from there, not from the lost cursor
    this.log.push('gap');
    this.gapDetail = detail;
    this.afterGap = true;
    this.wake();
  }

  /** A refusal from the server: expected now and then when `transient`, a violation otherwise. */
  refused(conn, code, what) {
    if (this.transient && TRANSIENT_CODES.has(code)) return false;
    this.violation(conn, what);
    this.stopped = true;
    return true;
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

  /** Resolves once the subscriber has heard seq `n` or later. */
  reachedSeq(n) {
    return new Promise((resolve) => {
      const w = () => {
        if (this.lastSeq >= n) {
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
    const node = this.node(this);
    if (this.lastNode && node !== this.lastNode) this.moves += 1;
    this.lastNode = node;
    const conn = { transport, node, n: this.connections[transport], dead: false, killed: false };
    this.conn = conn;
    let endedOnce = false;
    const ended = (why) => {
      if (endedOnce) return;
      endedOnce = true;
      conn.dead = true;
      if (this.conn === conn) this.conn = null;
      if (this.stopped) return;
      if (!conn.killed) {
        // The server ended it (or it failed): resume on the same transport.
        this.serverEnds.push(`${transport} #${conn.n} on ${node.url}: ${why}`);
        if (this.transient) {
          setTimeout(() => this.connect(transport), TRANSIENT_RETRY_MS);
          return;
        }
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

function errorCode(text) {
  try {
    return JSON.parse(text).error;
  } catch {
    return undefined;
  }
}

async function runPoll(s, conn, ended, wait) {
  const ac = new AbortController();
  conn.kill = () => ac.abort();
  try {
    for (;;) {
      const params = { since: s.lastId };
      if (wait) params.wait = String(wait);
      const res = await fetch(conn.node.url + subUrl(s, params), { signal: ac.signal });
      const text = await res.text();
      if (!s.current(conn)) return ended('dropped');
      let more = false;
      if (res.status === 200) {
        const body = JSON.parse(text);
        if (body.gap) s.gap(conn, body, body.messages.length ? undefined : body.cursor);
        for (const m of body.messages) s.record(conn, m.id, m.data, m.channel);
        if (body.messages.length && body.cursor !== body.messages.at(-1).id) {
          s.violation(conn, `poll cursor ${body.cursor} is not the last message's id ${body.messages.at(-1).id}`);
        }
        if (body.cursor !== s.lastId && !body.gap) s.violation(conn, `poll cursor ${body.cursor} is not the last id heard`);
        more = body.more;
      } else if (res.status !== 204) {
        s.refused(conn, errorCode(text), `poll answered ${res.status}: ${text}`);
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
    const res = await fetch(conn.node.url + subUrl(s, byHeader ? {} : { since: s.lastId }), { headers, signal: ac.signal });
    if (res.status !== 200) {
      const text = await res.text();
      s.refused(conn, errorCode(text), `SSE answered ${res.status}: ${text}`);
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
          if (block.event === 'gap') s.gap(conn, block, block.id);
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
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (text += c));
    res.on('end', () => {
      s.refused(conn, errorCode(text), `WebSocket upgrade answered ${res.statusCode}: ${text}`);
      req.destroy();
      ended(`upgrade answered ${res.statusCode}`);
    });
  });
  ws.on('close', (code, reason) => ended(`closed ${code} ${reason}`));
  return ws;
}

function runWS(s, conn, ended) {
  const ws = wsCommon(s, conn, ended, conn.node.wsUrl + subUrl(s, { since: s.lastId }));
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.gap) s.gap(conn, f, f.cursor);
    else if (f.op === 'error') {
      // A refusal frame; the close that follows resumes the subscriber.
      if (s.current(conn)) s.refused(conn, f.code, `error frame ${JSON.stringify(f)}`);
    } else s.record(conn, f.id, f.data, f.channel);
  });
}

function runMux(s, conn, ended) {
  const ws = wsCommon(s, conn, ended, `${conn.node.wsUrl}/ws`);
  ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: s.channel, since: s.lastId, ref: 'sub' })));
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.op === 'subscribed' && f.gap) s.gap(conn, f);
    else if (f.op === 'gap') s.gap(conn, f, f.cursor);
    else if (f.op === 'message') s.record(conn, f.id, f.data, f.channel);
    else if (f.op === 'error' && s.current(conn)) {
      // The subscription failed (Redis away): this socket listens to nothing, so start over.
      if (!s.refused(conn, f.code, `error frame ${JSON.stringify(f)}`)) ws.terminate();
    }
  });
}

// ---------------------------------------------------------------------------------------------

/** First point where `log` differs from `expected`, for a readable failure. */
export function firstDifference(log, expected) {
  const n = Math.max(log.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (log[i] !== expected[i]) {
      return `at index ${i}: got ${JSON.stringify(log.slice(Math.max(0, i - 3), i + 4))}, expected ${JSON.stringify(expected.slice(Math.max(0, i - 3), i + 4))} (length ${log.length} vs ${expected.length})`;
    }
  }
  return null;
}

/** Wait until every subscriber has heard `finalId`; on timeout, name who is behind. Stops them all. */
export async function allReach(subs, finalId, ms, within) {
  try {
    await within(Promise.all(subs.map((s) => s.reached(finalId))), ms, 'every subscriber hearing the last message');
  } catch (err) {
    const behind = subs
      .filter((s) => s.lastId !== finalId)
      .map((s) => `${s.name} on ${s.transport} at seq ${s.lastSeq} (conn ${s.conn ? `open on ${s.conn.node.url}` : 'none'}; last ends: ${s.serverEnds.slice(-2).join('; ')})`);
    err.message += `; behind: ${behind.join(', ')}`;
    throw err;
  } finally {
    for (const s of subs) s.stop();
  }
}

/** One line of totals over the subscribers, for the test's log. */
export function summary(subs) {
  const connections = Object.fromEntries(TRANSPORTS.map((t) => [t, subs.reduce((a, s) => a + s.connections[t], 0)]));
  const sum = (f) => subs.reduce((a, s) => a + f(s), 0);
  return (
    `connections ${JSON.stringify(connections)}, ${sum((s) => s.kills)} dropped by the test, ` +
    `${sum((s) => s.switches)} transport switches, ${sum((s) => s.moves)} node moves, ` +
    `${sum((s) => s.serverEnds.length)} ended or refused by the server; ${sum((s) => s.log.length)} messages checked`
  );
}

/** Every subscriber's violations and differences from `expected`. */
export function problemsOf(subs, expected, { minKills = 0 } = {}) {
  const problems = [];
  for (const s of subs) {
    problems.push(...s.violations);
    const diff = firstDifference(s.log, expected);
    if (diff) problems.push(`${s.name}: ${diff}`);
    if (s.kills < minKills) problems.push(`${s.name}: dropped only ${s.kills} time(s)`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The publisher: {"seq": 1..messages} in order, one at a time, message n at start + n * step (pacing,
// not synchronisation), in a worker thread so the subscribers' work cannot slow its steady rate.
//
// With `retry`, it publishes through whichever of the live nodes it is told of (the test posts
// {nodes: [url, ...]} as nodes go and come) and never leaves a seq ambiguous. A publish answered 201
// is done. Any other outcome (503 broker_unavailable or shutting_down, a connection refused or cut by
// a dying node) may or may not have been applied by Redis: the request can have reached Redis with
// its answer lost. Before trying seq n again, the publisher therefore reads the channel's newest
// message (GET ?last=1, retried until a node can answer): if it is seq n, n was published and that is
// its id; otherwise n was not, and is sent again. One publisher per channel, one publish at a time,
// so the newest message settles the question, and every seq is in the channel exactly once.
const PUBLISHER = `
const { parentPort, workerData: { urls, path, messages, step, retry } } = require('node:worker_threads');
let nodes = urls;
parentPort.on('message', (m) => { if (m.nodes) nodes = m.nodes; });
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
let turn = 0;
const pick = () => nodes[turn++ % nodes.length];
async function attempt(n) {
  try {
    const res = await fetch(pick() + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ seq: n }) });
    const text = await res.text();
    if (res.status === 201) return { id: JSON.parse(text).id };
    return { failed: res.status + ' ' + text };
  } catch (err) {
    return { failed: String(err.cause ?? err) };
  }
}
async function newest() {
  for (;;) {
    try {
      const res = await fetch(pick() + path.replace('/pub/', '/sub/') + '?last=1');
      const text = await res.text();
      if (res.status === 200) return JSON.parse(text).messages[0];
      if (res.status === 204) return undefined;
    } catch {}
    await pause(50);
  }
}
(async () => {
  const start = Date.now();
  let id;
  let retries = 0;
  const failures = [];
  for (let n = 1; n <= messages; n++) {
    const wait = start + n * step - Date.now();
    if (wait > 1) await pause(wait);
    for (;;) {
      const r = await attempt(n);
      if (r.id) { id = r.id; break; }
      if (!retry) throw new Error('publish seq ' + n + ' answered ' + r.failed);
      retries += 1;
      if (failures.length < 5) failures.push('seq ' + n + ': ' + r.failed);
      const last = await newest();
      if (last && last.data && last.data.seq === n) { id = last.id; break; }
      await pause(20);
    }
  }
  parentPort.postMessage({ finalId: id, publishedMs: Date.now() - start, retries, failures });
})().catch((err) => parentPort.postMessage({ error: String(err) }));
`;

/**
 * Run the publisher on `channel` through `urls`; answers {finalId, publishedMs, retries, failures} and,
 * at once, `setNodes(urls)` to tell it which nodes are alive.
 */
export function startPublisher({ urls, channel, messages, publishMs, retry = false }) {
  const worker = new Worker(PUBLISHER, {
    eval: true,
    workerData: { urls, path: `/pub/${chanPath(channel)}`, messages, step: publishMs / messages, retry },
  });
  const done = new Promise((resolve, reject) => {
    worker.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`publisher exited with code ${code}`)));
  }).finally(() => worker.terminate());
  return { done, setNodes: (nodes) => worker.postMessage({ nodes }) };
}
