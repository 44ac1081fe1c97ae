// A worker thread running a share of the fan-out test's subscribers. The clients run here, not in the
// test's own thread, because node:test tracks every promise of the test thread (costly at 200,000
// deliveries) and so that the publisher in the test thread is not queued behind subscriber work.
//
// workerData: {url, wsUrl, channel, since, messages, counts: {interval, longpoll, sse, wsSub, wsMux},
//              pollIntervalMs, timeoutMs}
// The published payloads are {"n": 0}, {"n": 1}, … so every client checks each arrival against the
// next n expected and fails at the first loss, repeat or reordering instead of at the timeout.
// Posts {type: 'ready'} once every streaming client is connected (and /ws subscribed),
// {type: 'done', results: [[kind, [{id, data}...]], ...]} once every client has `messages` messages,
// {type: 'error', message} on failure, and after the parent posts 'close':
// {type: 'closed', totals: [[kind, count received in total]]} so late repeats are caught too.
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { chanPath, openEventSource, openWS, poll } from './herald.mjs';

const { url, wsUrl, channel, since, messages, counts, pollIntervalMs, timeoutMs } = workerData;
let stopping = false;
const deadline = Date.now() + timeoutMs;

/** Describe what a client got wrong: which n are missing, repeated, or where the order broke. */
function describe(kind, got, why) {
  const ns = got.map((m) => m.data?.n);
  const missing = [];
  for (let n = 0; n < messages; n++) if (!ns.includes(n)) missing.push(n);
  const repeated = ns.filter((n, i) => ns.indexOf(n) !== i);
  return new Error(
    `${kind} subscriber: ${why}; received ${ns.length}/${messages}, not received (so far) n=${JSON.stringify(missing.slice(0, 40))}, ` +
      `repeated n=${JSON.stringify(repeated.slice(0, 40))}, first ids ${JSON.stringify(got.slice(0, 3).map((m) => m.id))}`,
  );
}

/**
 * A client's received messages ({id, data}) with a check on every arrival. `resolve` when complete,
 * `reject` at the first message out of sequence or at the deadline.
 */
function sequence(kind) {
  const got = [];
  let settle;
  const done = new Promise((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {});
  const timer = setTimeout(() => settle.reject(describe(kind, got, `timed out after ${timeoutMs} ms`)), deadline - Date.now());
  return {
    kind,
    got,
    done,
    add(m) {
      got.push(m);
      const i = got.length - 1;
      if (m.data?.n !== i) {
        clearTimeout(timer);
        settle.reject(describe(kind, got, `message #${i} has n=${JSON.stringify(m.data?.n)} (id ${m.id})`));
      } else if (got.length === messages) {
        clearTimeout(timer);
        settle.resolve([kind, got.slice()]);
      }
    },
    fail(err) {
      clearTimeout(timer);
      settle.reject(describe(kind, got, String(err?.message ?? err)));
    },
  };
}

/** Interval poller (wait=0) or long poller: poll in a loop with the cursor. */
async function pollLoop(seq, wait) {
  let cursor = since;
  while (seq.got.length < messages && !stopping) {
    const r = await poll(url, channel, { since: cursor, wait });
    if (r.status === 200) {
      if (r.json.gap) throw new Error('unexpected gap');
      for (const m of r.json.messages) seq.add({ id: m.id, data: m.data });
      cursor = r.cursor;
    } else if (r.status !== 204) {
      throw new Error(`poll answered ${r.status}: ${r.text}`);
    } else if (!wait) {
      await delay(pollIntervalMs * (0.5 + Math.random())); // the interval of an interval poller
    }
  }
}

const subPath = `/sub/${chanPath(channel)}`;
const all = [];
const sses = Array.from({ length: counts.sse }, () => {
  const seq = sequence('sse');
  const src = openEventSource(`${url}${subPath}`, { lastEventId: since });
  src.es.addEventListener('message', (e) => seq.add({ id: e.lastEventId, data: JSON.parse(e.data) }));
  src.es.addEventListener('error', (e) => seq.fail(`EventSource error: ${e.code} ${e.message}`));
  all.push(seq);
  return { src, seq };
});
const subs = Array.from({ length: counts.wsSub }, () => {
  const seq = sequence('ws /sub');
  const w = openWS(`${wsUrl}${subPath}?since=${encodeURIComponent(since)}`);
  w.ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    seq.add({ id: f.id, data: f.data });
  });
  all.push(seq);
  return { w, seq };
});
const muxes = Array.from({ length: counts.wsMux }, () => {
  const seq = sequence('ws /ws');
  const w = openWS(`${wsUrl}/ws`);
  w.ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.op === 'message' && f.channel === channel) seq.add({ id: f.id, data: f.data });
    else if (f.op !== 'subscribed') seq.fail(`unexpected frame ${JSON.stringify(f)}`);
  });
  all.push(seq);
  return { w, seq };
});
for (const [kind, wait, n] of [['interval poll', 0, counts.interval], ['long poll', 30, counts.longpoll]]) {
  for (let i = 0; i < n; i++) {
    const seq = sequence(kind);
    pollLoop(seq, wait).catch((err) => seq.fail(err));
    all.push(seq);
  }
}
for (const s of [...subs, ...muxes]) s.w.closed.then(({ code }) => !stopping && s.seq.fail(`socket closed (${code})`));

try {
  await Promise.all([
    ...sses.map((s) => s.src.opened),
    ...subs.map((s) => s.w.opened),
    ...muxes.map(async ({ w }) => {
      await w.opened;
      const r = await w.request({ op: 'subscribe', channel, since }, { timeoutMs: 20000 });
      if (r.op !== 'subscribed') throw new Error(`/ws subscribe answered ${JSON.stringify(r)}`);
    }),
  ]);
  parentPort.postMessage({ type: 'ready' });
  const results = await Promise.all(all.map((s) => s.done));
  parentPort.postMessage({ type: 'done', results });
} catch (err) {
  parentPort.postMessage({ type: 'error', message: String(err?.message ?? err) });
}

parentPort.on('message', async (msg) => {
  if (msg !== 'close') return;
  stopping = true;
  const totals = all.map((s) => [s.kind, s.got.length]);
  sses.forEach((s) => s.src.close());
  await Promise.all([...subs, ...muxes].map((s) => s.w.terminate()));
  parentPort.postMessage({ type: 'closed', totals });
  parentPort.close();
});
