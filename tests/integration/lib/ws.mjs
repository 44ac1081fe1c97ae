// WebSocket clients (the `ws` package): /sub and the /ws protocol.

import WebSocket from 'ws';
import { track } from './server.mjs';
import { Collector } from './collector.mjs';

/**
 * Open a WebSocket. Frames are parsed as JSON (a frame that is not JSON is kept as {_raw}).
 * Returns {ws, frames: Collector, opened: Promise (rejects with .status/.body on a non-101 answer),
 *  closed: Promise<{code, reason}>, send(obj), request(obj), close(), terminate()}.
 */
export function openWS(url, { headers = {} } = {}) {
  const ws = new WebSocket(url, { headers });
  const frames = new Collector(`ws ${url}`);
  const client = { ws, frames };
  ws.on('error', () => {}); // failures surface through `opened` / `closed`
  client.opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        req.destroy();
        reject(Object.assign(new Error(`WebSocket upgrade answered ${res.statusCode}: ${text}`), { status: res.statusCode, body: json ?? text }));
      });
    });
  });
  client.opened.catch(() => {});
  const untrack = track(url, () => ws.terminate());
  client.closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => {
      untrack();
      frames.end(`closed with code ${code}`);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = { _raw: text };
    }
    if (isBinary) frame = { _binary: true, ...frame };
    frames.push(frame);
  });
  client.send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  let refs = 0;
  /** Send a /ws op with a fresh `ref` and resolve with the reply carrying that ref. */
  client.request = (obj, opts) => {
    const ref = obj.ref ?? `r${++refs}`;
    const from = frames.items.length;
    client.send({ ...obj, ref });
    return frames.waitForItem((f) => f.ref === ref, { from, what: `reply to ${JSON.stringify(obj)}`, ...opts });
  };
  /** The next frame (received after this call) satisfying pred. */
  client.next = (pred = () => true, opts) => frames.waitForItem(pred, { from: frames.items.length, ...opts });
  client.close = (code = 1000) => {
    ws.close(code);
    return client.closed;
  };
  client.terminate = () => {
    ws.terminate();
    return client.closed;
  };
  return client;
}

/** Only the `op: "message"` frames of a /ws client for one channel. */
export function wsMessages(frames, channel) {
  return frames.filter((f) => f.op === 'message' && f.channel === channel);
}
