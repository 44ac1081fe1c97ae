// Two herald nodes on a 3-primary Redis Cluster (with 3 replicas) against two nodes on one Redis, in the
// same run: publish-to-delivery latency and deliveries per second, as ratios. It starts its own
// redis-servers (free loopback ports, no persistence) and herald processes; publishes go to node A,
// WebSocket subscribers listen on node B. Client and servers share the machine: compare the two with each
// other, not with other hosts.
//
//   node bench/quick/cluster.mjs [subscribers=200] [messages=300]
// (HERALD_BIN picks the binary; default build/herald)
import WebSocket from '../../tests/integration/node_modules/ws/index.js';
import { startHerald } from '../../tests/integration/lib/herald.mjs';
import { redisConfig, startRedis } from '../../tests/integration/lib/redis.mjs';
import { startRedisCluster } from '../../tests/integration/lib/redis_cluster.mjs';

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

async function pair(config) {
  const a = await startHerald({ config });
  const b = await startHerald({ config });
  await measure(a.url, b.url); // warm-up: not counted
  const result = await measure(a.url, b.url);
  await Promise.all([a.stop(), b.stop()]);
  return result;
}

const redis = await startRedis();
const single = await pair(redisConfig(redis));
await redis.remove();

const cluster = await startRedisCluster();
const sharded = await pair(`broker = "redis"\n[redis]\ncluster = ${JSON.stringify(cluster.seeds)}\n`);
await cluster.stop();

const fmt = (r) => ({ ...r, latency_ms: Object.fromEntries(Object.entries(r.latency_ms).map(([k, v]) => [k, round(v)])) });
console.log(JSON.stringify({
  subscribers,
  messages,
  two_nodes_one_redis: fmt(single),
  two_nodes_cluster: fmt(sharded),
  ratio_cluster_over_one_redis: {
    deliveries_per_second: round(sharded.deliveries_per_second / single.deliveries_per_second),
    latency_p50: round(sharded.latency_ms.p50 / single.latency_ms.p50),
    latency_p99: round(sharded.latency_ms.p99 / single.latency_ms.p99),
  },
}, null, 2));
process.exit(0);
