// The soak's publisher, in a worker thread so the subscribers' work on the main thread cannot slow its
// steady rate: {"seq": n} on each of `channels`, one publish at a time per channel (so each channel's
// order is the order of its seq), channel i publishing seq n at start + offset_i + n * step, the
// channels staggered so that together they make `rate` publishes a second. Pacing, not synchronisation:
// a publish that comes back late is followed at once by the next one due.
//
// Messages in: {stop: true} — every channel finishes the publish it has in flight and stops.
// Messages out: {progress: published} each second; {done: {finals, published, failures, maxLateMs}} at the
// end, `finals` holding each channel's last published {seq, id}. A publish that is not answered 201 is a
// failure: the channel stops there (its subscribers then expect what it published up to it).
import { setMaxListeners } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';

const { url, key, channels, rate } = workerData;
const step = (1000 * channels.length) / rate; // between two publishes on one channel
const stop = new AbortController();
setMaxListeners(0, stop.signal); // every channel's next publish waits on it
parentPort.on('message', (m) => {
  if (m.stop) stop.abort();
});

let published = 0;
let maxLateMs = 0;
const failures = [];
const start = performance.now();

async function run(channel, i) {
  const path = `${url}/pub/${encodeURIComponent(channel.name)}`;
  const offset = (i * step) / channels.length;
  let last = { seq: 0, id: channel.startId };
  for (let n = 1; !stop.signal.aborted; n++) {
    const due = start + offset + n * step;
    const wait = due - performance.now();
    if (wait > 1) {
      try {
        await delay(wait, undefined, { signal: stop.signal });
      } catch {
        break; // stopped while waiting
      }
    } else {
      maxLateMs = Math.max(maxLateMs, -wait);
    }
    let failure;
    try {
      const res = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
        body: JSON.stringify({ seq: n }),
      });
      const text = await res.text();
      if (res.status === 201) last = { seq: n, id: JSON.parse(text).id };
      else failure = `${res.status} ${text}`;
    } catch (err) {
      failure = String(err?.cause ?? err);
    }
    if (failure) {
      failures.push(`${channel.name} seq ${n}: ${failure}`);
      break;
    }
    published += 1;
  }
  return { channel: channel.name, ...last };
}

const progress = setInterval(() => parentPort.postMessage({ progress: published }), 1000);
const finals = await Promise.all(channels.map(run));
clearInterval(progress);
parentPort.postMessage({ done: { finals, published, failures, maxLateMs: Math.round(maxLateMs) } });
