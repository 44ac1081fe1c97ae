#!/usr/bin/env node
// The soak (`make soak`): the release binary under minutes of steady, mixed load, its resident memory
// sampled as it goes. It fails when memory still grows once the warm-up is over (the least-squares slope
// of the samples after it is above --max-slope MB/min), when any subscriber hears a message twice, out
// of order or not at all, or when the server refuses any of the load.
//
// The load, each figure a flag (--name=value) or an environment variable (SOAK_NAME):
// - subscribers on SSE, WebSocket (/sub/{ch}), the /ws protocol and long poll (lib/chaos.mjs), spread
//   over the channels; each drops its connection every 5–30 s and resumes from its cursor after a pause
//   of up to a second, and checks every message: exactly once, in order (seq n + 1 after n);
// - publishes of {"seq": n} over the channels with a publish key, at a steady rate (publisher.mjs);
// - WebSocket churn: sockets opened on /sub/{ch} or /ws (subscribed), then closed or dropped;
// - login starts (POST /login/start with the page's own Origin, as the login pages send);
// - reads of channels nobody uses, each a fresh name: GET /sub/<fresh> (an interval poll) and
//   GET /channels/<fresh>, by turns.
//
// Its randomness is seeded (the seed is printed; --seed / SOAK_SEED replays the same decisions).
import { setTimeout as delay } from 'node:timers/promises';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { openWS, request, startHerald, heraldBin, within } from '../integration/lib/herald.mjs';
import { Subscriber, between, prng } from '../integration/lib/chaos.mjs';
import { NO_LIMITS, startScreen } from '../integration/lib/login.mjs';

// ---------------------------------------------------------------------------------------------
// Options

const OPTIONS = [
  ['minutes', 10, 'length of the soak'],
  ['warmup-minutes', 4, 'samples before this are left out of the slope'],
  ['max-slope', 0.5, 'MB/min: a larger slope of RSS after the warm-up fails the soak'],
  ['sample-seconds', 10, 'how often RSS is sampled (and a line printed)'],
  ['subscribers', 600, 'resuming subscribers: 1/3 SSE, 1/3 long poll, 1/4 WebSocket on /sub, 1/12 /ws'],
  ['channels', 100, 'channels published to (the subscribers are spread over them)'],
  ['publish-rate', 200, 'publishes per second over all channels'],
  ['resume-min-seconds', 5, 'a subscriber drops its connection after at least this long'],
  ['resume-max-seconds', 30, '... and at most this long'],
  ['ws-churn-rate', 10, 'WebSockets opened (and closed) per second'],
  ['login-rate', 5, 'POST /login/start per second'],
  ['unknown-rate', 50, 'reads of unknown channels per second (fresh names)'],
  ['broker', 'memory', '"memory", or "redis": herald on a redis-server the soak starts'],
  ['seed', undefined, 'seed of the random decisions (default: a fresh one, printed)'],
];
const RESUME_PAUSE_MS = [0, 1000]; // how long a dropped subscriber stays away before resuming
const DRAIN_MS = 60000; // after the load stops: every subscriber must have heard everything by then
const IN_FLIGHT_CAP = 500; // a paced load waits rather than pile up more requests than this

function usage() {
  const lines = OPTIONS.map(([name, def, help]) => `  --${name.padEnd(20)} SOAK_${name.toUpperCase().replaceAll('-', '_').padEnd(22)} ${help}${def === undefined ? '' : ` (${def})`}`);
  return `usage: node tests/soak/soak.mjs [--option=value ...]   (HERALD_BIN: the binary, default build/herald)\n${lines.join('\n')}`;
}

function parseOptions(argv) {
  const given = {};
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(usage());
      process.exit(0);
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m || !OPTIONS.some(([name]) => name === m[1])) throw new Error(`unknown argument ${arg}\n${usage()}`);
    given[m[1]] = m[2];
  }
  const o = {};
  for (const [name, def] of OPTIONS) {
    const key = name.replace(/-(.)/g, (_, c) => c.toUpperCase());
    const raw = given[name] ?? process.env[`SOAK_${name.toUpperCase().replaceAll('-', '_')}`];
    if (raw === undefined || raw === '') o[key] = def;
    else if (typeof def === 'string') o[key] = raw;
    else {
      o[key] = Number(raw);
      if (!Number.isFinite(o[key]) || o[key] < 0) throw new Error(`--${name} must be a number >= 0, not ${JSON.stringify(raw)}`);
    }
  }
  if (!['memory', 'redis'].includes(o.broker)) throw new Error(`--broker must be memory or redis, not ${o.broker}`);
  if (o.resumeMinSeconds > o.resumeMaxSeconds) throw new Error('--resume-min-seconds is above --resume-max-seconds');
  if (o.warmupMinutes >= o.minutes) throw new Error('--warmup-minutes must be shorter than --minutes');
  if (o.subscribers > 0 && o.channels === 0) throw new Error('subscribers need --channels > 0');
  o.seed = o.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : o.seed >>> 0;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Memory

/** VmRSS of a process in MB (from /proc/<pid>/status), or NaN once it is gone. */
function rssMB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

// ---------------------------------------------------------------------------------------------
// Paced load: call `fn(n)` at `rate` a second (request n at start + n / rate), without waiting for
// one to finish before the next is due; at most IN_FLIGHT_CAP at once. Resolves once stopped and drained.

function paced(rate, signal, fn) {
  if (rate <= 0) return Promise.resolve();
  const inFlight = new Set();
  return (async () => {
    const start = performance.now();
    for (let n = 0; !signal.aborted; n++) {
      const wait = start + (n * 1000) / rate - performance.now();
      try {
        if (wait > 1) await delay(wait, undefined, { signal });
        while (inFlight.size >= IN_FLIGHT_CAP) await Promise.race(inFlight);
      } catch {
        break;
      }
      const p = fn(n).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  })();
}

/** Counts of outcomes by name, printed as `name count, ...`. */
class Tally {
  constructor() {
    this.counts = new Map();
  }
  add(what) {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }
  get total() {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  toString() {
    return [...this.counts].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  }
}

// ---------------------------------------------------------------------------------------------

/** A chaos subscriber for which any gap marker is a failure: the history holds more than a resume needs. */
class SoakSubscriber extends Subscriber {
  gap(conn, detail, cursor) {
    if (this.current(conn)) this.violation(conn, `gap marker ${JSON.stringify(detail).slice(0, 200)}`);
    super.gap(conn, detail, cursor);
  }
}

const TRANSPORT_CYCLE = ['sse', 'longpoll', 'ws', 'sse', 'longpoll', 'ws', 'sse', 'longpoll', 'ws', 'sse', 'longpoll', 'mux'];

async function main() {
  const o = parseOptions(process.argv.slice(2));
  const rng = prng(o.seed);
  const key = `soak-${o.seed}-${Math.random().toString(36).slice(2)}`;
  console.log(
    `soak: seed ${o.seed} (replay with SOAK_SEED=${o.seed}); ${o.minutes} min, warm-up ${o.warmupMinutes} min, ` +
      `limit ${o.maxSlope} MB/min; broker ${o.broker}; ${heraldBin}`,
  );
  console.log(
    `soak: ${o.subscribers} subscribers over ${o.channels} channels resuming every ${o.resumeMinSeconds}-${o.resumeMaxSeconds} s, ` +
      `${o.publishRate} publishes/s, ${o.wsChurnRate} WebSocket opens/s, ${o.loginRate} login starts/s, ${o.unknownRate} unknown-channel reads/s`,
  );

  let redis;
  let brokerConfig = '';
  if (o.broker === 'redis') {
    const { startRedis, redisConfig } = await import('../integration/lib/redis.mjs');
    redis = await startRedis();
    brokerConfig = redisConfig(redis);
  }
  // A publish key, so that publishing is allowed from anywhere by the key alone and no per-address
  // limit applies to it; the login limits per address are raised for the one address the load comes from.
  // A login request costs memory until it has expired and been forgotten (request_ttl_seconds, then a minute);
  // a minute's TTL brings the starts' steady state inside the warm-up (the default 300 s would take 6 min).
  const h = await startHerald({
    config: `publish_key = "${key}"\n${brokerConfig}`,
    login: `${NO_LIMITS}\nrequest_ttl_seconds = 60`,
  });
  const pid = h.proc.pid;
  let heraldDied = null;
  h.exited.then((r) => (heraldDied = r));

  const problems = [];
  const stopLoad = new AbortController();
  const { signal } = stopLoad;
  setMaxListeners(0, signal); // every subscriber's next drop waits on it

  // Channels, each opened with seq 0: every subscriber starts right after it.
  const channels = [];
  for (let c = 0; c < o.channels; c++) {
    const name = `soak-${o.seed}-${c}`;
    const r = await request(`${h.url}/pub/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      body: JSON.stringify({ seq: 0 }),
    });
    if (r.status !== 201) throw new Error(`publishing seq 0 to ${name} answered ${r.status}: ${r.text}`);
    channels.push({ name, startId: r.json.id });
  }

  const rssAtStart = rssMB(pid);

  // Subscribers, and the drops that make them resume.
  const subs = [];
  for (let i = 0; i < o.subscribers; i++) {
    const channel = channels[i % channels.length];
    const s = new SoakSubscriber({
      name: `sub${i}`,
      channel: channel.name,
      since: channel.startId,
      transport: TRANSPORT_CYCLE[i % TRANSPORT_CYCLE.length],
      rng: prng(o.seed + 7919 * (i + 1)),
      node: () => h,
    });
    s.delivered = 0; // messages checked and let go of (its log is emptied at each sample)
    subs.push(s);
  }
  for (const s of subs) s.connect();
  const drops = subs.map(async (s) => {
    for (;;) {
      try {
        await delay(1000 * between(s.rng, [o.resumeMinSeconds, o.resumeMaxSeconds]), undefined, { signal });
      } catch {
        return;
      }
      s.kill({ pauseMs: between(s.rng, RESUME_PAUSE_MS), transport: s.transport });
    }
  });
  /**
   * Count what each subscriber heard and let it go, so that a long soak does not grow the soak itself:
   * every message was judged as it arrived (record(): seq n + 1 after n, no duplicate, no skip), so
   * neither its log nor the ids it saw are needed any longer.
   */
  const settle = () => {
    for (const s of subs) {
      for (const x of s.log) if (x !== 'gap') s.delivered += 1;
      s.log.length = 0;
      s.ids.clear();
    }
  };

  // The publisher.
  let published = 0;
  const publisher = new Worker(new URL('./publisher.mjs', import.meta.url), {
    workerData: { url: h.url, key, channels, rate: o.publishRate },
  });
  const publishing = new Promise((resolve, reject) => {
    publisher.on('message', (m) => {
      if (m.progress !== undefined) published = m.progress;
      if (m.done) resolve(m.done);
    });
    publisher.once('error', reject);
    publisher.once('exit', (code) => reject(new Error(`publisher exited with code ${code}`)));
  });

  // WebSocket churn: by turns a /sub/{ch} socket dropped once open, and a /ws socket closed cleanly
  // once its subscription is confirmed.
  const churn = new Tally();
  const churning = paced(o.wsChurnRate, signal, async (n) => {
    const channel = channels[Math.floor(rng() * channels.length)].name;
    const mux = n % 2 === 1;
    const c = openWS(mux ? `${h.wsUrl}/ws` : `${h.wsUrl}/sub/${channel}`);
    try {
      await within(c.opened, 10000, 'WebSocket open');
      if (mux) {
        const reply = await c.request({ op: 'subscribe', channel }, { timeoutMs: 10000 });
        if (reply.op !== 'subscribed') throw new Error(`subscribe answered ${JSON.stringify(reply)}`);
        await within(c.close(1000), 10000, 'WebSocket close');
      } else {
        await within(c.terminate(), 10000, 'WebSocket drop');
      }
      churn.add(mux ? '/ws' : '/sub');
    } catch (err) {
      c.terminate();
      churn.add('failed');
      if (problems.length < 100) problems.push(`WebSocket churn: ${err.message}`);
    }
  });

  // Login starts.
  const logins = new Tally();
  const loggingIn = paced(o.loginRate, signal, async () => {
    try {
      await startScreen(h.url);
      logins.add('201');
    } catch (err) {
      logins.add('failed');
      if (problems.length < 100) problems.push(`login start: ${err.message}`);
    }
  });

  // Reads of unknown channels: nothing there, nothing to keep. Any answer that says so is right
  // (200, 204, 404); a refusal of the rate (429) is counted and shown; anything else is a problem.
  const unknown = new Tally();
  const reading = paced(o.unknownRate, signal, async (n) => {
    const name = `soak-unknown-${o.seed}-${n}`;
    const path = n % 2 === 0 ? `/sub/${name}` : `/channels/${name}`;
    try {
      const r = await request(h.url + path);
      unknown.add(`${path.split('/')[1]} ${r.status}`);
      if (![200, 204, 404, 429].includes(r.status) && problems.length < 100) problems.push(`GET ${path} answered ${r.status}: ${r.text}`);
    } catch (err) {
      unknown.add('failed');
      if (problems.length < 100) problems.push(`GET ${path}: ${String(err?.cause ?? err)}`);
    }
  });

  // Sampling, for the whole length of the soak (on Redis, the redis-server's memory too: what herald
  // keeps in the broker lives there).
  const samples = [{ x: 0, y: rssAtStart }];
  const redisSamples = redis ? [{ x: 0, y: rssMB(redis.pid) }] : [];
  const resumes = () => subs.reduce((a, s) => a + Object.values(s.connections).reduce((x, y) => x + y, 0) - 1, 0);
  const delivered = () => subs.reduce((a, s) => a + s.delivered, 0);
  console.log(`   time      RSS   change  | published  delivered  resumes | ws opens  logins  unknown reads${redis ? ' | redis RSS' : ''}`);
  const redisColumn = () => (redis ? ` | ${redisSamples.at(-1).y.toFixed(1).padStart(6)} MB` : '');
  const line = (t, rss, prev) =>
    `${(t / 60).toFixed(2).padStart(6)} min ${rss.toFixed(1).padStart(6)} MB ${(rss - prev >= 0 ? '+' : '') + (rss - prev).toFixed(1).padStart(5)} | ` +
    `${String(published).padStart(9)} ${String(delivered()).padStart(10)} ${String(resumes()).padStart(8)} | ` +
    `${String(churn.total).padStart(8)} ${String(logins.total).padStart(7)} ${String(unknown.total).padStart(14)}${redisColumn()}`;
  console.log(line(0, rssAtStart, rssAtStart));
  const t0 = performance.now();
  const endAt = t0 + o.minutes * 60000;
  for (let k = 1; ; k++) {
    const next = t0 + k * o.sampleSeconds * 1000;
    if (next > endAt + 1) break;
    await delay(next - performance.now());
    if (heraldDied) break;
    settle();
    const rss = rssMB(pid);
    const x = (performance.now() - t0) / 60000;
    if (redis) redisSamples.push({ x, y: rssMB(redis.pid) });
    console.log(line(x * 60, rss, samples.at(-1).y));
    samples.push({ x, y: rss });
  }

  // The end: stop the load, let every subscriber hear the last message of its channel, check.
  stopLoad.abort();
  publisher.postMessage({ stop: true });
  const { finals, failures, maxLateMs, published: publishedTotal } = await publishing;
  await publisher.terminate();
  await Promise.all([...drops, churning, loggingIn, reading]);
  if (heraldDied) {
    problems.push(`herald exited (code ${heraldDied.code}, signal ${heraldDied.signal}) during the soak:\n${h.logs().split('\n').slice(-30).join('\n')}`);
  }
  const finalOf = new Map(finals.map((f) => [f.channel, f]));
  problems.push(...failures.map((f) => `publish ${f}`));
  try {
    if (!heraldDied) await within(Promise.all(subs.map((s) => s.reached(finalOf.get(s.channel).id))), DRAIN_MS, 'every subscriber hearing its channel\'s last message');
  } catch (err) {
    const behind = subs.filter((s) => s.lastId !== finalOf.get(s.channel).id);
    problems.push(`${err.message}: ${behind.length} behind, e.g. ${behind.slice(0, 5).map((s) => `${s.name} (${s.transport}) at seq ${s.lastSeq} of ${finalOf.get(s.channel).seq}`).join(', ')}`);
  }
  for (const s of subs) s.stop();
  settle();
  let wrong = 0; // subscribers that did not hear exactly 1..final of their channel, in order
  for (const s of subs) {
    problems.push(...s.violations.slice(0, 5));
    const expected = finalOf.get(s.channel).seq;
    if (s.violations.length === 0 && s.delivered !== expected) problems.push(`${s.name} (${s.transport}) heard ${s.delivered} messages of ${expected}`);
    if (s.violations.length || s.delivered !== expected) wrong += 1;
  }
  await h.stop();
  await redis?.remove();

  // The verdict.
  const warm = samples.filter((p) => p.x >= o.warmupMinutes);
  const mbPerMin = warm.length >= 3 ? slope(warm) : NaN;
  const totalDelivered = delivered();
  const totalResumes = resumes();
  const after = warm.length ? warm.at(-1).y - warm[0].y : NaN;
  console.log('');
  console.log(`soak: published ${publishedTotal} messages (${(publishedTotal / (o.minutes * 60)).toFixed(1)}/s, at most ${maxLateMs} ms behind schedule)`);
  const byTransport = Object.entries(subs.reduce((a, s) => {
    for (const [t, n] of Object.entries(s.connections)) if (n) a[t] = (a[t] ?? 0) + n;
    return a;
  }, {})).map(([t, n]) => `${t} ${n}`).join(', ');
  console.log(
    `soak: delivered ${totalDelivered} messages${wrong ? '' : ' exactly once'} through ${totalResumes} resumes ` +
      `(${subs.length} subscribers; connections: ${byTransport})` +
      (wrong ? `, but ${wrong} subscribers did not hear each message of their channel exactly once, in order` : ''),
  );
  console.log(`soak: WebSocket churn: ${churn}; login starts: ${logins}; unknown-channel reads: ${unknown}`);
  console.log(
    `soak: RSS ${rssAtStart.toFixed(1)} MB at the start, ${samples.at(-1).y.toFixed(1)} MB at the end; ` +
      `after the warm-up (${warm.length} samples) ${after >= 0 ? '+' : ''}${after.toFixed(1)} MB, slope ${mbPerMin.toFixed(2)} MB/min (limit ${o.maxSlope})`,
  );
  if (!(warm.length >= 3)) problems.push(`only ${warm.length} samples after the warm-up: make the soak longer or sample more often`);
  else if (mbPerMin > o.maxSlope) problems.push(`memory still grows after the warm-up: ${mbPerMin.toFixed(2)} MB/min (limit ${o.maxSlope} MB/min)`);
  if (redisSamples.length) {
    const redisWarm = redisSamples.filter((p) => p.x >= o.warmupMinutes);
    const redisSlope = redisWarm.length >= 3 ? slope(redisWarm) : NaN;
    console.log(
      `soak: redis-server RSS ${redisSamples[0].y.toFixed(1)} MB at the start, ${redisSamples.at(-1).y.toFixed(1)} MB at the end; ` +
        `slope after the warm-up ${redisSlope.toFixed(2)} MB/min (limit ${o.maxSlope})`,
    );
    if (redisSlope > o.maxSlope) problems.push(`redis-server memory still grows after the warm-up: ${redisSlope.toFixed(2)} MB/min (limit ${o.maxSlope} MB/min)`);
  }
  if (problems.length) {
    console.log(`soak: FAIL (seed ${o.seed})\n  ${problems.slice(0, 40).join('\n  ')}${problems.length > 40 ? `\n  ... and ${problems.length - 40} more` : ''}`);
    process.exitCode = 1;
  } else {
    console.log('soak: PASS');
  }
}

main().then(
  () => process.exit(), // with process.exitCode; nothing is left to wait for
  (err) => {
    console.error(`soak: ${err.stack ?? err}`);
    process.exit(2);
  },
);
