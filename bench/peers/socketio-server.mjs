// The Socket.IO server herald is compared with: clients connect over Socket.IO and emit `join` with a
// channel name; POST /pub/{channel} emits the JSON body as event `m` to that room; GET /pub/{channel}
// tells how many listen.
//   node bench/peers/socketio-server.mjs [port=0]   (prints "listening on http://127.0.0.1:PORT")
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 0);

const server = http.createServer((request, response) => {
  const match = /^\/pub\/([^?]+)/.exec(request.url);
  if (!match) return response.writeHead(404).end();
  const channel = match[1];
  const count = () => io.sockets.adapter.rooms.get(channel)?.size ?? 0;
  if (request.method === 'GET') {
    return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ subscribers: count() }));
  }
  if (request.method !== 'POST') return response.writeHead(405).end();
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let payload;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      return response.writeHead(400).end();
    }
    io.to(channel).emit('m', payload);
    response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ subscribers: count() }));
  });
});

const io = new Server(server, { perMessageDeflate: false, httpCompression: false, serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (channel) => {
    if (typeof channel === 'string') socket.join(channel);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
