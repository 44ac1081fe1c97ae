// Two herald nodes on one Redis against one node with the memory broker: publish-to-delivery latency
// and deliveries per second, as a ratio. A rough figure until herald-bench exists (it does not yet).
// It starts its own redis-server (free loopback port, no persistence) and herald processes.
// Client and servers share the machine, so compare the two runs with each other, not with other hosts.
//
//   node bench/quick/nodes.mjs [subscribers=200] [messages=300]
// (HERALD_BIN picks the binary; default build/herald)
import WebSocket from '../../tests/integration/node_modules/ws/index.js';
import { startHerald } from '../../tests/integration/lib/herald.mjs';
import { redisConfig, startRedis } from '../../tests/integration/lib/redis.mjs';

const [subscribersArg = '200', messagesArg = '300'] = process.argv.slice(2);
const subscribers = Number(subscribersArg);
const messages = Number(messagesArg);

// N WebSocket subscribers on `subUrl`, M messages published one after another on `pubUrl`.
async function measure(pubUrl, subUrl) {
  const channel = `bench-${Date.now()}`;
  const latencies = [];
  let delivered = 0;
  const sockets = await Promise.all(
    Array.from({ length: subscribers }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${subUrl.replace(/^http/, 'ws')}/sub/${channel}`);
      ws.on('open', () => resolve(ws));
      ws.on('error', reject);
      ws.on('message', (frame) => {
        latencies.push(performance.timeOrigin + performance.now() - JSON.parse(frame).data.sent);
        delivered++;
      });
    })),
  );
  // Every subscriber is in the hub once its subscription shows in the channel's counts.
  for (;;) {
    const info = await fetch(`${subUrl}/channels/${channel}`).then((r) => r.json());
    if (info.subscribers.websocket === subscribers) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const started = performance.now();
  for (let n = 0; n < messages; n++) {
    const response = await fetch(`${pubUrl}/pub/${channel}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n, sent: performance.timeOrigin + performance.now() }),
    });
    if (response.status !== 201) throw new Error(`publish answered ${response.status}`);
  }
  const deadline = performance.now() + 60000;
  while (delivered < subscribers * messages && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  sockets.forEach((ws) => ws.terminate());
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return {
    delivered,
    expected: subscribers * messages,
    deliveries_per_second: Math.round(delivered / seconds),
    latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99) },
  };
}

const round = (x) => Math.round(x * 100) / 100;
const memory = await startHerald();
await measure(memory.url, memory.url); // warm-up (the client's JIT, the server's allocations): not counted
const one = await measure(memory.url, memory.url);
await memory.stop();

const redis = await startRedis();
const a = await startHerald({ config: redisConfig(redis) });
const b = await startHerald({ config: redisConfig(redis) });
const two = await measure(a.url, b.url);
await b.stop();
// The Redis hop alone: publish and subscribe on one node on Redis.
const same = await measure(a.url, a.url);
await a.stop();
await redis.remove();

const fmt = (r) => ({ ...r, latency_ms: Object.fromEntries(Object.entries(r.latency_ms).map(([k, v]) => [k, round(v)])) });
console.log(JSON.stringify({
  subscribers,
  messages,
  one_node_memory: fmt(one),
  two_nodes_redis: fmt(two),
  one_node_redis: fmt(same),
  ratio_two_over_one: {
    deliveries_per_second: round(two.deliveries_per_second / one.deliveries_per_second),
    latency_p50: round(two.latency_ms.p50 / one.latency_ms.p50),
    latency_p99: round(two.latency_ms.p99 / one.latency_ms.p99),
  },
  ratio_one_node_redis_over_memory: {
    deliveries_per_second: round(same.deliveries_per_second / one.deliveries_per_second),
    latency_p50: round(same.latency_ms.p50 / one.latency_ms.p50),
    latency_p99: round(same.latency_ms.p99 / one.latency_ms.p99),
  },
}, null, 2));
