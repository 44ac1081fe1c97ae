// A load balancer for the tests: one loopback port in front of several herald nodes that sends every
// HTTP request, and every WebSocket, to a node picked at random — no stickiness of any kind, not even per
// connection. The picks come from a seeded generator; the seed is printed, and BALANCER_SEED=<n> replays
// a run. The connection to a node is made from the client's own loopback address (127.0.0.2, …), so each
// node sees the client as if it had connected itself (per-address limits, "this machine") without any
// proxy to trust. A node that refuses the connection (it is dead) is skipped for another, as a balancer's
// health check would; a request already sent is never sent twice.
import http from 'node:http';
import net from 'node:net';

/** A small seeded generator (mulberry32): the same seed, the same picks. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Headers of one hop only (RFC 9110 §7.6.1): not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/**
 * Start a balancer in front of `nodes` ([{port}], e.g. what startHerald returns), on `port` (0: a free one). Returns
 * {url, wsUrl, port, seed, picks (requests sent to each node), stop()}.
 */
export async function startBalancer(
  nodes,
  { seed = Number(process.env.BALANCER_SEED ?? Math.floor(Math.random() * 2 ** 31)), name = 'balancer', port: listenPort = 0 } = {},
) {
  const random = seeded(seed);
  const picks = nodes.map(() => 0);
  // The nodes to try for one request, in a random order: the first is the pick, the rest are for when it is dead.
  const order = () => {
    const first = Math.floor(random() * nodes.length);
    return nodes.map((_, i) => (first + i) % nodes.length);
  };
  const upgraded = new Set();

  const forward = (req, res, body, tries) => {
    const index = tries.shift();
    picks[index] += 1;
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    const up = http.request({
      host: '127.0.0.1',
      port: nodes[index].port,
      method: req.method,
      path: req.url,
      headers,
      localAddress: req.socket.remoteAddress,
      agent: false,
    });
    up.on('response', (answer) => {
      const raw = [];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has(answer.rawHeaders[i].toLowerCase())) raw.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
      }
      res.writeHead(answer.statusCode, answer.statusMessage, raw);
      res.flushHeaders(); // an event stream's headers go out before its first event
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (err.code === 'ECONNREFUSED' && tries.length > 0 && !res.headersSent) return forward(req, res, body, tries);
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`${name}: ${err.code ?? err}`);
      else res.destroy();
    });
    res.on('close', () => up.destroy()); // the client left (a closed stream, an aborted long poll)
    up.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), order()));
  });

  const tunnel = (req, socket, head, tries) => {
    const index = tries.shift();
    picks[index] += 1;
    const up = net.connect({ host: '127.0.0.1', port: nodes[index].port, localAddress: req.socket.remoteAddress });
    let connected = false;
    up.on('connect', () => {
      connected = true;
      let lines = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${lines}\r\n`);
      if (head.length) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    up.on('error', (err) => {
      if (!connected && err.code === 'ECONNREFUSED' && tries.length > 0) return tunnel(req, socket, head, tries);
      socket.destroy();
    });
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
    socket.on('error', () => up.destroy());
  };
  server.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    tunnel(req, socket, head, order());
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  console.log(`# ${name}: 127.0.0.1:${port} -> ${nodes.map((n) => n.port).join(', ')}, random picks with BALANCER_SEED=${seed}`);
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    seed,
    picks,
    async stop() {
      console.log(`# ${name} on ${port} sent ${picks.join(' / ')} requests to its nodes (BALANCER_SEED=${seed})`);
      for (const socket of upgraded) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
