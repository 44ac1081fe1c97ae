// A worker thread running a share of the fan-out test's subscribers. The clients run here, not in the
// test's own thread, because node:test tracks every promise of the test thread (costly at 200,000
// deliveries) and so that the publisher in the test thread is not queued behind subscriber work.
//
// workerData: {url, wsUrl, channel, since, messages, counts: {interval, longpoll, sse, wsSub, wsMux},
//              pollIntervalMs, timeoutMs}
// Posts {type: 'ready'} once every streaming client is connected (and /ws subscribed),
// {type: 'done', results: [[kind, [{id, data}...]], ...]} once every client has `messages` messages,
// {type: 'error', message} on failure, and after the parent posts 'close':
// {type: 'closed', extra: [[kind, count received in total]]} so late repeats are caught too.
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { chanPath, openEventSource, openWS, poll, wsMessages } from './herald.mjs';

const { url, wsUrl, channel, since, messages, counts, pollIntervalMs, timeoutMs } = workerData;
let stopping = false;
const deadline = Date.now() + timeoutMs;

/** Poll in a loop with the cursor; what arrives goes into `got` (readable on failure too). */
async function pollLoop(wait, got) {
  let cursor = since;
  while (got.length < messages && !stopping) {
    if (Date.now() > deadline) throw new Error(`poller (wait=${wait}) has ${got.length}/${messages}`);
    const r = await poll(url, channel, { since: cursor, wait });
    if (r.status === 200) {
      if (r.json.gap) throw new Error('poller: unexpected gap');
      got.push(...r.json.messages);
      cursor = r.cursor;
    } else if (r.status !== 204) {
      throw new Error(`poll answered ${r.status}: ${r.text}`);
    } else if (!wait) {
      await delay(pollIntervalMs * (0.5 + Math.random())); // the interval of an interval poller
    }
  }
  return got.map((m) => ({ id: m.id, data: m.data }));
}

const path = `/sub/${chanPath(channel)}`;
const sses = Array.from({ length: counts.sse }, () => openEventSource(`${url}${path}`, { lastEventId: since }));
const subs = Array.from({ length: counts.wsSub }, () => openWS(`${wsUrl}${path}?since=${encodeURIComponent(since)}`));
const muxes = Array.from({ length: counts.wsMux }, () => openWS(`${wsUrl}/ws`));
const pollers = [
  ...Array.from({ length: counts.interval }, () => ['interval poll', 0, []]),
  ...Array.from({ length: counts.longpoll }, () => ['long poll', 30, []]),
].map(([kind, wait, got]) => [kind, pollLoop(wait, got), got]);
pollers.forEach(([, p]) => p.catch(() => {}));

const wait = { timeoutMs };

/** Await a client's messages; on failure say which n are missing or repeated, not just how many. */
async function collect(kind, waiting, items, extra = () => '') {
  try {
    return [kind, await waiting];
  } catch (err) {
    const ns = items().map((x) => x.data?.n);
    const missing = [];
    for (let n = 0; n < messages; n++) if (!ns.includes(n)) missing.push(n);
    const repeated = ns.filter((n, i) => ns.indexOf(n) !== i);
    throw new Error(
      `${kind} subscriber received ${ns.length}/${messages}; missing n=${JSON.stringify(missing.slice(0, 50))}` +
        ` repeated n=${JSON.stringify(repeated.slice(0, 50))}${extra()} (${err.message.slice(0, 300)})`,
    );
  }
}

try {
  await Promise.all([
    ...sses.map((s) => s.opened),
    ...subs.map((w) => w.opened),
    ...muxes.map(async (m) => {
      await m.opened;
      const r = await m.request({ op: 'subscribe', channel, since }, { timeoutMs: 20000 });
      if (r.op !== 'subscribed') throw new Error(`/ws subscribe answered ${JSON.stringify(r)}`);
    }),
  ]);
  parentPort.postMessage({ type: 'ready' });

  const sseItems = (s) => s.events.items.map((e) => ({ id: e.id, data: JSON.parse(e.data) }));
  const envelopes = (fs) => fs.map((f) => ({ id: f.id, data: f.data }));
  const results = await Promise.all([
    ...sses.map((s) =>
      collect(
        'sse',
        s.events.waitFor(messages, wait).then(() => sseItems(s).slice(0, messages)),
        () => sseItems(s),
        () => `; eventsource errors ${JSON.stringify(s.errors.items)}`,
      ),
    ),
    ...subs.map((w) =>
      collect('ws /sub', w.frames.waitFor(messages, wait).then(envelopes), () => envelopes(w.frames.items)),
    ),
    ...muxes.map((m) =>
      collect(
        'ws /ws',
        m.frames
          .waitUntil((fs) => wsMessages(fs, channel).length >= messages, wait)
          .then(() => envelopes(wsMessages(m.frames.items, channel))),
        () => envelopes(wsMessages(m.frames.items, channel)),
      ),
    ),
    ...pollers.map(([kind, p, got]) => collect(kind, p, () => got)),
  ]);
  parentPort.postMessage({ type: 'done', results });
} catch (err) {
  parentPort.postMessage({ type: 'error', message: String(err?.stack ?? err) });
}

parentPort.on('message', async (msg) => {
  if (msg !== 'close') return;
  stopping = true;
  const extra = [
    ...sses.map((s) => ['sse', s.events.items.length]),
    ...subs.map((w) => ['ws /sub', w.frames.items.length]),
    ...muxes.map((m) => ['ws /ws', wsMessages(m.frames.items, channel).length]),
  ];
  sses.forEach((s) => s.close());
  await Promise.all([...subs, ...muxes].map((w) => w.terminate()));
  parentPort.postMessage({ type: 'closed', extra });
  parentPort.close();
});
