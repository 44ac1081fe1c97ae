// A rough fan-out measurement until herald-bench exists: N WebSocket subscribers on one channel,
// M messages published one after another; reports deliveries/s and publish-to-delivery latency.
// The Node client shares the machine with the server, so read the figures as a floor, not a ceiling.
//
//   node bench/quick/fanout.mjs http://127.0.0.1:8080 [subscribers=1000] [messages=500]
// (run from tests/integration's node_modules: NODE_PATH is not needed, the import below is relative)
import WebSocket from '../../tests/integration/node_modules/ws/index.js';

const [url = 'http://127.0.0.1:8080', subscribersArg = '1000', messagesArg = '500'] = process.argv.slice(2);
const subscribers = Number(subscribersArg);
const messages = Number(messagesArg);
const channel = `bench-${Date.now()}`;
const wsUrl = url.replace(/^http/, 'ws');

const latencies = [];
let delivered = 0;
const sockets = await Promise.all(
  Array.from({ length: subscribers }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}/sub/${channel}`);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('message', (frame) => {
      const envelope = JSON.parse(frame);
      latencies.push(performance.timeOrigin + performance.now() - envelope.data.sent);
      delivered++;
    });
  })),
);

const started = performance.now();
for (let n = 0; n < messages; n++) {
  const response = await fetch(`${url}/pub/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ n, sent: performance.timeOrigin + performance.now() }),
  });
  if (response.status !== 201) throw new Error(`publish answered ${response.status}`);
}
const deadline = performance.now() + 60000;
while (delivered < subscribers * messages && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const seconds = (performance.now() - started) / 1000;

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
console.log(JSON.stringify({
  subscribers, messages, delivered, expected: subscribers * messages,
  deliveries_per_second: Math.round(delivered / seconds),
  latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1).toFixed(1) },
}));
sockets.forEach((ws) => ws.terminate());
