// Ping/pong: herald pings an idle WebSocket at half of ws_idle_timeout_seconds and drops a socket that
// does not answer by the end of it; a client that answers pings stays connected.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { chanPath, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';

let h;
before(async () => {
  h = await startHerald({ config: '[limits]\nws_idle_timeout_seconds = 2\n' });
});
after(() => h?.stop());

function connect(channel, options) {
  const ws = new WebSocket(`${h.wsUrl}/sub/${chanPath(channel)}`, options);
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  const opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  return { ws, closed, opened };
}

it('drops a socket that does not answer pings, and keeps one that does', async () => {
  const channel = uniq('keepalive');
  const silent = connect(channel, { autoPong: false });
  const alive = connect(channel);
  let pings = 0;
  alive.ws.on('ping', () => pings++);
  await Promise.all([silent.opened, alive.opened]);
  await waitForSubscribers(h.url, channel, { websocket: 2 });

  // The dead socket is closed by the server within a few idle periods, not left counted.
  await within(silent.closed, 8000, 'the server to drop the silent socket');
  await waitForSubscribers(h.url, channel, { websocket: 1 });
  // By then the live one has been pinged and is still open.
  assert.ok(pings >= 1, 'the live socket was pinged');
  assert.equal(alive.ws.readyState, WebSocket.OPEN);
  alive.ws.close();
  await alive.closed;
});
