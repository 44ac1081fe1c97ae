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
import { Worker } from 'node:worker_threads';
import { channelInfo, publish, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';

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
        if (n === 0) assert.equal(r.json.subscribers, PER_TRANSPORT * 3, 'streams + held long polls are counted');
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
      for (const [kind, count] of closed.flatMap((c) => c.extra)) assert.equal(count, MESSAGES, `${kind} total received`);
    } finally {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    }

    // Every one of them is released again.
    await waitForSubscribers(h.url, ch, { websocket: 0, sse: 0, longpoll: 0 }, { timeoutMs: 10000 });
    assert.equal((await channelInfo(h.url, ch)).history, MESSAGES + 1);
  });
});
