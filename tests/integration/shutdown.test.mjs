// SIGTERM / SIGINT: held long polls get 204 with their Herald-Cursor, SSE streams end, WebSockets
// close with 1001, and the process exits with code 0 within 5 s.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  openSSE,
  openWS,
  poll,
  publishMany,
  startHerald,
  uniq,
  waitForSubscribers,
  within,
} from './lib/herald.mjs';

describe('shutdown', () => {
  it('SIGTERM drains every transport and exits 0 within 5 s', async () => {
    const h = await startHerald({ config: '[limits]\nshutdown_grace_seconds = 3\n' });
    try {
      const ch = uniq('bye');
      const [cursor] = await publishMany(h.url, ch, ['before']);
      const lp = poll(h.url, ch, { since: cursor, wait: 30 });
      const sse = openSSE(`${h.url}/sub/${chanPath(ch)}`);
      const ws = openWS(`${h.wsUrl}/sub/${chanPath(ch)}`);
      const mux = openWS(`${h.wsUrl}/ws`);
      await Promise.all([sse.response, ws.opened, mux.opened]);
      await mux.request({ op: 'subscribe', channel: ch });
      await waitForSubscribers(h.url, ch, { longpoll: 1, sse: 1, websocket: 2 });

      const t0 = Date.now();
      h.proc.kill('SIGTERM');

      // Each outcome is awaited separately (with a guard) so a failure names what went wrong.
      const [lpRes, sseEnd, wsClose, muxClose, exit] = await Promise.all([
        within(lp, 6000, 'the held long poll being answered').catch((e) => ({ status: `error: ${e.message}` })),
        within(sse.ended, 6000, 'the SSE stream ending').catch((e) => ({ clean: `error: ${e.message}` })),
        within(ws.closed, 6000, 'the /sub WebSocket closing').catch((e) => ({ code: `error: ${e.message}` })),
        within(mux.closed, 6000, 'the /ws WebSocket closing').catch((e) => ({ code: `error: ${e.message}` })),
        within(h.exited, 6000, 'herald exiting').catch((e) => ({ code: `error: ${e.message}`, at: Infinity })),
      ]);
      assert.equal(lpRes.status, 204, `held long poll: ${lpRes.status} ${lpRes.text}`);
      assert.equal(lpRes.cursor, cursor, 'the 204 carries the cursor to resume from');
      assert.equal(sseEnd.clean, true, `SSE stream should end cleanly, got ${JSON.stringify(sseEnd)}`);
      assert.equal(wsClose.code, 1001, 'WebSocket /sub closed with 1001 going away');
      assert.equal(muxClose.code, 1001, 'WebSocket /ws closed with 1001 going away');
      assert.equal(exit.signal, null, 'exited by itself, not killed by a signal');
      assert.equal(exit.code, 0);
      assert.ok(exit.at - t0 < 5000, `exited ${exit.at - t0} ms after SIGTERM`);
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });

  it('SIGINT on an idle server exits 0 promptly and stops accepting', async () => {
    const h = await startHerald();
    try {
      const t0 = Date.now();
      h.proc.kill('SIGINT');
      const exit = await within(h.exited, 6000, 'herald exiting after SIGINT');
      // Sent right after the "listening on" line: the handler must already be in place by then.
      assert.equal(exit.code, 0, `exit ${JSON.stringify({ code: exit.code, signal: exit.signal })}`);
      assert.ok(exit.at - t0 < 5000, `exited ${exit.at - t0} ms after SIGINT`);
      await assert.rejects(fetch(`${h.url}/healthz`), 'nothing listens any more');
    } finally {
      await h.stop({ signal: 'SIGKILL' });
    }
  });
});
