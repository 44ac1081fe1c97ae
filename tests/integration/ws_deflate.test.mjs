// permessage-deflate (RFC 7692) on herald's WebSockets: negotiated with server_no_context_takeover, each
// message compressed once for every socket that agreed, small messages left plain. Subscribers that
// compress (Node's `ws`, Chromium) and subscribers that do not must hear the very same messages.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { launchBrowser, openDevice } from './lib/browser.mjs';
import { publish, startHerald, uniq, waitForSubscribers, within } from './lib/herald.mjs';

const WAIT = 10000;
const THRESHOLD = 200;

// A /ws subscriber with `ws`, compressing or not; its frames, and the bytes its socket read.
async function subscriber(url, channel, deflate) {
  const ws = new WebSocket(`${url}/ws`, { perMessageDeflate: deflate ? { threshold: 0 } : false });
  const frames = [];
  const waiters = [];
  let extensions = '';
  ws.on('upgrade', (res) => (extensions = res.headers['sec-websocket-extensions'] ?? ''));
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()));
    for (const w of [...waiters]) if (frames.length >= w.n) w.resolve(frames);
  });
  await within(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), WAIT, 'open');
  ws.send(JSON.stringify({ op: 'subscribe', channel, ref: 1 }));
  const frame = (n) =>
    within(
      new Promise((resolve) => {
        if (frames.length >= n) return resolve(frames);
        waiters.push({ n, resolve });
      }),
      WAIT,
      `${n} frames`,
    );
  await frame(1);
  return { ws, frames, frame, extensions, bytesRead: () => ws._socket.bytesRead, close: () => ws.close() };
}

// Messages of both kinds: one below the threshold, and larger, repetitive ones that compress well.
const small = { text: 'hi' };
const large = (n) => ({ n, rows: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `row number ${i}`, ok: true })) });

describe('permessage-deflate on', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: `[limits]\nws_deflate = true\nws_deflate_threshold_bytes = ${THRESHOLD}\n` });
  });
  after(() => h?.stop());

  it('is negotiated with server_no_context_takeover, and both kinds of subscriber hear the same messages', async () => {
    const ch = uniq('deflate');
    const zipped = await subscriber(h.wsUrl, ch, true);
    const plain = await subscriber(h.wsUrl, ch, false);
    assert.match(zipped.extensions, /permessage-deflate/);
    assert.match(zipped.extensions, /server_no_context_takeover/);
    assert.equal(plain.extensions, '');
    await waitForSubscribers(h.url, ch, { websocket: 2 });
    const before = [zipped.bytesRead(), plain.bytesRead()];
    const bodies = [small, large(1), large(2), 'plain text', large(3)];
    for (const body of bodies) await publish(h.url, ch, body, { json: typeof body !== 'string' });
    await zipped.frame(1 + bodies.length);
    await plain.frame(1 + bodies.length);
    assert.deepEqual(zipped.frames.slice(1), plain.frames.slice(1));
    assert.deepEqual(zipped.frames.slice(1).map((f) => f.data), bodies);
    // The large messages travelled compressed to the one that asked, and only to it.
    const read = [zipped.bytesRead() - before[0], plain.bytesRead() - before[1]];
    assert.ok(read[0] < read[1] / 3, `compressed ${read[0]} bytes against ${read[1]}`);
    zipped.close();
    plain.close();
  });

  it('leaves a message below the threshold uncompressed', async () => {
    const ch = uniq('deflate-small');
    const zipped = await subscriber(h.wsUrl, ch, true);
    const plain = await subscriber(h.wsUrl, ch, false);
    await waitForSubscribers(h.url, ch, { websocket: 2 });
    const before = [zipped.bytesRead(), plain.bytesRead()];
    await publish(h.url, ch, small, { json: true });
    await zipped.frame(2);
    await plain.frame(2);
    assert.deepEqual(zipped.frames[1], plain.frames[1]);
    assert.equal(zipped.bytesRead() - before[0], plain.bytesRead() - before[1], 'the same bytes: the plain frame');
    zipped.close();
    plain.close();
  });

  it('closes a compressed client message that inflates past ws_max_message_bytes with 1009', async () => {
    const ws = new WebSocket(`${h.wsUrl}/ws`, { perMessageDeflate: { threshold: 0 } });
    ws.on('error', () => {});
    await within(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), WAIT, 'open');
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(200000)); // a few hundred bytes on the wire, 200 KB inflated (the limit: 128 KiB)
    assert.equal(await within(closed, WAIT, 'close'), 1009);
  });

  it('Chromium negotiates it on /ws and /sub and hears what an uncompressed subscriber hears', async () => {
    const browser = await launchBrowser();
    const dev = await openDevice(browser, h.url, { name: 'page' });
    try {
      const ch = uniq('deflate-page');
      const plain = await subscriber(h.wsUrl, ch, false);
      await dev.page.goto('/index.html');
      await dev.page.evaluate(async (channel) => {
        const t = (window.t = { multi: [], single: [] });
        const open = (ws) => new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
        const base = location.origin.replace('http', 'ws');
        t.ws = new WebSocket(`${base}/ws`);
        t.ws.onmessage = (e) => t.multi.push(JSON.parse(e.data));
        t.sub = new WebSocket(`${base}/sub/${encodeURIComponent(channel)}`);
        t.sub.onmessage = (e) => t.single.push(JSON.parse(e.data));
        await Promise.all([open(t.ws), open(t.sub)]);
        t.ws.send(JSON.stringify({ op: 'subscribe', channel, ref: 1 })); // Chromium compresses this one
        t.extensions = [t.ws.extensions, t.sub.extensions];
      }, ch);
      await waitForSubscribers(h.url, ch, { websocket: 3 });
      const extensions = await dev.page.evaluate(() => t.extensions);
      for (const e of extensions) assert.match(e, /permessage-deflate; server_no_context_takeover/);
      const bodies = [small, large(1), 'text', large(2)];
      for (const body of bodies) await publish(h.url, ch, body, { json: typeof body !== 'string' });
      await plain.frame(1 + bodies.length);
      await dev.page.waitForFunction((n) => t.multi.length >= n + 1 && t.single.length >= n, bodies.length, { timeout: WAIT });
      const heard = await dev.page.evaluate(() => ({ multi: t.multi, single: t.single }));
      assert.deepEqual(heard.multi.slice(1), plain.frames.slice(1));
      assert.deepEqual(
        heard.single,
        plain.frames.slice(1).map(({ op, ...envelope }) => envelope),
      );
      assert.deepEqual(dev.errors, []);
      plain.close();
    } finally {
      await dev.close();
      await browser.close();
    }
  });
});

describe('permessage-deflate off (the default)', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('is not negotiated, and a client that offered it hears plain frames', async () => {
    const ch = uniq('nodeflate');
    const offered = await subscriber(h.wsUrl, ch, true);
    assert.equal(offered.extensions, '');
    await publish(h.url, ch, large(1), { json: true });
    await offered.frame(2);
    assert.deepEqual(offered.frames[1].data, large(1));
    offered.close();
  });
});
