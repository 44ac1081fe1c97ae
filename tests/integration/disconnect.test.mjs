// A held long poll, SSE stream or WebSocket whose client goes away is released at once: it stops
// being counted in GET /channels/{ch} and publishing afterwards reaches nobody (and does not break
// the server).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  openEventSource,
  openSSE,
  openWS,
  poll,
  publish,
  request,
  startHerald,
  uniq,
  waitForSubscribers,
} from './lib/herald.mjs';

let h;
before(async () => {
  h = await startHerald();
});
after(() => h?.stop());

/** After the client left: the count drops to 0, a publish counts nobody, the server still works. */
async function assertReleased(ch, kind) {
  await waitForSubscribers(h.url, ch, { [kind]: 0 });
  const r = await publish(h.url, ch, 'after the client left');
  assert.equal(r.status, 201);
  assert.equal(r.json.subscribers, 0);
  assert.equal((await request(`${h.url}/healthz`)).status, 200);
}

describe('disconnects', () => {
  it('an aborted long poll is no longer counted', async () => {
    const ch = uniq('lp');
    const ac = new AbortController();
    const held = poll(h.url, ch, { wait: 30, signal: ac.signal });
    await waitForSubscribers(h.url, ch, { longpoll: 1 });
    ac.abort();
    await assert.rejects(held, { name: 'AbortError' });
    await assertReleased(ch, 'longpoll');
  });

  it('a closed SSE stream is no longer counted', async () => {
    const ch = uniq('sse');
    const s = openSSE(`${h.url}/sub/${chanPath(ch)}`);
    await s.response;
    await waitForSubscribers(h.url, ch, { sse: 1 });
    await s.close();
    await assertReleased(ch, 'sse');
  });

  it('a closed EventSource is no longer counted', async () => {
    const ch = uniq('es');
    const src = openEventSource(`${h.url}/sub/${chanPath(ch)}`);
    await src.opened;
    await waitForSubscribers(h.url, ch, { sse: 1 });
    src.close();
    await assertReleased(ch, 'sse');
  });

  it('a terminated WebSocket on /sub is no longer counted', async () => {
    const ch = uniq('ws');
    const w = openWS(`${h.wsUrl}/sub/${chanPath(ch)}`);
    await w.opened;
    await waitForSubscribers(h.url, ch, { websocket: 1 });
    await w.terminate(); // TCP close with no closing handshake
    await assertReleased(ch, 'websocket');
  });

  it('a terminated /ws socket releases all its channels', async () => {
    const a = uniq('mux-a');
    const b = uniq('mux-b');
    const w = openWS(`${h.wsUrl}/ws`);
    await w.opened;
    await w.request({ op: 'subscribe', channel: a });
    await w.request({ op: 'subscribe', channel: b });
    await waitForSubscribers(h.url, a, { websocket: 1 });
    await waitForSubscribers(h.url, b, { websocket: 1 });
    await w.terminate();
    await assertReleased(a, 'websocket');
    await assertReleased(b, 'websocket');
  });

  it('many clients leaving at once are all released', async () => {
    const ch = uniq('many');
    const acs = Array.from({ length: 20 }, () => new AbortController());
    const polls = acs.map((ac) => poll(h.url, ch, { wait: 30, signal: ac.signal }).catch(() => {}));
    const streams = Array.from({ length: 20 }, () => openSSE(`${h.url}/sub/${chanPath(ch)}`));
    const sockets = Array.from({ length: 20 }, () => openWS(`${h.wsUrl}/sub/${chanPath(ch)}`));
    await waitForSubscribers(h.url, ch, { longpoll: 20, sse: 20, websocket: 20 });
    acs.forEach((ac) => ac.abort());
    await Promise.all([...streams.map((s) => s.close()), ...sockets.map((w) => w.terminate()), ...polls]);
    await waitForSubscribers(h.url, ch, { longpoll: 0, sse: 0, websocket: 0 });
    assert.equal((await publish(h.url, ch, 'x')).json.subscribers, 0);
  });
});
