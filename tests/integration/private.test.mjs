// Private namespaces: subscribing needs a JWT (HS256) signed with token_secret that names the channel,
// has not expired and, when it says so, was issued to this client. Minted here with node:crypto, as an
// application back-end would.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { startHerald, uniq, publish, poll, within } from './lib/herald.mjs';

const SECRET = 'a shared secret of the application';
let herald;
before(async () => {
  herald = await startHerald({
    config: `token_secret = ${JSON.stringify(SECRET)}\n[namespace.private]\nprivate = true`,
  });
});
after(() => herald.stop());

const b64 = (text) => Buffer.from(text).toString('base64url');
function jwt(claims, { secret = SECRET, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

async function status(path, headers = {}) {
  const res = await fetch(herald.url + path, { headers });
  const body = res.status === 204 ? null : await res.json();
  return { status: res.status, error: body?.error };
}

test('a private channel without a valid token is refused, with the reason', async () => {
  const ch = `private:${uniq()}`;
  assert.deepEqual(await status(`/sub/${ch}`), { status: 401, error: 'token_required' });
  const forged = jwt({ channels: [ch], exp: inAnHour() }, { secret: 'not the secret' });
  assert.deepEqual(await status(`/sub/${ch}?token=${forged}`), { status: 401, error: 'bad_token' });
  const none = `${b64('{"alg":"none"}')}.${b64(JSON.stringify({ channels: [ch], exp: inAnHour() }))}.`;
  assert.deepEqual(await status(`/sub/${ch}?token=${none}`), { status: 401, error: 'bad_token' });
  const expired = jwt({ channels: [ch], exp: Math.floor(Date.now() / 1000) - 1 });
  assert.deepEqual(await status(`/sub/${ch}?token=${expired}`), { status: 401, error: 'token_expired' });
  const other = jwt({ channels: ['private:someone-else'], exp: inAnHour() });
  assert.deepEqual(await status(`/sub/${ch}?token=${other}`), { status: 403, error: 'forbidden' });
  const elsewhere = jwt({ channels: [ch], exp: inAnHour(), client: '203.0.113.9' });
  assert.deepEqual(await status(`/sub/${ch}?token=${elsewhere}`), { status: 403, error: 'forbidden' });
  const noExpiry = jwt({ channels: [ch] });
  assert.deepEqual(await status(`/sub/${ch}?token=${noExpiry}`), { status: 401, error: 'bad_token' });
});

test('a valid token opens poll (query or bearer), and a wildcard covers the namespace', async () => {
  const ch = `private:${uniq()}`;
  await publish(herald.url, ch, 'secret news');
  const exact = jwt({ channels: [ch], exp: inAnHour(), client: '127.0.0.1' });
  const res = await poll(herald.url, ch, { last: 1, query: `token=${exact}` });
  assert.equal(res.status, 200);
  assert.equal(res.body.messages[0].data, 'secret news');
  const wildcard = jwt({ channels: ['private:*'], exp: inAnHour() });
  assert.equal((await status(`/sub/${ch}?last=1`, { Authorization: `Bearer ${wildcard}` })).status, 200);
  // Public channels are unaffected.
  assert.equal((await status(`/sub/${uniq()}`)).status, 204);
});

test('WebSocket: /sub refuses before the upgrade; /ws closes 1008 after an error frame', async () => {
  const ch = `private:${uniq()}`;
  const refused = await within(
    new Promise((resolve) => {
      const ws = new WebSocket(`${herald.wsUrl}/sub/${ch}`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    }),
    5000,
    'upgrade without a token',
  );
  assert.equal(refused, 401);

  const token = jwt({ channels: [ch], exp: inAnHour() });
  const ws = new WebSocket(`${herald.wsUrl}/ws`);
  const frames = [];
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: `${reason}` })));
  ws.on('message', (data) => frames.push(JSON.parse(data)));
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send(JSON.stringify({ op: 'subscribe', channel: ch, token, ref: 1 }));
  await within(
    new Promise((resolve) => {
      const check = setInterval(() => {
        if (frames.some((f) => f.op === 'subscribed')) resolve(clearInterval(check));
      }, 5);
    }),
    5000,
    'subscribed with a token',
  );
  ws.send(JSON.stringify({ op: 'subscribe', channel: `private:${uniq()}`, token, ref: 2 }));
  const { code, reason } = await within(closed, 5000, 'close after a token for another channel');
  assert.equal(code, 1008);
  assert.equal(reason, 'forbidden');
  assert.deepEqual(
    frames.filter((f) => f.op === 'error').map((f) => [f.code, f.ref]),
    [['forbidden', 2]],
  );
});
