// The plain Node `ws` fan-out server herald is compared with: WebSocket subscribers on /sub/{channel},
// POST /pub/{channel} sends the body as-is to each of them, GET /pub/{channel} tells how many listen.
//   node bench/peers/ws-server.mjs [port=0]   (prints "listening on http://127.0.0.1:PORT")
import http from 'node:http';
import { WebSocketServer } from 'ws';

const channels = new Map(); // channel -> Set of sockets
const port = Number(process.argv[2] ?? 0);

const server = http.createServer((request, response) => {
  const match = /^\/pub\/([^?]+)/.exec(request.url);
  if (!match) return response.writeHead(404).end();
  const listeners = channels.get(match[1]);
  if (request.method === 'GET') {
    return response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ subscribers: listeners?.size ?? 0 }));
  }
  if (request.method !== 'POST') return response.writeHead(405).end();
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    for (const socket of listeners ?? []) socket.send(body);
    response
      .writeHead(201, { 'content-type': 'application/json' })
      .end(JSON.stringify({ subscribers: listeners?.size ?? 0 }));
  });
});

// WS_DEFLATE=1: permessage-deflate as ws does it, per connection (each socket compresses each message itself).
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: process.env.WS_DEFLATE === '1' ? { threshold: 256 } : false });
server.on('upgrade', (request, socket, head) => {
  const match = /^\/sub\/([^?]+)/.exec(request.url);
  if (!match) return socket.destroy();
  wss.handleUpgrade(request, socket, head, (ws) => {
    const channel = match[1];
    if (!channels.has(channel)) channels.set(channel, new Set());
    channels.get(channel).add(ws);
    ws.on('close', () => {
      const set = channels.get(channel);
      set?.delete(ws);
      if (set?.size === 0) channels.delete(channel);
    });
    ws.on('error', () => {});
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
