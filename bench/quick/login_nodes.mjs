// Approval -> screen wake across two herald nodes on one Redis, against one node with the memory store:
// N login screens start and listen on /login/events (WebSocket) on one node, an application approves each
// of them (POST /api/login/approve with a key) on the other, one after another, and the time from sending
// the approval to the screen parsing its `approved` event is taken. Rounds alternate between the two
// setups so a busy machine weighs on both alike. It starts its own redis-server (free loopback port, no
// persistence) and herald processes; client and servers share the machine, so compare the two setups
// with each other, not with other hosts.
//
//   node bench/quick/login_nodes.mjs [screens=300] [rounds=3] [memory]
// (HERALD_BIN picks the binary; default build/herald). A first round of each setup warms up and is not
// counted. `memory` measures the one-node setup alone (to compare two builds of the memory store).
import WebSocket from '../../tests/integration/node_modules/ws/index.js';
import { startHerald } from '../../tests/integration/lib/herald.mjs';
import { redisConfig, startRedis } from '../../tests/integration/lib/redis.mjs';

const [screensArg = '300', roundsArg = '3', only] = process.argv.slice(2);
const screens = Number(screensArg);
const rounds = Number(roundsArg);
const memoryOnly = only === 'memory';
const KEY = 'bench-login-key';
const CONFIG = `[[publish_keys]]\nkey = "${KEY}"\nnamespaces = ["_login"]\n`;
const LOGIN = 'starts_per_minute = 100000\nmax_requests = 1000000';

// One screen on `screenUrl`: its login request, and a WebSocket on its events that resolves `woke` on `approved`.
async function screen(screenUrl) {
  const started = await fetch(`${screenUrl}/login/start`, { method: 'POST' });
  if (started.status !== 201) throw new Error(`login start answered ${started.status}`);
  const { id } = await started.json();
  const cookie = started.headers.getSetCookie()[0].split(';')[0];
  const ws = new WebSocket(`${screenUrl.replace(/^http/, 'ws')}/login/events`, {
    headers: { Cookie: cookie, Origin: screenUrl },
  });
  let wake;
  const woke = new Promise((resolve) => (wake = resolve));
  ws.on('message', (frame) => {
    if (JSON.parse(frame).event === 'approved') wake(performance.now());
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { id, ws, woke };
}

async function measure(screenUrl, approveUrl) {
  const all = [];
  for (let i = 0; i < screens; i++) all.push(await screen(screenUrl));
  const latencies = [];
  for (const s of all) {
    const sent = performance.now();
    const r = await fetch(`${approveUrl}/api/login/approve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ user: 'u1', id: s.id }),
    });
    if (r.status !== 200) throw new Error(`approve answered ${r.status}: ${await r.text()}`);
    latencies.push((await s.woke) - sent);
  }
  for (const s of all) s.ws.terminate();
  return latencies;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99) };
};
const show = (s) => `n=${s.n} p50 ${s.p50.toFixed(2)} ms, p90 ${s.p90.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`;

const redis = await startRedis();
const memory = await startHerald({ config: `broker = "memory"\n${CONFIG}`, login: LOGIN, args: ['--threads', '1'] });
const a = memoryOnly ? memory : await startHerald({ config: redisConfig(redis, CONFIG), login: LOGIN, args: ['--threads', '1'] });
const b = memoryOnly ? memory : await startHerald({ config: redisConfig(redis, CONFIG), login: LOGIN, args: ['--threads', '1'] });
const results = { memory: [], redis: [] };
try {
  await measure(memory.url, memory.url); // warm-up, not counted
  if (!memoryOnly) await measure(b.url, a.url);
  for (let round = 1; round <= rounds; round++) {
    const one = await measure(memory.url, memory.url);
    results.memory.push(...one);
    console.log(`round ${round}: one node, memory store: ${show(summary(one))}`);
    if (memoryOnly) continue;
    const two = await measure(b.url, a.url);
    results.redis.push(...two);
    console.log(`round ${round}: screen on B, approval on A (Redis): ${show(summary(two))}`);
  }
  const m = summary(results.memory);
  console.log(`all rounds: one node, memory store: ${show(m)}`);
  if (!memoryOnly) {
    const r = summary(results.redis);
    console.log(`all rounds: two nodes on Redis: ${show(r)}`);
    console.log(`ratio (two nodes / one node): p50 ${(r.p50 / m.p50).toFixed(2)}x, p99 ${(r.p99 / m.p99).toFixed(2)}x`);
  }
} finally {
  await Promise.all([...new Set([memory, a, b])].map((h) => h.stop()));
  await redis.remove();
}
