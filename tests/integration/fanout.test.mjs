// Fan-out: 1,000 subscribers across the transports (250 interval pollers, 250 long pollers, 250 SSE
// via the eventsource package, 125 WebSocket /sub and 125 /ws) each receive 200 messages: none
// lost, none repeated, none out of order.
//
// Every subscriber starts from the cursor of a seed message, so the result does not depend on who
// connected first; and publishing starts only once the server counts every streaming subscriber
// (and every long poll held), so the messages are delivered live, not replayed from history.
// The subscribers run in worker threads (lib/fanout-worker.mjs); this thread only publishes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import {
  chanPath,
  channelInfo,
  openSSE,
  openWS,
  publish,
  startHerald,
  uniq,
  waitForSubscribers,
  within,
  wsMessages,
} from './lib/herald.mjs';

const PER_TRANSPORT = 250;
const MESSAGES = 200;
const WORKERS = 2;
const TIMEOUT_MS = 45000;

let h;
before(async () => {
  h = await startHerald({ config: '[history]\nsize = 1000\n' });
});
after(() => h?.stop());

/** Start a worker and return {worker, next(type)} where next awaits its next message of that type. */
function startWorker(workerData) {
  const worker = new Worker(new URL('./lib/fanout-worker.mjs', import.meta.url), { workerData });
  const inbox = [];
  const waiting = [];
  const deliver = () => {
    for (const w of [...waiting]) {
      const i = inbox.findIndex((m) => m.type === w.type || m.type === 'error' || m.type === 'exit');
      if (i >= 0) {
        const [m] = inbox.splice(i, 1);
        waiting.splice(waiting.indexOf(w), 1);
        if (m.type === w.type) w.resolve(m);
        else w.reject(new Error(`fan-out worker: ${m.message}`));
      }
    }
  };
  worker.on('message', (m) => {
    inbox.push(m);
    deliver();
  });
  worker.on('error', (err) => {
    inbox.push({ type: 'error', message: String(err?.stack ?? err) });
    deliver();
  });
  worker.on('exit', (code) => {
    inbox.push({ type: 'exit', message: `exited with code ${code}` });
    deliver();
  });
  const next = (type) =>
    new Promise((resolve, reject) => {
      waiting.push({ type, resolve, reject });
      deliver();
    });
  return { worker, next };
}

describe('fan-out', () => {
  it(`${PER_TRANSPORT * 4} subscribers each receive ${MESSAGES} messages exactly once, in order`, { timeout: 90000 }, async (t) => {
    const ch = uniq('fan');
    const seed = await publish(h.url, ch, 'seed');
    const workers = Array.from({ length: WORKERS }, (_, i) => {
      // Worker i's share of n clients (the shares add up to n).
      const share = (n) => Math.floor(n / WORKERS) + (i < n % WORKERS ? 1 : 0);
      return startWorker({
        url: h.url,
        wsUrl: h.wsUrl,
        channel: ch,
        since: seed.json.id,
        messages: MESSAGES,
        counts: {
          interval: share(PER_TRANSPORT),
          longpoll: share(PER_TRANSPORT),
          sse: share(PER_TRANSPORT),
          wsSub: share(PER_TRANSPORT / 2),
          wsMux: share(PER_TRANSPORT / 2),
        },
        pollIntervalMs: 250,
        timeoutMs: TIMEOUT_MS,
      });
    });

    try {
      await within(Promise.all(workers.map((w) => w.next('ready'))), 20000, 'all subscribers connecting');
      await waitForSubscribers(
        h.url,
        ch,
        { websocket: PER_TRANSPORT, sse: PER_TRANSPORT, longpoll: PER_TRANSPORT },
        { timeoutMs: 20000 },
      );

      const t0 = Date.now();
      const ids = [];
      for (let n = 0; n < MESSAGES; n++) {
        const r = await publish(h.url, ch, JSON.stringify({ n }), { json: true });
        assert.equal(r.status, 201, r.text);
        // Streams are counted; the held long polls too (poll.test.mjs checks that exactly), though
        // here some may already be answered by the time the count is taken.
        if (n === 0) assert.ok(r.json.subscribers >= PER_TRANSPORT * 2 && r.json.subscribers <= PER_TRANSPORT * 3, `subscribers: ${r.json.subscribers}`);
        ids.push(r.json.id);
      }
      const tPublished = Date.now();
      const expected = ids.map((id, n) => ({ id, data: { n } }));

      const done = await within(
        Promise.all(workers.map((w) => w.next('done'))),
        TIMEOUT_MS + 5000,
        'every subscriber receiving every message',
      );
      t.diagnostic(
        `published ${MESSAGES} in ${tPublished - t0} ms; all subscribers complete ${Date.now() - t0} ms after the first publish`,
      );
      const results = done.flatMap((d) => d.results);
      assert.equal(results.length, PER_TRANSPORT * 4);
      for (const [kind, got] of results) {
        // deepEqual on the whole sequence catches loss, repetition and reordering at once.
        assert.deepEqual(got, expected, `${kind} subscriber got a different sequence`);
      }

      // Nothing beyond the 200 trickled in afterwards (a late repeat would show up here).
      workers.forEach((w) => w.worker.postMessage('close'));
      const closed = await within(Promise.all(workers.map((w) => w.next('closed'))), 10000, 'workers closing');
      for (const [kind, count] of closed.flatMap((c) => c.totals)) assert.equal(count, MESSAGES, `${kind} total received`);
    } finally {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    }

    // Every one of them is released again.
    await waitForSubscribers(h.url, ch, { websocket: 0, sse: 0, longpoll: 0 }, { timeoutMs: 10000 });
    assert.equal((await channelInfo(h.url, ch)).history, MESSAGES + 1);
  });
});

describe('fan-out of publishes arriving on different connections', () => {
  // herald runs one event loop per core; publishes taken on different connections are handled on
  // different loops, and each must still reach every stream once and in cursor order.
  it('sequential publishes over 4 keep-alive connections reach every stream in order', { timeout: 30000 }, async () => {
    const ch = uniq('loops');
    const COUNT = 1000;
    const streams = Array.from({ length: 8 }, () => openSSE(`${h.url}/sub/${chanPath(ch)}`));
    const sockets = Array.from({ length: 8 }, () => openWS(`${h.wsUrl}/sub/${chanPath(ch)}`));
    const muxes = Array.from({ length: 8 }, () => openWS(`${h.wsUrl}/ws`));
    await Promise.all(muxes.map(async (m) => {
      await m.opened;
      await m.request({ op: 'subscribe', channel: ch });
    }));
    await waitForSubscribers(h.url, ch, { sse: 8, websocket: 16 });

    const agents = Array.from({ length: 4 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const publishOn = (agent, n) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: h.port, method: 'POST', path: `/pub/${chanPath(ch)}`, agent, headers: { 'Content-Type': 'application/json' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (body += c));
            res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(body).id) : reject(new Error(`${res.statusCode} ${body}`))));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ n }));
      });
    const ids = [];
    try {
      for (let n = 0; n < COUNT; n++) ids.push(await publishOn(agents[n % agents.length], n)); // one at a time
    } finally {
      agents.forEach((a) => a.destroy());
    }

    // Wait until each client has the last message (delivery is in order, so it then has all it
    // will get), then compare whole sequences.
    const last = ids.at(-1);
    const sequences = await Promise.all([
      ...streams.map(async (s) => {
        await s.events.waitUntil((es) => es.at(-1)?.id === last, { timeoutMs: 10000 });
        return ['sse', s.events.items.map((e) => ({ id: e.id, n: JSON.parse(e.data).n }))];
      }),
      ...sockets.map(async (w) => {
        await w.frames.waitUntil((fs) => fs.at(-1)?.id === last, { timeoutMs: 10000 });
        return ['ws /sub', w.frames.items.map((f) => ({ id: f.id, n: f.data.n }))];
      }),
      ...muxes.map(async (m) => {
        await m.frames.waitUntil((fs) => fs.at(-1)?.id === last, { timeoutMs: 10000 });
        return ['ws /ws', wsMessages(m.frames.items, ch).map((f) => ({ id: f.id, n: f.data.n }))];
      }),
    ]);
    for (const [kind, got] of sequences) {
      const wrong = got.map((m, i) => m.n !== i && `#${i}: n=${m.n}`).filter(Boolean);
      assert.deepEqual(got.map((m) => m.id), ids, `${kind} got ${got.length}/${COUNT}; first wrong: ${wrong.slice(0, 5).join(', ')}`);
    }
    streams.forEach((s) => s.close());
    await Promise.all([...sockets, ...muxes].map((w) => w.close()));
  });
});
