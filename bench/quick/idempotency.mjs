// What an idempotency key costs a publish: the same publishes without a key, each with a fresh key, and
// repeats of one key (replays), over a few keep-alive connections. Reports publishes/s, latency percentiles
// and, with the server's pid, its CPU time per publish (utime+stime from /proc). The Node client shares the
// machine with the server: compare the rows with each other, not with other machines.
//
//   node bench/quick/idempotency.mjs http://127.0.0.1:8080 PID [publishes=20000] [concurrency=8]
// (the server needs loopback_publish = true, or set HERALD_KEY to a publish key; MODES=key runs one mode,
// e.g. to read Redis's own cost per script from INFO commandstats between runs)
import { readFileSync } from 'node:fs';

const [url = 'http://127.0.0.1:8080', pidArg, publishesArg = '20000', concurrencyArg = '8'] = process.argv.slice(2);
const pid = Number(pidArg);
const publishes = Number(publishesArg);
const concurrency = Number(concurrencyArg);
const ticksPerSecond = 100; // USER_HZ on Linux

function cpuSeconds() {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime, stime
}

async function run(mode) {
  const channel = `idem-bench-${mode}-${Date.now()}`;
  const latencies = [];
  let next = 0;
  const headersFor = (n) => {
    const headers = { 'content-type': 'application/json' };
    if (process.env.HERALD_KEY) headers.authorization = `Bearer ${process.env.HERALD_KEY}`;
    if (mode === 'key') headers['idempotency-key'] = `order-${n}-${channel}`;
    if (mode === 'replay') headers['idempotency-key'] = 'the-same-key';
    return headers;
  };
  const worker = async () => {
    while (next < publishes) {
      const n = next++;
      const t0 = performance.now();
      const res = await fetch(`${url}/pub/${channel}`, { method: 'POST', headers: headersFor(n), body: `{"n":${n}}` });
      await res.arrayBuffer();
      const expected = mode === 'replay' ? [200, 201] : [201];
      if (!expected.includes(res.status)) throw new Error(`${mode}: publish answered ${res.status}`);
      latencies.push(performance.now() - t0);
    }
  };
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(3);
  return {
    mode,
    'publishes/s': Math.round(publishes / seconds),
    'p50 ms': at(0.5),
    'p99 ms': at(0.99),
    'server CPU µs/publish': pid ? Math.round((cpu * 1e6) / publishes) : 'n/a',
  };
}

const modes = process.env.MODES ? process.env.MODES.split(',') : ['none', 'key', 'replay', 'none', 'key', 'replay'];
if (!process.env.MODES) await run('none'); // warm-up: connections, allocator, Redis script cache
const rows = [];
for (const mode of modes) rows.push(await run(mode));
console.table(rows);
